//! What the example's integration tests share.

pub mod stdio_server;

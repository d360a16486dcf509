//! An example MCP server built with secure-tool: a small notes service on an embedded
//! SQLite store (the default) or on PostgreSQL (`DATABASE_URL`), served over stdio.

pub mod cedar;
pub mod cli;
pub mod connections;
mod http;
pub mod logging;
pub mod operations;
pub mod policy;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod updates;

//! Integration tests of secure-tool live in this package's test targets; this library is
//! what they share (and what the notes example's own tests borrow: its PostgreSQL
//! clusters).

pub mod support;

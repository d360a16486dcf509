//! The router's marker, written by hand on a method no router registered, does not
//! silence the attribute: the tool would be registered nowhere, and a reader would see
//! `#[secure_tool]` on an unguarded method.

#![allow(dead_code)]

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

impl Server {
    /// Looks guarded.
    #[secure_tool(__registered_by_secure_tool_router)]
    async fn forged(&self) -> Result<String, ToolError> {
        Ok(String::new())
    }
}

fn main() {}

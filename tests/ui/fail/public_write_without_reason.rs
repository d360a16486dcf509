//! A `mode = write` tool open to anyone must say why: `authz = public` (named, called, by
//! its full path, or as a part of an `any_of`) does not compile on a write tool; the
//! reason goes in `public_because("...")`, and is not blank.

use secure_tool::prelude::*;

#[derive(Clone)]
struct Server;

#[secure_tool_router]
impl Server {
    /// Clears every note.
    #[secure_tool(authz = public, mode = write)]
    async fn clear(&self) -> Result<(), ToolError> {
        Ok(())
    }

    /// Called.
    #[secure_tool(authz = public(), mode = write)]
    async fn called(&self) -> Result<(), ToolError> {
        Ok(())
    }

    /// By its full path.
    #[secure_tool(authz = secure_tool::authz::public, mode = write)]
    async fn by_path(&self) -> Result<(), ToolError> {
        Ok(())
    }

    /// A part of an `any_of`: as open as `public` alone.
    #[secure_tool(authz = any_of([scopes("notes:write"), public()]), mode = write)]
    async fn in_any_of(&self) -> Result<(), ToolError> {
        Ok(())
    }

    /// The reason, as an argument of `public`.
    #[secure_tool(authz = public(reason = "a guest book"), mode = write)]
    async fn reason_as_argument(&self) -> Result<(), ToolError> {
        Ok(())
    }

    /// A blank reason.
    #[secure_tool(authz = public_because(" "), mode = write)]
    async fn blank_reason(&self) -> Result<(), ToolError> {
        Ok(())
    }

    /// An invisible reason.
    #[secure_tool(authz = public_because("\u{200B}"), mode = write)]
    async fn invisible_reason(&self) -> Result<(), ToolError> {
        Ok(())
    }

    /// A read tool's `public` stays as it is.
    #[secure_tool(authz = public, mode = read)]
    async fn count(&self) -> Result<u64, ToolError> {
        Ok(0)
    }
}

impl secure_tool::rmcp::ServerHandler for Server {}

fn main() {}

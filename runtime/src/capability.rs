//! Capabilities in types: what a tool may do is what it is given.
//!
//! A [`WriteAccess`] is the proof that the code holding it runs inside a `mode = write`
//! tool. A store that asks for `&WriteAccess` in its write methods cannot be written to
//! from a `mode = read` tool: such a tool has no way to obtain one, and asking for it is a
//! compile error.
//!
//! A handler asks for it as its last parameter, after `&self` and the optional arguments:
//!
//! ```
//! use secure_tool::capability::WriteAccess;
//! use secure_tool::prelude::*;
//!
//! #[derive(Clone, Default)]
//! struct Counter {
//!     value: std::sync::Arc<std::sync::atomic::AtomicU64>,
//! }
//!
//! impl Counter {
//!     /// Only writers can bump it: the `&WriteAccess` is the proof.
//!     fn bump(&self, _proof: &WriteAccess) -> u64 {
//!         self.value.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
//!     }
//! }
//!
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Value {
//!     value: u64,
//! }
//!
//! #[secure_tool_router]
//! impl Counter {
//!     /// Adds one to the counter.
//!     #[secure_tool(authz = scopes("counter:write"), mode = write)]
//!     async fn bump_counter(&self, access: WriteAccess) -> Result<Value, ToolError> {
//!         Ok(Value { value: self.bump(&access) })
//!     }
//! }
//! impl secure_tool::rmcp::ServerHandler for Counter {}
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let server = SecureServer::new(Counter::default());
//! let writer = Principal::new("ada").with_scopes(["counter:write"]);
//! let result = server.call("bump_counter", None, writer).await.unwrap();
//! assert_eq!(result.structured_content.unwrap()["value"], 1);
//! # }
//! ```
//!
//! The same handler with `mode = read` does not compile:
//!
//! ```compile_fail
//! # use secure_tool::capability::WriteAccess;
//! # use secure_tool::prelude::*;
//! # #[derive(Clone)] struct Counter;
//! # #[derive(serde::Serialize, schemars::JsonSchema)] struct Value { value: u64 }
//! #[secure_tool_router]
//! impl Counter {
//!     /// Adds one to the counter.
//!     #[secure_tool(authz = scopes("counter:read"), mode = read)]
//!     async fn bump_counter(&self, access: WriteAccess) -> Result<Value, ToolError> {
//!         Ok(Value { value: 1 })
//!     }
//! }
//! # impl secure_tool::rmcp::ServerHandler for Counter {}
//! # fn main() {}
//! ```
//!
//! ```text
//! error: a `mode = read` tool cannot take `WriteAccess`: declare `mode = write` ...
//! ```
//!
//! # How it is enforced
//!
//! `#[secure_tool]` recognises the parameter by the last segment of its type's path
//! (`WriteAccess`, `capability::WriteAccess`, `secure_tool::capability::WriteAccess`): it
//! refuses it in a `mode = read` tool with an error at the parameter, and in a
//! `mode = write` tool passes it a value when, and only when, the call was authorized and
//! the write gate let it through. The types are the real enforcement: `WriteAccess` has a
//! private field and no constructor (it is not `Clone`, `Copy`, `Default` or
//! `Deserialize`); the only code that creates one is generated for `mode = write` tools,
//! through a trait of the hidden `__private` module, which is not API.
//! A type alias is not recognised, so it is taken for the arguments, and fails there
//! (`WriteAccess` is not `Deserialize`): nothing can forge one.
//!
//! What it does not do: a capability restricts what a tool can do with what it is given,
//! not the process's ambient authority. A read tool that opens the database file on its
//! own can write to it; keep the constructors of writable handles (the store's `open`)
//! out of the tools' reach, in the server's setup code.

use std::fmt;

/// The proof that the code holding it runs inside a `mode = write` tool: ask for it as a
/// handler's last parameter, and require `&WriteAccess` in the write methods of your store.
///
/// Zero-sized, with no public constructor; see the [module docs](self).
///
/// ```
/// use secure_tool::capability::WriteAccess;
///
/// /// A store whose writes need the proof.
/// struct Store;
/// impl Store {
///     fn writer(&self, _access: &WriteAccess) -> Writer<'_> {
///         Writer { _store: self }
///     }
/// }
/// struct Writer<'a> {
///     _store: &'a Store,
/// }
///
/// assert_eq!(std::mem::size_of::<WriteAccess>(), 0);
/// ```
///
/// It cannot be made outside a write tool:
///
/// ```compile_fail
/// let forged = secure_tool::capability::WriteAccess { _private: () };
/// ```
pub struct WriteAccess {
    _private: (),
}

impl fmt::Debug for WriteAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteAccess")
    }
}

/// Not public API: the mode of the tool that asks for a capability.
#[doc(hidden)]
#[derive(Debug)]
pub enum ReadMode {}

/// Not public API: the mode of the tool that asks for a capability.
#[doc(hidden)]
#[derive(Debug)]
pub enum WriteMode {}

/// Not public API: grants a capability to a tool of mode `M`. Called only by the code
/// `#[secure_tool]` generates, after the call was authorized and let through the write
/// gate.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "a `mode = read` tool cannot take `{Self}`",
    label = "only a `mode = write` tool can be given `WriteAccess`",
    note = "declare `mode = write` if this tool changes state: it is then also behind the read-only degradation gate and advertised as destructive",
    note = "a read tool reads through the store's read methods, which need no capability"
)]
pub trait Grant<M>: Sized {
    /// The capability, for one call.
    fn grant() -> Self;
}

impl Grant<WriteMode> for WriteAccess {
    #[inline]
    fn grant() -> Self {
        WriteAccess { _private: () }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_write_mode_grants_write_access() {
        let access = <WriteAccess as Grant<WriteMode>>::grant();
        assert_eq!(format!("{access:?}"), "WriteAccess");
        assert_eq!(std::mem::size_of_val(&access), 0);
    }
}

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
//!     fn bump(&self, _proof: &WriteAccess<'_>) -> u64 {
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
//!     async fn bump_counter(&self, access: WriteAccess<'_>) -> Result<Value, ToolError> {
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
//!     async fn bump_counter(&self, access: WriteAccess<'_>) -> Result<Value, ToolError> {
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
//! refuses it in a `mode = read` tool with an error at the parameter. The types are the
//! real enforcement:
//!
//! - **It cannot be minted.** `WriteAccess` has a private field and its only constructor
//!   is private to the runtime (it is not `Clone`, `Copy`, `Default` or `Deserialize`).
//!   The runtime makes one inside the guarded call of a write route, after authorization
//!   and the write gate let the call through, and hands it to the handler; a read route
//!   never makes one. Neither the generated code nor any public item, hidden or not, can
//!   create it.
//! - **It cannot be kept.** `WriteAccess<'call>` borrows the call: it cannot be stored in
//!   a `static`, in the server's state (which is `'static`), sent down a `'static`
//!   channel or moved into a spawned task. A handler can lend it (`&access`) to what it
//!   calls during the call, and that is all.
//!
//! A type alias is not recognised, so it is taken for the arguments, and fails there
//! (`WriteAccess` is not `Deserialize`).
//!
//! What it does not do: a capability restricts what a tool can do with what it is given,
//! not the process's ambient authority. A read tool that opens the database file on its
//! own can write to it; keep the constructors of writable handles (the store's `open`)
//! out of the tools' reach, in the server's setup code.

use std::fmt;
use std::marker::PhantomData;

/// The proof that the code holding it runs inside a `mode = write` tool's call: ask for it
/// as a handler's last parameter, and require `&WriteAccess` in the write methods of your
/// store.
///
/// Zero-sized, with no public constructor, and bound to the call by its lifetime; see the
/// [module docs](self).
///
/// A handle that writes must borrow the proof, not only the store: `&'a WriteAccess` ties
/// the handle to the call, so it cannot outlive it (a store reachable as `&'static`
/// would otherwise give a `Writer<'static>` that a handler could move into a spawned
/// task, to write after its call, its deadline or a degradation to read-only).
///
/// ```
/// use secure_tool::capability::WriteAccess;
///
/// /// A store whose writes need the proof.
/// struct Store;
/// impl Store {
///     fn writer<'a>(&'a self, _access: &'a WriteAccess<'_>) -> Writer<'a> {
///         Writer { _store: self }
///     }
/// }
/// struct Writer<'a> {
///     _store: &'a Store,
/// }
///
/// assert_eq!(std::mem::size_of::<WriteAccess<'static>>(), 0);
/// ```
///
/// With the proof borrowed, the handle does not outlive the call, even from a store that
/// lives for ever:
///
/// ```compile_fail
/// use secure_tool::capability::WriteAccess;
/// struct Store;
/// impl Store {
///     fn writer<'a>(&'a self, _access: &'a WriteAccess<'_>) -> Writer<'a> {
///         Writer { _store: self }
///     }
/// }
/// struct Writer<'a> {
///     _store: &'a Store,
/// }
/// static STORE: Store = Store;
/// fn escape(access: &WriteAccess<'_>) -> Writer<'static> {
///     STORE.writer(access)
/// }
/// ```
///
/// It cannot be made outside a write tool's call:
///
/// ```compile_fail
/// let forged = secure_tool::capability::WriteAccess { _call: std::marker::PhantomData };
/// ```
///
/// Nor kept past it:
///
/// ```compile_fail
/// use secure_tool::capability::WriteAccess;
/// static KEPT: std::sync::Mutex<Option<WriteAccess<'static>>> = std::sync::Mutex::new(None);
/// fn keep(access: WriteAccess<'_>) {
///     *KEPT.lock().unwrap() = Some(access);
/// }
/// ```
pub struct WriteAccess<'call> {
    /// Invariant in `'call`: the proof neither shrinks nor grows into another call's.
    _call: PhantomData<fn(&'call ()) -> &'call ()>,
}

impl WriteAccess<'_> {
    /// The capability of one write call. Only the guarded call of a write route makes one,
    /// after authorization and the write gate.
    #[inline]
    pub(crate) fn for_call() -> Self {
        WriteAccess { _call: PhantomData }
    }
}

impl fmt::Debug for WriteAccess<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteAccess")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capability_is_a_zero_sized_proof() {
        let access = WriteAccess::for_call();
        assert_eq!(format!("{access:?}"), "WriteAccess");
        assert_eq!(std::mem::size_of_val(&access), 0);
    }
}

//! Every piece of the user's code that the guarded call runs is inside the same catch as
//! the handler: a custom `Deserialize` of the arguments, the result's `Serialize`, and the
//! error's `Display` and `source()`. The caller gets the sanitized internal error with an
//! incident id, the audit event is complete, and the server goes on.

use std::fmt;

use serde_json::json;

use super::{call, category, connect_with, reader};
use crate::prelude::*;

#[derive(Clone, Default)]
struct Fragile;

/// Arguments whose `Deserialize` panics.
#[derive(schemars::JsonSchema)]
struct Explosive {
    #[allow(dead_code)]
    id: u64,
}

impl<'de> serde::Deserialize<'de> for Explosive {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("deserializer bug at /src/secret/args.rs")
    }
}

/// A result whose `Serialize` panics.
#[derive(schemars::JsonSchema)]
struct Unprintable {
    #[allow(dead_code)]
    id: u64,
}

impl serde::Serialize for Unprintable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("serializer bug at /src/secret/out.rs")
    }
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Out {
    id: u64,
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct LoudError;
impl fmt::Display for LoudError {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("display bug at /src/secret/error.rs")
    }
}
impl std::error::Error for LoudError {}

/// An error whose `source()` panics.
#[derive(Debug)]
struct DeepError;
impl fmt::Display for DeepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deep error")
    }
}
impl std::error::Error for DeepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        panic!("source bug at /src/secret/chain.rs")
    }
}

#[secure_tool_router]
impl Fragile {
    /// Its arguments' deserializer panics.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn bad_arguments(&self, args: Explosive) -> Result<Out, ToolError> {
        let _ = args;
        Ok(Out { id: 1 })
    }

    /// Its result's serializer panics.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn bad_result(&self) -> Result<Unprintable, ToolError> {
        Ok(Unprintable { id: 1 })
    }

    /// Its error's `Display` panics.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn bad_display(&self) -> Result<Out, LoudError> {
        Err(LoudError)
    }

    /// Its error's `source()` panics.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn bad_source(&self) -> Result<Out, DeepError> {
        Err(DeepError)
    }

    /// Works.
    #[secure_tool(authz = scopes("notes:read"), mode = read)]
    async fn fine(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 7 })
    }

    /// Holds a value whose `Drop` panics until its deadline drops it.
    #[secure_tool(authz = scopes("notes:read"), mode = read, timeout = "50ms")]
    async fn held(&self) -> Result<Out, ToolError> {
        let _bomb = Bomb;
        std::future::pending::<()>().await;
        Ok(Out { id: 1 })
    }

    /// Its policy's error panics when displayed.
    #[secure_tool(authz = crate::authz::custom(LoudPolicy), mode = read)]
    async fn loud_policy(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }

    /// Its policy never answers, holding a value whose `Drop` panics.
    #[secure_tool(authz = crate::authz::custom(HungPolicy), mode = read)]
    async fn hung_policy(&self) -> Result<Out, ToolError> {
        Ok(Out { id: 1 })
    }
}

/// A value whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop bug at /src/secret/drop.rs");
        }
    }
}

/// A policy whose error panics when displayed.
struct LoudPolicy;

impl crate::authz::Authorize for LoudPolicy {
    fn authorize<'a>(
        &'a self,
        _: crate::authz::AccessRequest<'a>,
    ) -> crate::authz::PolicyFuture<'a> {
        Box::pin(async { Err(Box::new(LoudError) as Box<dyn std::error::Error + Send + Sync>) })
    }
}

/// A policy that never answers, holding a [`Bomb`].
struct HungPolicy;

impl crate::authz::Authorize for HungPolicy {
    fn authorize<'a>(
        &'a self,
        _: crate::authz::AccessRequest<'a>,
    ) -> crate::authz::PolicyFuture<'a> {
        Box::pin(async {
            let _bomb = Bomb;
            std::future::pending::<()>().await;
            Ok(crate::authz::Decision::Allow)
        })
    }
}

impl rmcp::ServerHandler for Fragile {}

#[tokio::test]
async fn a_panic_in_the_users_serde_or_error_code_is_an_internal_error_and_the_server_goes_on() {
    let log = crate::test_log::Log::default();
    let _default = crate::test_log::set_default(log.subscriber());
    let client = connect_with(Fragile, Some(reader())).await;
    for tool in ["bad_arguments", "bad_result", "bad_display", "bad_source"] {
        let arguments = if tool == "bad_arguments" {
            json!({"id": 1})
        } else {
            json!({})
        };
        let result = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            call(&client, tool, arguments),
        )
        .await
        .unwrap_or_else(|_| panic!("{tool}: no answer"));
        let wire = serde_json::to_string(&result).unwrap();
        assert_eq!(
            category(&result).as_deref(),
            Some("internal"),
            "{tool}: {wire}"
        );
        assert!(!wire.contains("/src/secret"), "{tool} leaked: {wire}");
        let incident = crate::sanitize::error_facts(&result).unwrap()["incident_id"]
            .as_str()
            .unwrap()
            .to_owned();
        // One complete audit event, under the incident id the caller got.
        let text = log.text();
        let event = text
            .lines()
            .find(|line| line.contains("secure_tool::audit") && line.contains(&incident))
            .unwrap_or_else(|| panic!("{tool}: no audit event for incident {incident}:\n{text}"));
        assert!(
            event.contains(&format!("tool=\"{tool}\"")) && event.contains("latency_us="),
            "{tool}: {event}"
        );
        // The session goes on.
        let fine = call(&client, "fine", json!({})).await;
        assert_eq!(fine.structured_content.unwrap()["id"], 7, "after {tool}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_user_code_the_guard_drops_or_reads_is_caught_and_the_call_answered() {
    let client = connect_with(Fragile, Some(reader())).await;
    for (tool, expected) in [
        ("held", "timeout"),
        ("loud_policy", "denied"),
        ("hung_policy", "denied"),
    ] {
        let result = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            call(&client, tool, json!({})),
        )
        .await
        .unwrap_or_else(|_| panic!("{tool}: no answer"));
        let wire = serde_json::to_string(&result).unwrap();
        assert_eq!(
            category(&result).as_deref(),
            Some(expected),
            "{tool}: {wire}"
        );
        assert!(!wire.contains("/src/secret"), "{tool} leaked: {wire}");
        let fine = call(&client, "fine", json!({})).await;
        assert_eq!(fine.structured_content.unwrap()["id"], 7, "after {tool}");
    }
}

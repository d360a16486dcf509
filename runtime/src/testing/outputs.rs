//! [`check_outputs`]: every tool's structured output checked against its published output
//! schema, in a test suite, from sample calls.

use std::fmt;

use serde_json::Value;

use crate::authz::Principal;
use crate::server::SecureServer;

/// What [`check_outputs`] found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct OutputReport {
    conforming: Vec<String>,
    violations: Vec<(String, String)>,
    unchecked: Vec<String>,
}

impl OutputReport {
    /// The tools with at least one success whose output conformed, sorted.
    pub fn conforming(&self) -> &[String] {
        &self.conforming
    }

    /// Each output that did not conform: the tool and what was wrong.
    pub fn violations(&self) -> &[(String, String)] {
        &self.violations
    }

    /// The tools with an output schema that no sample checked (none given, or every one
    /// answered an error), sorted.
    pub fn unchecked(&self) -> &[String] {
        &self.unchecked
    }

    /// Panics unless every output conformed and every tool with an output schema was
    /// checked by at least one successful sample.
    ///
    /// # Panics
    ///
    /// On a violation, or on a tool left unchecked.
    pub fn assert_conforming(&self) {
        assert!(
            self.violations.is_empty() && self.unchecked.is_empty(),
            "outputs that do not match their schema:\n{self}"
        );
    }
}

impl fmt::Display for OutputReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (tool, violation) in &self.violations {
            writeln!(f, "- {tool}: {violation}")?;
        }
        for tool in &self.unchecked {
            writeln!(f, "- {tool}: not checked (no successful sample call)")?;
        }
        write!(
            f,
            "{} tools conform, {} outputs do not, {} tools unchecked",
            self.conforming.len(),
            self.violations.len(),
            self.unchecked.len()
        )
    }
}

/// Calls `server`'s tools as `principal` with each sample (`(tool, arguments)`), and checks
/// every success's structured content against the tool's published output schema, as MCP
/// requires and clients enforce. Every tool with an output schema must be checked by at
/// least one successful sample; error results carry no structured content and check
/// nothing. The server's own [`check_outputs`](crate::SecureServerBuilder::check_outputs)
/// option runs the same check on every call at run time. Tools declared with
/// `confirm = ...` are called as confirmed ([`SecureServer::call_confirmed`]): the check
/// stands for the user.
///
/// One line in a test suite, with samples that make each tool succeed:
///
/// ```
/// use secure_tool::prelude::*;
///
/// #[derive(Clone)]
/// struct Notes;
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct NoteId { id: u32 }
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Note { id: u32, title: String }
///
/// #[secure_tool_router]
/// impl Notes {
///     /// Reads a note.
///     #[secure_tool(authz = scopes("notes:read"), mode = read)]
///     async fn get_note(&self, args: NoteId) -> Result<Note, ToolError> {
///         Ok(Note { id: args.id, title: "groceries".into() })
///     }
/// }
/// impl secure_tool::rmcp::ServerHandler for Notes {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let reader = Principal::new("ada").with_scopes(["notes:read"]);
/// let samples = [("get_note", serde_json::json!({"id": 7}))];
/// let report =
///     secure_tool::testing::check_outputs(&SecureServer::new(Notes), &reader, samples).await;
/// report.assert_conforming();
/// assert_eq!(report.conforming(), ["get_note"]);
/// # }
/// ```
pub async fn check_outputs<'a, S: Send + Sync + 'static>(
    server: &SecureServer<S>,
    principal: &Principal,
    samples: impl IntoIterator<Item = (&'a str, Value)>,
) -> OutputReport {
    let mut report = OutputReport::default();
    for (tool, arguments) in samples {
        let Some(route) = server.tools().route(tool) else {
            report
                .violations
                .push((tool.to_owned(), "no such tool".to_owned()));
            continue;
        };
        let arguments = match arguments {
            Value::Object(object) => Some(object),
            Value::Null => None,
            other => {
                report.violations.push((
                    tool.to_owned(),
                    format!("the sample's arguments are not an object: {other}"),
                ));
                continue;
            }
        };
        // The check stands for the user: a tool that asks for confirmation runs as if
        // confirmed, so that its output is checked too.
        let result = match server
            .call_confirmed(tool, arguments, principal.clone())
            .await
        {
            Ok(result) => result,
            Err(error) => {
                report.violations.push((tool.to_owned(), error.to_string()));
                continue;
            }
        };
        if result.is_error == Some(true) || route.tool().output_schema.is_none() {
            continue;
        }
        match route.check_output(&result) {
            Ok(()) => report.conforming.push(tool.to_owned()),
            Err(violation) => report
                .violations
                .push((tool.to_owned(), violation.to_string())),
        }
    }
    report.conforming.sort();
    report.conforming.dedup();
    report.unchecked = server
        .tools()
        .routes()
        .into_iter()
        .filter(|route| route.tool().output_schema.is_some())
        .map(|route| route.spec().name().to_owned())
        .filter(|name| !report.conforming.contains(name))
        .filter(|name| !report.violations.iter().any(|(tool, _)| tool == name))
        .collect();
    report.unchecked.sort();
    report
}

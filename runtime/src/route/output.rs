//! The published output schema, checked: MCP says a tool's structured content MUST
//! conform to its output schema, and clients reject a result that does not (the official
//! SDKs answer `-32602`). The check is compiled once per route, when first used: by a
//! server built with [`check_outputs`](crate::SecureServerBuilder::check_outputs), and by
//! the testing kit's `check_outputs`.

use std::sync::{Arc, OnceLock};

use jsonschema::{Draft, Validator};
use rmcp::model::JsonObject;
use serde_json::Value;

/// How many violations one check reports at most.
const MAX_VIOLATIONS: usize = 5;

/// A tool's output schema, compiled on first use.
#[derive(Clone, Default)]
pub(crate) struct OutputSchema {
    validator: Arc<OnceLock<Result<Validator, String>>>,
}

impl std::fmt::Debug for OutputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputSchema").finish_non_exhaustive()
    }
}

impl OutputSchema {
    /// Checks `value` against `schema` (the tool's published output schema): `Ok` when it
    /// conforms, else what does not, for the log (each violation names the place in the
    /// output and the constraint; the output is the server's own data).
    pub(crate) fn check(&self, schema: &JsonObject, value: &Value) -> Result<(), OutputViolation> {
        let validator = self.validator.get_or_init(|| {
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .should_validate_formats(true)
                .offline()
                .build(&Value::Object(schema.clone()))
                .map_err(|error| format!("the output schema does not compile: {error}"))
        });
        let validator = match validator {
            Ok(validator) => validator,
            Err(error) => {
                return Err(OutputViolation {
                    violations: vec![error.clone()],
                });
            }
        };
        if validator.is_valid(value) {
            return Ok(());
        }
        let violations = validator
            .iter_errors(value)
            .take(MAX_VIOLATIONS)
            .map(|error| format!("`{}`: {error}", error.instance_path()))
            .collect();
        Err(OutputViolation { violations })
    }
}

impl OutputViolation {
    /// A successful result without the structured value its tool's output schema promises
    /// (clients refuse it: "has an output schema but did not return structured content").
    pub(crate) fn missing() -> Self {
        Self {
            violations: vec![
                "the result has no `structuredContent`, which the tool's output schema promises"
                    .to_owned(),
            ],
        }
    }
}

/// A tool's structured output that does not conform to its output schema: an internal
/// error (the caller sees the sanitized one), whose text goes to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputViolation {
    violations: Vec<String>,
}

impl OutputViolation {
    /// What does not conform, one line per violation (at most five).
    ///
    /// ```
    /// # use secure_tool::route::OutputViolation;
    /// fn log(violation: &OutputViolation) {
    ///     for line in violation.violations() {
    ///         eprintln!("{line}");
    ///     }
    /// }
    /// ```
    pub fn violations(&self) -> &[String] {
        &self.violations
    }
}

impl std::fmt::Display for OutputViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the structured output does not conform to the tool's output schema: {}",
            self.violations.join("; ")
        )
    }
}

impl std::error::Error for OutputViolation {}

//! Fault injection for the fault-matrix test (cargo feature `fault-injection`, off by
//! default: a normal build has none of this).
//!
//! `NOTES_AUTHZ_FAULT=<fault>` makes every call's authorization fail in that way, as a
//! server-wide policy decided before each tool's own (`SecureServerBuilder::server_policy`):
//! `error`, `panic`, `panic_on_call`, `hang`, `late_allow` (allows, but after the
//! deadline), `deny`, `odd_answer`, `blocking_allow` (holds its thread past the deadline,
//! then allows) or `empty_requirement` (requires an empty list of scopes or roles).
//! `NOTES_AUTHZ_TIMEOUT_MS` sets the authorization deadline (default 2 s), so that `hang`,
//! `late_allow` and `blocking_allow` are decided quickly. A fault can only make the server
//! deny more.

use secure_tool::SecureServerBuilder;

/// The builder with the fault (and deadline) the environment asks for, if any.
///
/// # Errors
///
/// A plain message naming the variable, for a value that is not a fault or a number.
pub fn inject<S: Send + Sync + 'static>(
    builder: SecureServerBuilder<S>,
) -> Result<SecureServerBuilder<S>, String> {
    inject_from(builder, |name| std::env::var(name).ok())
}

/// [`inject`] with the variables from `lookup`.
///
/// # Errors
///
/// As [`inject`].
#[cfg(feature = "fault-injection")]
pub fn inject_from<S: Send + Sync + 'static>(
    mut builder: SecureServerBuilder<S>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<SecureServerBuilder<S>, String> {
    use secure_tool::testing::{PolicyFault, failing_policy};
    use std::time::Duration;

    let mut timeout = secure_tool::authz::DEFAULT_AUTHZ_TIMEOUT;
    if let Some(ms) = lookup("NOTES_AUTHZ_TIMEOUT_MS") {
        let ms: u64 = ms
            .trim()
            .parse()
            .map_err(|_| format!("NOTES_AUTHZ_TIMEOUT_MS must be milliseconds, not {ms:?}"))?;
        timeout = Duration::from_millis(ms.max(1));
        builder = builder.authz_timeout(timeout);
    }
    if let Some(name) = lookup("NOTES_AUTHZ_FAULT") {
        let fault = PolicyFault::ALL
            .into_iter()
            .find(|fault| fault.as_str() == name.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = PolicyFault::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "NOTES_AUTHZ_FAULT must be one of {}, not {name:?}",
                    names.join(", ")
                )
            })?;
        tracing::warn!(
            fault = fault.as_str(),
            "fault injection: every authorization fails"
        );
        builder = builder.server_policy(failing_policy(fault, timeout * 3));
    }
    Ok(builder)
}

/// Without the feature, the variables are refused rather than silently ignored.
///
/// # Errors
///
/// When `NOTES_AUTHZ_FAULT` or `NOTES_AUTHZ_TIMEOUT_MS` is set.
#[cfg(not(feature = "fault-injection"))]
pub fn inject_from<S: Send + Sync + 'static>(
    builder: SecureServerBuilder<S>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<SecureServerBuilder<S>, String> {
    for name in ["NOTES_AUTHZ_FAULT", "NOTES_AUTHZ_TIMEOUT_MS"] {
        if lookup(name).is_some() {
            return Err(format!(
                "{name} needs a build with the `fault-injection` feature \
                 (cargo build -p notes-server --features fault-injection)"
            ));
        }
    }
    Ok(builder)
}

//! The URI of a `#[secure_resource]`, checked when the handler compiles: a fixed URI
//! (`docs://readme`) or a template with `{name}` variables (`notes://{id}`).
//!
//! The rules are the runtime's, `UriTemplate::parse` in `runtime/src/resource/template.rs`,
//! which this crate cannot call (a proc-macro crate cannot depend on the crate that
//! re-exports it). Keep the two in step: every rule there has its twin here, with the same
//! words, and both test suites refuse the same templates. What is checked here only turns a
//! panic when the router is built into an error at the literal.

/// The variables of `template`, in order (none for a fixed URI), or why it is refused: the
/// reason `UriTemplate::parse` gives.
pub(super) fn variables(template: &str) -> Result<Vec<&str>, &'static str> {
    if template.is_empty() {
        return Err("it is empty");
    }
    let mut variables: Vec<&str> = Vec::new();
    // Whether the part just read is a variable: two side by side cannot be told apart.
    let mut after_variable = false;
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                after_variable = false;
                rest = "";
            }
            Some(at) if rest.as_bytes()[at] == b'}' => return Err("a `}` closes no variable"),
            Some(at) => {
                if at > 0 {
                    after_variable = false;
                }
                let after = &rest[at + 1..];
                let end = after.find('}').ok_or("a `{` is never closed")?;
                let name = &after[..end];
                if name.is_empty() {
                    return Err("a variable has no name");
                }
                if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(
                        "variable names are letters, digits and `_` (operators such as `{+path}` \
                         or `{?query}` are not supported)",
                    );
                }
                if after_variable {
                    return Err(
                        "two variables side by side cannot be told apart: put literal text \
                         between them",
                    );
                }
                if variables.contains(&name) {
                    return Err("a variable is named twice");
                }
                variables.push(name);
                after_variable = true;
                rest = &after[end + 1..];
            }
        }
    }
    // Checked last, as the runtime does: another problem is reported first.
    if template.starts_with('{') {
        return Err("it starts with a variable: the scheme must be literal");
    }
    Ok(variables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_uris_and_templates_are_read_as_the_runtime_reads_them() {
        assert_eq!(variables("docs://readme"), Ok(vec![]));
        assert_eq!(variables("notes://{id}"), Ok(vec!["id"]));
        assert_eq!(
            variables("notes://{id}/revisions/{rev_2}"),
            Ok(vec!["id", "rev_2"])
        );
        assert_eq!(variables("test://template/{id}/data"), Ok(vec!["id"]));
    }

    /// The table of the runtime's `templates_that_cannot_be_matched_unambiguously_are_refused`
    /// (`runtime/src/resource/tests.rs`), with the same reasons.
    #[test]
    fn the_runtimes_refusals_are_refused_here_with_its_words() {
        for (bad, why) in [
            ("", "empty"),
            ("notes://{id", "never closed"),
            ("notes://id}", "closes no variable"),
            ("notes://{}", "no name"),
            ("files://{+path}", "operators"),
            ("search://{?q}", "operators"),
            ("a://{x}{y}", "side by side"),
            ("a://{x}/{x}", "named twice"),
            ("{scheme}://x", "scheme must be literal"),
        ] {
            let error = variables(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn a_leading_variable_is_reported_after_any_other_problem() {
        // As the runtime reads: left to right, the scheme last.
        assert!(variables("{a}{b}").unwrap_err().contains("side by side"));
        assert!(
            variables("{a}}")
                .unwrap_err()
                .contains("closes no variable")
        );
        assert!(variables("{a}").unwrap_err().contains("scheme"));
    }
}

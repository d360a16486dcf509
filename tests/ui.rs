//! Compile-time guarantees of `#[secure_tool]`, `#[secure_resource]`, `#[secure_prompt]`
//! and `#[secure_tool_router]`: every rule has a `ui/fail/<rule>.rs` case whose error is
//! pinned in `ui/fail/<rule>.stderr` (`resource_*` for the resources' own, `prompt_*` for
//! the prompts', `complete_*` for `complete(..)` and its completers), and every accepted
//! form a `ui/pass/` case that compiles and runs.
//!
//! The snapshots are taken with the stable toolchain this project builds with (1.95);
//! other compilers word their errors differently, so the test is skipped there.
//! Regenerate with `TRYBUILD=overwrite cargo test -p secure-tool-tests --test ui` and review
//! the diff.

#[rustversion::attr(not(stable(1.95)), ignore = "ui snapshots are pinned to stable 1.95")]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}

//! The error collector: every check reports into one, so that one build shows every
//! error at once, and the collector's errors must be taken before it goes: one that is
//! dropped unreported panics, so a forgotten error is a bug in this crate rather than a
//! handler silently accepted.

use proc_macro2::{Span, TokenStream};

/// Collects errors, so that one build reports all of them. Take them with
/// [`into_result`](Self::into_result) or [`into_compile_error`](Self::into_compile_error);
/// dropping the collector before is a bug, and panics.
#[derive(Default)]
pub struct Errors {
    collected: Option<syn::Error>,
    /// Whether the errors were taken: the drop check passes only then.
    taken: bool,
}

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.collected {
            Some(all) => all.combine(error),
            None => self.collected = Some(error),
        }
    }

    pub fn push_at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error spanning all of `tokens` (an attribute, from `#` to `]`).
    pub fn push_spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn is_empty(&self) -> bool {
        self.collected.is_none()
    }

    /// How many errors were collected so far: a check compares it before and after to
    /// know whether it added any.
    pub fn count(&self) -> usize {
        self.collected
            .as_ref()
            .map_or(0, |all| all.into_iter().count())
    }

    /// Takes the errors: `Err` with all of them combined, or `Ok` when there are none.
    pub fn into_result(mut self) -> syn::Result<()> {
        self.taken = true;
        self.collected.take().map_or(Ok(()), Err)
    }

    /// Takes the errors as `compile_error!` invocations (none when there are none).
    pub fn into_compile_error(self) -> TokenStream {
        self.into_result()
            .err()
            .map(syn::Error::into_compile_error)
            .unwrap_or_default()
    }
}

impl Drop for Errors {
    fn drop(&mut self) {
        // While a panic unwinds, a second one would abort and hide the first.
        if !self.taken && !std::thread::panicking() {
            panic!(
                "secure-tool-macros: an error collector was dropped without its errors being \
                 reported (take them with `into_result` or `into_compile_error`)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn an_error() -> syn::Error {
        syn::Error::new(Span::call_site(), "wrong")
    }

    #[test]
    #[should_panic(expected = "dropped without its errors being reported")]
    fn dropping_unreported_errors_panics() {
        let mut errors = Errors::default();
        errors.push(an_error());
        drop(errors);
    }

    #[test]
    #[should_panic(expected = "dropped without its errors being reported")]
    fn dropping_an_unchecked_empty_collector_panics() {
        // Whether there were errors is known only once someone looked.
        drop(Errors::default());
    }

    #[test]
    fn into_result_takes_the_errors() {
        assert!(Errors::default().into_result().is_ok());
        let mut errors = Errors::default();
        errors.push(an_error());
        errors.push_at(Span::call_site(), "also wrong");
        let all = errors.into_result().unwrap_err();
        assert_eq!(all.into_iter().count(), 2);
    }

    #[test]
    fn count_says_how_many_were_collected() {
        let mut errors = Errors::default();
        assert_eq!(errors.count(), 0);
        errors.push(an_error());
        errors.push_at(Span::call_site(), "also wrong");
        assert_eq!(errors.count(), 2);
        assert!(errors.into_result().is_err());
    }

    #[test]
    fn into_compile_error_takes_the_errors() {
        assert!(Errors::default().into_compile_error().is_empty());
        let mut errors = Errors::default();
        errors.push(an_error());
        let tokens = errors.into_compile_error().to_string();
        assert!(tokens.contains("compile_error"), "{tokens}");
        assert!(tokens.contains("wrong"), "{tokens}");
    }

    #[test]
    fn a_collector_dropped_by_a_panic_lets_the_panic_through() {
        let panic = std::panic::catch_unwind(|| {
            let mut errors = Errors::default();
            errors.push(an_error());
            panic!("the first panic");
        })
        .unwrap_err();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"the first panic"));
    }
}

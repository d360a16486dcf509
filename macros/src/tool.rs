//! `#[secure_tool(...)]` on a handler method: arguments → handler IR → validation →
//! expansion (or, when anything is wrong, a fallback that keeps the user's method and
//! reports every error at once).
//!
//! Input:
//! ```ignore
//! /// Reads a note.
//! #[secure_tool(authz = scopes("notes:read"), mode = read)]
//! async fn get_note(&self, args: GetNote) -> Result<Note, StoreError> { ... }
//! ```
//! Output: the method unchanged, plus two hidden associated fns: `__secure_tool_handler_get_note`,
//! which calls the method with the parsed arguments and the call's capability, and
//! `__secure_tool_route_get_note()`, which hands it to the runtime's `SecureRoute::read` (or
//! `write`), the only constructors of a route, which wrap it in the guarded call. The
//! router that `#[secure_tool_router]` generates calls it; nothing else can reach the
//! handler through MCP.
//!
//! A handler may take, last, the write capability (`access: WriteAccess<'_>`, recognised
//! by the last segment of its type's path). Only a `mode = write` handler may: the runtime
//! makes the capability inside the guarded call of a write route and passes it to the
//! handler fn; a read route passes `()`, so the types enforce what the syntactic check
//! reports.
//!
//! `#[secure_resource(uri = "notes://{id}", authz = ...)]` goes through the same phases,
//! with the same checks: the parsed form says which [`Kind`] of handler it is, and only
//! what differs (a resource is read-only, takes the variables of its URI as its parameters
//! and returns a `ResourceBody`) is decided by it. Its expansion is a hidden
//! `__secure_resource_handler_<method>` and `__secure_resource_route_<method>()`, which
//! hands it to the runtime's `ResourceRoute::new`. `#[secure_prompt(authz = ...)]` too: a
//! prompt is read-only, takes an arguments struct (its listed arguments) and returns a
//! `PromptReply`; its expansion is a hidden `__secure_prompt_handler_<method>` and
//! `__secure_prompt_route_<method>()`, which hands it to the runtime's `PromptRoute::new`.
//!
//! A resource or a prompt may name completers, `complete(id = Self::note_ids)`: methods of
//! the same impl block, found among `methods` and checked like handlers where the rules
//! apply. Each is called through a hidden `__secure_tool_completer_<method>`, handed to the
//! route's `with_completion`, and emitted once per impl block by the router.
//!
//! This module runs the phases; each has a module of its own: `ast` builds the handler IR
//! (the parsed form) while `signature` and `requirements` validate the method and the
//! attribute's expressions (`types` recognises the types in a signature, `uri` a
//! resource's URI), `expand` writes the expansion from the IR alone, and `fallback` keeps
//! the user's method beside the errors when anything is wrong.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ImplItemFn;

use crate::attr::{HandlerArgs, Kind};
use crate::errors::Errors;

mod ast;
mod expand;
mod fallback;
mod requirements;
mod signature;
mod types;
mod uri;

use ast::Handler;
pub use ast::HandlerName;
pub use expand::route_fn_ident;
pub use fallback::expand_standalone;
use fallback::fallback;

/// A handler expanded by its router: the impl items, the hidden methods of the completers
/// it names (which the router emits once each), and what the router needs to check that no
/// two of its tools (or resources, or prompts) share a name, nor two resources a URI.
pub struct Expanded {
    pub tokens: TokenStream,
    /// Each completer's hidden method, by name; none when the handler did not expand.
    pub completers: Vec<(syn::Ident, TokenStream)>,
    pub name: HandlerName,
    /// A resource's `uri = "..."`, as written.
    pub uri: Option<syn::LitStr>,
}

/// `#[secure_tool(args)]`, `#[secure_resource(args)]` or `#[secure_prompt(args)]`, as
/// `kind` says, on `item`, a method of a `#[secure_tool_router]` impl block whose methods,
/// as written, are `methods`: the router has taken the attribute off, and calls this with
/// the attribute to leave on the method in its place (`#[secure_tool(registered)]`). The
/// tokens are impl items.
pub fn expand(
    kind: Kind,
    attr: &syn::Attribute,
    args: TokenStream,
    item: &ImplItemFn,
    registered: syn::Attribute,
    methods: &[ImplItemFn],
) -> Expanded {
    let mut errors = Errors::default();
    let args = HandlerArgs::parse(kind, args, &mut errors);
    let name = HandlerName::new(&args, item);
    let uri = args.uri.get().cloned();
    let handler = Handler::analyze(item, attr, &args, &name, methods, &mut errors);
    let mut item = item.clone();
    let mut completers = Vec::new();
    let tokens = match (handler, errors.into_result()) {
        (Some(handler), Ok(())) => {
            let out = handler.expand();
            completers = handler.completers();
            item.attrs.insert(0, registered);
            quote!(#item #out)
        }
        (_, Err(error)) => {
            // A second attribute of ours was reported (a duplicate, or two kinds on one
            // method): it must not expand on its own.
            item.attrs.retain(|a| Kind::of(a).is_none());
            item.attrs.insert(0, registered);
            fallback(kind, &item, error)
        }
        (None, Ok(())) => panic!(
            "secure-tool-macros: `{}` was refused without an error saying why",
            item.sig.ident
        ),
    };
    Expanded {
        tokens,
        completers,
        name,
        uri,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: TokenStream, item: TokenStream) -> String {
        let item: ImplItemFn = syn::parse2(item).unwrap();
        let registered: syn::Attribute = syn::parse_quote!(#[secure_tool(registered)]);
        expand(
            Kind::Tool,
            &registered,
            args,
            &item,
            registered.clone(),
            &[],
        )
        .tokens
        .to_string()
    }

    fn expand_resource(args: TokenStream, item: TokenStream) -> String {
        let item: ImplItemFn = syn::parse2(item).unwrap();
        let registered: syn::Attribute = syn::parse_quote!(#[secure_resource(registered)]);
        expand(
            Kind::Resource,
            &registered,
            args,
            &item,
            registered.clone(),
            &[],
        )
        .tokens
        .to_string()
    }

    fn expand_kind(
        kind: Kind,
        args: TokenStream,
        item: TokenStream,
        methods: &[TokenStream],
    ) -> Expanded {
        let item: ImplItemFn = syn::parse2(item).unwrap();
        let methods: Vec<ImplItemFn> = methods
            .iter()
            .map(|m| syn::parse2(m.clone()).unwrap())
            .collect();
        let registered: syn::Attribute = syn::parse_quote!(#[secure_prompt(registered)]);
        expand(kind, &registered, args, &item, registered.clone(), &methods)
    }

    fn expand_prompt(args: TokenStream, item: TokenStream) -> String {
        expand_kind(Kind::Prompt, args, item, &[])
            .tokens
            .to_string()
    }

    #[test]
    fn expands_a_prompt_with_and_without_arguments() {
        let out = expand_prompt(
            quote!(
                authz = scopes("notes:read"),
                title = "Summary",
                breaker = self.store,
                timeout = "5s"
            ),
            quote! {
                /// Summarise notes.
                async fn summarise(&self, args: Summary) -> Result<PromptReply, StoreError> { todo!() }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("fn __secure_prompt_route_summarise ()"),
            "{out}"
        );
        assert!(
            out.contains("fn __secure_prompt_handler_summarise <"),
            "{out}"
        );
        assert!(out.contains("PromptRoute :: < Self > :: new"), "{out}");
        assert!(out.contains("PromptSpec :: new (\"summarise\" ,"), "{out}");
        assert!(
            out.contains(". with_description (\"Summarise notes.\")"),
            "{out}"
        );
        assert!(out.contains(". with_title (\"Summary\")"), "{out}");
        assert!(out.contains(". with_timeout ("), "{out}");
        assert!(out.contains("prompt_arguments :: < Summary >"), "{out}");
        assert!(out.contains("prompt_error :: < StoreError >"), "{out}");
        assert!(
            out.contains("prompt_reply :: < PromptReply , StoreError >"),
            "{out}"
        );
        assert!(
            out.contains(". with_dependency (Self :: __secure_tool_dependency_summarise)"),
            "{out}"
        );
        // Read-only: the handler is given a grant without a capability.
        assert!(
            out.contains("__secure_tool_capability : :: secure_tool :: __private :: Grant < '__secure_tool_call >"),
            "{out}"
        );
        assert!(!out.contains("WriteAccess"), "{out}");
        assert!(!out.contains("ResourceRoute"), "{out}");

        let out = expand_prompt(
            quote!(authz = public, name = "hello"),
            quote! {
                /// Say hello.
                async fn greet(&self) -> Result<PromptReply, ToolError> { todo!() }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("PromptSpec :: new (\"hello\" ,"), "{out}");
        assert!(
            out.contains("prompt_arguments :: < :: secure_tool :: __private :: NoArguments >"),
            "{out}"
        );
        assert!(out.contains("self . greet ()"), "{out}");
    }

    #[test]
    fn a_prompt_is_checked_as_a_tool_is_in_its_own_words() {
        let out = expand_prompt(
            quote!(mode = write, uri = "x://y"),
            quote! {
                unsafe fn f<T>(&mut self, a: A, b: B) -> Result<(), String> { todo!() }
            },
        );
        for needle in [
            "`#[secure_prompt]` requires `authz",
            "a `#[secure_prompt]` is read-only and takes no `mode`",
            "a `#[secure_prompt]` has no URI nor MIME type",
            "`#[secure_prompt]` handlers must be `async fn`",
            "`#[secure_prompt]` handlers cannot be `unsafe fn`: a prompt is got",
            "`#[secure_prompt]` handlers cannot be generic: a prompt has one concrete arguments type",
            "gets of a prompt run concurrently",
            "one arguments struct besides `&self`: put every argument into it",
            "`String` cannot be a prompt error",
            "a `#[secure_prompt]` needs a description",
        ] {
            assert!(out.contains(needle), "missing {needle}: {out}");
        }
        assert!(!out.contains("requires `uri"), "{out}");
        // The fallback keeps the method and a stub prompt route so nothing cascades.
        assert!(
            out.contains("fn __secure_prompt_route_f () -> :: secure_tool :: __private :: PromptRoute < Self >"),
            "{out}"
        );

        let out = expand_prompt(
            quote!(authz = public),
            quote! {
                /// Renders.
                async fn f(&self, access: WriteAccess<'_>) -> Result<PromptReply, ToolError> { todo!() }
            },
        );
        assert!(
            out.contains("a `#[secure_prompt]` cannot take `WriteAccess`"),
            "{out}"
        );
        let out = expand_prompt(
            quote!(authz = public),
            quote! {
                /// Renders.
                async fn f(&self, context: RequestContext<RoleServer>) -> Result<PromptReply, ToolError> { todo!() }
            },
        );
        assert!(
            out.contains("a `#[secure_prompt]` handler cannot take rmcp's `RequestContext<..>`"),
            "{out}"
        );
        let out = expand_prompt(
            quote!(authz = public),
            quote! {
                /// Renders.
                fn f(&self) -> impl Future<Output = Result<PromptReply, ToolError>> { todo!() }
            },
        );
        assert!(
            out.contains("returning `Result<PromptReply, E>` itself, not a future"),
            "{out}"
        );
    }

    fn note_ids() -> TokenStream {
        quote! {
            async fn note_ids(&self, request: CompletionRequest) -> Result<Vec<String>, StoreError> { todo!() }
        }
    }

    #[test]
    fn completions_name_methods_of_the_impl_called_through_a_hidden_method() {
        let expanded = expand_kind(
            Kind::Resource,
            quote!(
                uri = "notes://{shelf}/{id}",
                authz = public,
                complete(id = Self::note_ids, shelf = Self::r#type)
            ),
            quote! {
                /// A note.
                async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> { todo!() }
            },
            &[
                note_ids(),
                quote!(
                    async fn r#type(
                        &self,
                        request: CompletionRequest,
                    ) -> Result<Vec<String>, ToolError> {
                        todo!()
                    }
                ),
            ],
        );
        let out = expanded.tokens.to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains(". with_completion (\"id\" , :: secure_tool :: __private :: completion_error :: < StoreError > () , Self :: __secure_tool_completer_note_ids)"),
            "{out}"
        );
        assert!(
            out.contains(". with_completion (\"shelf\" , :: secure_tool :: __private :: completion_error :: < ToolError > () , Self :: __secure_tool_completer_type)"),
            "{out}"
        );
        let names: Vec<String> = expanded
            .completers
            .iter()
            .map(|(name, _)| name.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "__secure_tool_completer_note_ids",
                "__secure_tool_completer_type"
            ]
        );
        let wrapper = expanded.completers[0].1.to_string();
        assert!(
            wrapper.contains(
                "self . note_ids (:: secure_tool :: __private :: completion_request :: < CompletionRequest > (__secure_tool_request))"
            ),
            "{wrapper}"
        );
        assert!(
            wrapper.contains("completion_values :: < Vec < String > , StoreError >"),
            "{wrapper}"
        );

        let prompt = expand_kind(
            Kind::Prompt,
            quote!(authz = public, complete(topic = Self::note_ids)),
            quote! {
                /// Summarise.
                async fn summarise(&self, args: Summary) -> Result<PromptReply, ToolError> { todo!() }
            },
            &[note_ids()],
        );
        let out = prompt.tokens.to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains(". with_completion (\"topic\" ,"), "{out}");
        assert_eq!(prompt.completers.len(), 1);
    }

    #[test]
    fn a_completion_names_a_variable_of_the_uri_and_a_completer_method() {
        let out = |args: TokenStream, methods: &[TokenStream]| {
            let expanded = expand_kind(
                Kind::Resource,
                args,
                quote! {
                    /// A note.
                    async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> { todo!() }
                },
                methods,
            );
            assert!(expanded.completers.is_empty());
            expanded.tokens.to_string()
        };
        let wrong = out(
            quote!(
                uri = "notes://{id}",
                authz = public,
                complete(title = Self::note_ids)
            ),
            &[note_ids()],
        );
        assert!(
            wrong.contains("`title` is not a variable of `notes://{id}`: `complete` maps a variable of the URI (`id`)"),
            "{wrong}"
        );
        let fixed = expand_kind(
            Kind::Resource,
            quote!(
                uri = "docs://readme",
                authz = public,
                complete(id = Self::note_ids)
            ),
            quote! {
                /// The readme.
                async fn readme(&self) -> Result<ResourceBody, ToolError> { todo!() }
            },
            &[note_ids()],
        )
        .tokens
        .to_string();
        assert!(
            fixed.contains("is a fixed URI, without variables: there is no `id` to complete"),
            "{fixed}"
        );
        for value in [
            quote!("note_ids"),
            quote!(note_ids),
            quote!(|s, r| s.ids(r)),
            quote!(Self::note_ids::<T>),
            quote!(Other::note_ids),
        ] {
            let refused = out(
                quote!(uri = "notes://{id}", authz = public, complete(id = #value)),
                &[note_ids()],
            );
            assert!(
                refused.contains("`complete` maps each variable to a completer method of this impl block, by path: write `id = Self::completer`"),
                "{value}: {refused}"
            );
        }
        let missing = out(
            quote!(
                uri = "notes://{id}",
                authz = public,
                complete(id = Self::note_ids)
            ),
            &[],
        );
        assert!(
            missing.contains("no method `note_ids` in this `#[secure_tool_router]` impl block"),
            "{missing}"
        );
        let handler = out(
            quote!(
                uri = "notes://{id}",
                authz = public,
                complete(id = Self::note_ids)
            ),
            &[quote! {
                #[secure_tool(authz = public, mode = read)]
                async fn note_ids(&self, request: CompletionRequest) -> Result<Vec<String>, ToolError> { todo!() }
            }],
        );
        assert!(
            handler.contains("`note_ids` is a `#[secure_tool]`, not a completer"),
            "{handler}"
        );
    }

    #[test]
    fn a_completer_is_checked_by_the_handlers_rules_where_they_apply() {
        let out = |completer: TokenStream| {
            expand_kind(
                Kind::Prompt,
                quote!(authz = public, complete(topic = Self::topics)),
                quote! {
                    /// Summarise.
                    async fn summarise(&self, args: Summary) -> Result<PromptReply, ToolError> { todo!() }
                },
                &[completer],
            )
            .tokens
            .to_string()
        };
        for (completer, needle) in [
            (
                quote!(
                    fn topics(&self, request: CompletionRequest) -> Result<Vec<String>, ToolError> {
                        todo!()
                    }
                ),
                "a completer is an `async fn`",
            ),
            (
                quote!(
                    async fn topics(
                        &mut self,
                        request: CompletionRequest,
                    ) -> Result<Vec<String>, ToolError> {
                        todo!()
                    }
                ),
                "a completer takes `&self`, not `&mut self`",
            ),
            (
                quote!(
                    async fn topics(request: CompletionRequest) -> Result<Vec<String>, ToolError> {
                        todo!()
                    }
                ),
                "a completer is a method taking `&self`",
            ),
            (
                quote!(
                    async fn topics(&self) -> Result<Vec<String>, ToolError> {
                        todo!()
                    }
                ),
                "a completer takes `&self` and the request",
            ),
            (
                quote!(
                    async fn topics<T>(&self, request: T) -> Result<Vec<String>, ToolError> {
                        todo!()
                    }
                ),
                "a completer cannot be generic",
            ),
            (
                quote!(
                    async fn topics(&self, request: CompletionRequest) -> Vec<String> {
                        todo!()
                    }
                ),
                "a completer returns `Result<Vec<String>, E>`",
            ),
            (
                quote!(
                    async fn topics(
                        &self,
                        request: CompletionRequest,
                    ) -> Result<Vec<String>, String> {
                        todo!()
                    }
                ),
                "`String` cannot be a completer error: its text would reach the caller as is",
            ),
            (
                quote!(
                    async fn topics(
                        &self,
                        request: CompletionRequest,
                    ) -> Result<Vec<String>, Box<dyn std::error::Error>> {
                        todo!()
                    }
                ),
                "not itself an error type a completer can return",
            ),
        ] {
            let out = out(completer);
            assert!(out.contains(needle), "missing {needle}: {out}");
            assert!(!out.contains("with_completion"), "{out}");
        }
    }

    #[test]
    fn expands_a_resource_template_and_a_fixed_resource() {
        let out = expand_resource(
            quote!(
                uri = "notes://{id}",
                authz = scopes("notes:read"),
                mime_type = "text/markdown",
                breaker = self.store
            ),
            quote! {
                /// One note.
                async fn note(&self, params: NoteUri) -> Result<ResourceBody, StoreError> { todo!() }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("fn __secure_resource_route_note ()"), "{out}");
        assert!(out.contains("fn __secure_resource_handler_note <"), "{out}");
        assert!(out.contains("ResourceRoute :: < Self > :: new"), "{out}");
        assert!(
            out.contains("ResourceSpec :: new (\"note\" , \"notes://{id}\""),
            "{out}"
        );
        assert!(
            out.contains(". with_mime_type (\"text/markdown\")"),
            "{out}"
        );
        assert!(out.contains("resource_params :: < NoteUri >"), "{out}");
        assert!(out.contains("resource_error :: < StoreError >"), "{out}");
        assert!(
            out.contains(". with_dependency (Self :: __secure_tool_dependency_note)"),
            "{out}"
        );
        // Read-only: the handler is given a grant without a capability.
        assert!(
            out.contains("__secure_tool_capability : :: secure_tool :: __private :: Grant < '__secure_tool_call >"),
            "{out}"
        );
        assert!(!out.contains("WriteAccess"), "{out}");
        assert!(!out.contains("SecureRoute"), "{out}");

        let out = expand_resource(
            quote!(uri = "docs://readme", authz = public),
            quote! {
                /// The readme.
                async fn readme(&self) -> Result<ResourceBody, ToolError> { todo!() }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("resource_params :: < :: secure_tool :: __private :: NoArguments >"),
            "{out}"
        );
        assert!(out.contains("self . readme ()"), "{out}");
    }

    #[test]
    fn a_resource_is_checked_as_a_tool_is_in_its_own_words() {
        let out = expand_resource(
            quote!(mode = write),
            quote! {
                unsafe fn f<T>(&mut self, a: A, b: B) -> Result<(), String> { todo!() }
            },
        );
        for needle in [
            "requires `authz",
            "requires `uri",
            "read-only",
            "`#[secure_resource]` handlers must be `async fn`",
            "`#[secure_resource]` handlers cannot be `unsafe fn`: a resource is read",
            "`#[secure_resource]` handlers cannot be generic",
            "reads run concurrently",
            "one parameters struct",
            "`String` cannot be a resource error",
            "a `#[secure_resource]` needs a description",
        ] {
            assert!(out.contains(needle), "missing {needle}: {out}");
        }
        assert!(!out.contains("mode = read` or `mode = write"), "{out}");
        // The fallback keeps the method and a stub resource route so nothing cascades.
        assert!(out.contains("fn __secure_resource_route_f () -> :: secure_tool :: __private :: ResourceRoute < Self >"), "{out}");
    }

    #[test]
    fn a_resource_handler_fits_its_uri() {
        let template = expand_resource(
            quote!(uri = "notes://{id}/revisions/{rev}", authz = public),
            quote! {
                /// A revision.
                async fn revision(&self) -> Result<ResourceBody, ToolError> { todo!() }
            },
        );
        assert!(
            template.contains("(`id`, `rev`) are the handler's parameters"),
            "{template}"
        );
        let fixed = expand_resource(
            quote!(uri = "docs://readme", authz = public),
            quote! {
                /// The readme.
                async fn readme(&self, params: Page) -> Result<ResourceBody, ToolError> { todo!() }
            },
        );
        assert!(
            fixed.contains("is a fixed URI, without variables"),
            "{fixed}"
        );
        let invalid = expand_resource(
            quote!(uri = "notes://{id", authz = public),
            quote! {
                /// A note.
                async fn note(&self, params: NoteUri) -> Result<ResourceBody, ToolError> { todo!() }
            },
        );
        assert!(
            invalid.contains("invalid URI template `notes://{id`: a `{` is never closed"),
            "{invalid}"
        );
        let written = expand_resource(
            quote!(uri = "docs://readme", authz = public),
            quote! {
                /// The readme.
                async fn readme(&self, access: WriteAccess<'_>) -> Result<ResourceBody, ToolError> { todo!() }
            },
        );
        assert!(written.contains("cannot take `WriteAccess`"), "{written}");
        let mime = expand_resource(
            quote!(
                uri = "docs://readme",
                authz = public,
                mime_type = "markdown"
            ),
            quote! {
                /// The readme.
                async fn readme(&self) -> Result<ResourceBody, ToolError> { todo!() }
            },
        );
        assert!(mime.contains("`mime_type` is a MIME type"), "{mime}");
    }

    #[test]
    fn expands_a_valid_handler() {
        let out = expand_str(
            quote!(authz = scopes("notes:read"), mode = read),
            quote! {
                /// Reads a note.
                async fn get_note(&self, args: GetNote) -> Result<Note, StoreError> { todo!() }
            },
        );
        assert!(out.contains("fn __secure_tool_route_get_note"), "{out}");
        assert!(out.contains("\"Reads a note.\""), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn reports_every_error_at_once() {
        let out = expand_str(
            quote!(mode = read),
            quote! {
                /// x
                unsafe fn f(&mut self) -> Result<(), String> { todo!() }
            },
        );
        for needle in [
            "requires `authz",
            "async fn",
            "unsafe fn",
            "&mut self",
            "`String`",
        ] {
            assert!(out.contains(needle), "missing {needle}: {out}");
        }
        // The fallback keeps the method and a stub route so nothing cascades.
        assert!(out.contains("fn __secure_tool_route_f"), "{out}");
    }

    #[test]
    fn a_handler_taking_the_call_context_is_handed_it_between_arguments_and_access() {
        let out = expand_str(
            quote!(authz = authenticated, mode = write),
            quote! {
                /// Adds a note.
                async fn add(&self, args: NewNote, cx: CallContext<'_>, access: WriteAccess<'_>) -> Result<Note, E> { todo!() }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains(
                "self . add (__secure_tool_args , __secure_tool_context , __secure_tool_access)"
            ),
            "{out}"
        );
        for (item, message) in [
            (
                quote! {
                    /// Adds a note.
                    async fn add(&self, cx: &CallContext<'_>, args: NewNote) -> Result<Note, E> { todo!() }
                },
                "take `CallContext` by value",
            ),
            (
                quote! {
                    /// Adds a note.
                    async fn add(&self, cx: CallContext<'_>, args: NewNote) -> Result<Note, E> { todo!() }
                },
                "`CallContext` comes after the arguments struct",
            ),
        ] {
            let out = expand_str(quote!(authz = authenticated, mode = read), item);
            assert!(out.contains(message), "{out}");
        }
    }

    #[test]
    fn a_write_tool_is_handed_the_calls_write_access_after_its_arguments() {
        for item in [
            quote! {
                /// Adds a note.
                async fn add(&self, args: NewNote, access: WriteAccess) -> Result<Note, E> { todo!() }
            },
            quote! {
                /// Adds a note.
                async fn add(&self, access: secure_tool::capability::WriteAccess) -> Result<Note, E> { todo!() }
            },
        ] {
            let out = expand_str(quote!(authz = authenticated, mode = write), item);
            assert!(!out.contains("compile_error"), "{out}");
            // The runtime makes the capability: the route is a write route, whose handler
            // is given the call's `WriteAccess` and passes it on last.
            assert!(out.contains(":: write ("), "{out}");
            assert!(!out.contains(":: read ("), "{out}");
            assert!(out.contains("WriteAccess < '__secure_tool_call >"), "{out}");
            assert!(out.contains("__secure_tool_access)"), "{out}");
        }
    }

    #[test]
    fn a_read_tool_cannot_take_write_access() {
        let out = expand_str(
            quote!(authz = public, mode = read),
            quote! {
                /// Reads a note.
                async fn get(&self, args: NoteId, access: WriteAccess) -> Result<Note, E> { todo!() }
            },
        );
        assert!(
            out.contains("a `mode = read` tool cannot take `WriteAccess`"),
            "{out}"
        );
        assert!(!out.contains("Grant"), "{out}");
    }

    #[test]
    fn write_access_comes_last_and_by_value() {
        let misplaced = expand_str(
            quote!(authz = authenticated, mode = write),
            quote! {
                /// Adds a note.
                async fn add(&self, access: WriteAccess, args: NewNote) -> Result<Note, E> { todo!() }
            },
        );
        assert!(misplaced.contains("is the last parameter"), "{misplaced}");
        assert!(!misplaced.contains("one arguments struct"), "{misplaced}");
        let borrowed = expand_str(
            quote!(authz = authenticated, mode = write),
            quote! {
                /// Adds a note.
                async fn add(&self, access: &WriteAccess) -> Result<Note, E> { todo!() }
            },
        );
        assert!(borrowed.contains("by value"), "{borrowed}");
        assert!(!borrowed.contains("owned values"), "{borrowed}");
    }

    #[test]
    fn a_write_tool_open_to_anyone_says_why() {
        let item = || {
            quote! {
                /// Clears the notes.
                async fn clear(&self) -> Result<(), E> { todo!() }
            }
        };
        let refused = "lets anyone, anonymous callers included, change state";
        for authz in [
            quote!(public),
            quote!(public()),
            quote!(secure_tool::authz::public),
            quote!((public())),
            quote!(any_of([scopes("x"), public()])),
            quote!(any_of(vec![roles("a"), any_of([public])])),
        ] {
            let out = expand_str(quote!(authz = #authz, mode = write), item());
            assert!(out.contains(refused), "{authz}: {out}");
        }
        let out = expand_str(quote!(authz = public(reason = "x"), mode = write), item());
        assert!(out.contains("`public` takes no argument"), "{out}");
        let out = expand_str(quote!(authz = public_because(" "), mode = write), item());
        assert!(out.contains("a blank reason says nothing"), "{out}");
        for authz in [
            quote!(public_because("a sign-up form")),
            quote!(any_of([scopes("x"), public_because("a sign-up form")])),
            quote!(authenticated),
            quote!(open_policy()),
            quote!(publicly_listed),
        ] {
            let out = expand_str(quote!(authz = #authz, mode = write), item());
            assert!(!out.contains("compile_error"), "{authz}: {out}");
        }
        // A read tool's `public` stays as it is.
        let out = expand_str(quote!(authz = public, mode = read), item());
        assert!(!out.contains("compile_error"), "{out}");
    }
}

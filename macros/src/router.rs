//! `#[secure_tool_router]` on the impl block of a server type: the one place that sees every
//! handler before anything else expands, so it refuses plain rmcp `#[tool]`s and collects
//! the secure tools, resources and prompts into the type's router, with the hidden methods
//! of the completers they name, once each.
//!
//! Input:
//! ```ignore
//! #[secure_tool_router]
//! impl Notes {
//!     #[secure_tool(...)] async fn get_note(&self, args: GetNote) -> Result<Note, E> { ... }
//!     #[secure_tool(...)] async fn add_note(&self, args: AddNote) -> Result<Note, E> { ... }
//!     #[secure_resource(uri = "notes://{id}", complete(id = Self::note_ids), ...)]
//!     async fn note(&self, params: NoteUri) -> Result<ResourceBody, E> { ... }
//!     #[secure_prompt(...)] async fn summarise(&self, args: Summary) -> Result<PromptReply, E> { ... }
//!     async fn note_ids(&self, request: CompletionRequest) -> Result<Vec<String>, E> { ... }
//! }
//! ```
//! Output: the impl block with each handler expanded (its attribute left as a marker that
//! expands to nothing), plus
//! ```ignore
//! impl ::secure_tool::SecureTools for Notes {
//!     fn secure_tool_router() -> SecureToolRouter<Self> {
//!         SecureToolRouter::new()
//!             .with_route(Self::__secure_tool_route_get_note())
//!             .with_route(Self::__secure_tool_route_add_note())
//!             .with_resource(Self::__secure_resource_route_note())
//!             .with_prompt(Self::__secure_prompt_route_summarise())
//!     }
//! }
//! ```
//! where the resource's route calls `note_ids` through a hidden
//! `__secure_tool_completer_note_ids` of the impl block.
//! or, with `#[secure_tool_router(router = notes_tools)]`, an inherent
//! `fn notes_tools() -> SecureToolRouter<Self>` (for a type whose tools are split over
//! several impl blocks, combined with `+`).

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Ident, ImplItem, ItemImpl, ReturnType, Token};

use crate::attr::{Kind, attr_name_span, is_attr, unknown_key};
use crate::errors::Errors;
use crate::symbol::*;
use crate::tool::route_fn_ident;

pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut item: ItemImpl = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[secure_tool_router]` goes on the inherent `impl` block of a server type",
            );
            let mut out = error.to_compile_error();
            out.extend(input);
            return out;
        }
    };
    let mut errors = Errors::default();
    let router_fn = parse_args(args, &mut errors);
    if let Some((path, _)) = &item.trait_ {
        errors.push_at(
            path.span(),
            "`#[secure_tool_router]` goes on an inherent `impl` block (`impl MyServer { .. }`), \
             not on a trait impl",
        );
    }
    for attr in &item.attrs {
        if is_attr(attr, RMCP_TOOL_ROUTER) {
            errors.push_at(
                attr_name_span(attr),
                "remove `#[tool_router]`: `#[secure_tool_router]` builds this type's router; plain \
                 rmcp tools belong in a separate `#[tool_router]` impl served through \
                 `SecureToolRouter::with_unguarded_tools`",
            );
        }
    }

    for impl_item in &item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        // Beside an attribute of ours, the handler's own checks refuse `#[tool]`.
        if !method.attrs.iter().any(|a| Kind::of(a).is_some())
            && let Some(plain) = method.attrs.iter().find(|a| is_attr(a, RMCP_TOOL))
        {
            errors.push_at(
                attr_name_span(plain),
                "a plain rmcp `#[tool]` is served without authorization or error hygiene: use \
                 `#[secure_tool(authz = .., mode = ..)]`, or move it to a separate `#[tool_router]` \
                 impl and serve it through `SecureToolRouter::with_unguarded_tools`",
            );
        }
    }
    // Reported above; removed so that rmcp's router does not pile its own errors on top.
    item.attrs.retain(|a| !is_attr(a, RMCP_TOOL_ROUTER));
    // Each `#[secure_tool]`, `#[secure_resource]` and `#[secure_prompt]` is expanded here,
    // its attribute taken off (the first one: a second is the handler's to refuse): one that
    // reaches the compiler on its own was outside any secure router, and says so. A handler's
    // completers are found among the methods as written.
    let methods: Vec<syn::ImplItemFn> = item
        .items
        .iter()
        .filter_map(|impl_item| match impl_item {
            ImplItem::Fn(method) => Some(method.clone()),
            _ => None,
        })
        .collect();
    let mut tools = Vec::new();
    let mut resources = Vec::new();
    let mut prompts = Vec::new();
    // Each completer's hidden method, once, however many handlers name it.
    let mut completers: Vec<(Ident, TokenStream)> = Vec::new();
    // Tools, resources and prompts are named apart (the runtime keeps them apart too).
    let mut names: HashMap<(Kind, String), Span> = HashMap::new();
    let mut uris: HashMap<String, Span> = HashMap::new();
    // The impl's type parameters, and `Self` when there is one: a handler's result must
    // not name them (see below).
    let mut type_params: Vec<Ident> = item
        .generics
        .type_params()
        .map(|param| param.ident.clone())
        .collect();
    if !type_params.is_empty() {
        type_params.push(Ident::new("Self", Span::call_site()));
    }
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let Some((index, kind)) = method
            .attrs
            .iter()
            .enumerate()
            .find_map(|(index, a)| Some((index, Kind::of(a)?)))
        else {
            continue;
        };
        let attr = method.attrs.remove(index);
        let args = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            syn::Meta::Path(_) => TokenStream::new(),
            syn::Meta::NameValue(nv) => {
                errors.push_at(
                    nv.eq_token.span(),
                    match kind {
                        Kind::Tool => "write `#[secure_tool(authz = .., mode = ..)]`",
                        Kind::Resource => "write `#[secure_resource(uri = \"..\", authz = ..)]`",
                        Kind::Prompt => "write `#[secure_prompt(authz = ..)]`",
                    },
                );
                TokenStream::new()
            }
        };
        let registered_args: TokenStream = REGISTERED.parse().unwrap_or_default();
        let original = attr.clone();
        let registered = syn::Attribute {
            meta: syn::Meta::List(syn::MetaList {
                path: attr.path().clone(),
                delimiter: syn::MacroDelimiter::Paren(Default::default()),
                tokens: registered_args,
            }),
            ..attr
        };
        // Whether a result is one of rmcp's protocol types is decided by type, where the
        // router is compiled: an impl's type parameter is decided there once, as none, for
        // every type it is later given. So a result may not name one, nor `Self` in a
        // generic impl (`<Self as Trait>::Assoc` may be any of them).
        if let ReturnType::Type(_, ty) = &method.sig.output
            && let Some(param) = mentioned(ty.to_token_stream(), &type_params)
        {
            let what = if param == "Self" {
                "`Self` in a generic impl block".to_owned()
            } else {
                format!("`{param}`, a type parameter of its impl block")
            };
            errors.push_at(
                param.span(),
                format!(
                    "a handler's result cannot name {what}: whether it is one of rmcp's \
                     protocol types (which carry no error hygiene) cannot be checked through \
                     it; name a concrete type"
                ),
            );
        }
        let route = route_fn_ident(kind, &method.sig.ident);
        let expanded = crate::tool::expand(kind, &original, args, method, registered, &methods);
        for (name, tokens) in expanded.completers {
            if completers.iter().all(|(known, _)| *known != name) {
                completers.push((name, tokens));
            }
        }
        // Tool names, resource names, prompt names and resource URIs must be unique; each
        // handler reports its own argument errors.
        let name = expanded.name;
        if names
            .insert((kind, name.value.clone()), name.span)
            .is_some()
        {
            errors.push_at(
                name.span,
                format!(
                    "two secure {}s of this impl are named `{}`",
                    kind.noun(),
                    name.value
                ),
            );
        }
        if let Some(uri) = expanded.uri
            && uris.insert(uri.value(), uri.span()).is_some()
        {
            errors.push_at(
                uri.span(),
                format!(
                    "two secure resources of this impl have the URI `{}`: a read would reach \
                     one of them by the order they were written in",
                    uri.value()
                ),
            );
        }
        match kind {
            Kind::Tool => tools.push(route),
            Kind::Resource => resources.push(route),
            Kind::Prompt => prompts.push(route),
        }
        *impl_item = ImplItem::Verbatim(expanded.tokens);
    }
    item.items.extend(
        completers
            .into_iter()
            .map(|(_, tokens)| ImplItem::Verbatim(tokens)),
    );
    if tools.is_empty() && resources.is_empty() && prompts.is_empty() && errors.is_empty() {
        errors.push_at(
            Span::call_site(),
            "`#[secure_tool_router]` found no `#[secure_tool]`, `#[secure_resource]` or \
             `#[secure_prompt]` method in this impl block",
        );
    }

    let errors = errors.into_compile_error();
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    let body = quote! {
        ::secure_tool::__private::SecureToolRouter::new()
            #( .with_route(Self::#tools()) )*
            #( .with_resource(Self::#resources()) )*
            #( .with_prompt(Self::#prompts()) )*
    };
    let router = match router_fn {
        None => quote! {
            impl #impl_generics ::secure_tool::__private::SecureTools for #self_ty #where_clause {
                fn secure_tool_router() -> ::secure_tool::__private::SecureToolRouter<Self> {
                    #body
                }
            }
        },
        Some(name) => quote! {
            impl #impl_generics #self_ty #where_clause {
                /// The router of the secure tools, resources and prompts of this impl block.
                fn #name() -> ::secure_tool::__private::SecureToolRouter<Self> {
                    #body
                }
            }
        },
    };
    quote! {
        #errors
        #item
        #router
    }
}

/// `router = ident`, or nothing.
fn parse_args(args: TokenStream, errors: &mut Errors) -> Option<Ident> {
    let mut router = None;
    let parser = |input: ParseStream| -> syn::Result<()> {
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            if key == ROUTER {
                let name: Ident = input.parse()?;
                if router.replace(name).is_some() {
                    errors.push_at(key.span(), "duplicate `router` in `#[secure_tool_router]`");
                }
            } else {
                errors.push_at(
                    key.span(),
                    unknown_key(&key.to_string(), ROUTER_KEYS, "#[secure_tool_router]"),
                );
                input.parse::<syn::Expr>()?;
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(())
    };
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    router
}

/// The first of `params` that `tokens` name, at the place it is named.
fn mentioned(tokens: TokenStream, params: &[Ident]) -> Option<Ident> {
    tokens.into_iter().find_map(|token| match token {
        proc_macro2::TokenTree::Ident(ident) if params.contains(&ident) => Some(ident),
        proc_macro2::TokenTree::Group(group) => mentioned(group.stream(), params),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: TokenStream, input: TokenStream) -> String {
        expand(args, input).to_string()
    }

    #[test]
    fn routes_every_secure_tool() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// Reads.
                    #[secure_tool(authz = public, mode = read)]
                    async fn read(&self) -> Result<Out, E> { todo!() }
                    /// Writes.
                    #[secure_tool(authz = scopes("w"), mode = write, name = "write-note")]
                    async fn write(&self) -> Result<Out, E> { todo!() }
                    fn helper(&self) {}
                }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("SecureTools for Notes"), "{out}");
        assert!(
            out.contains(". with_route (Self :: __secure_tool_route_read ())"),
            "{out}"
        );
        assert!(
            out.contains(". with_route (Self :: __secure_tool_route_write ())"),
            "{out}"
        );
        assert!(out.contains("\"write-note\""), "{out}");
        // The expanded methods keep the attribute, marked as registered.
        assert_eq!(out.matches(REGISTERED).count(), 2, "{out}");
    }

    #[test]
    fn two_tools_of_one_name_are_refused_whatever_else_is_wrong() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// One.
                    #[secure_tool(authz = public, mode = read, colour = 1, name = "same")]
                    async fn one(&self) -> Result<Out, E> { todo!() }
                    /// Two.
                    #[secure_tool(authz = public, mode = read)]
                    async fn same(&self) -> Result<Out, E> { todo!() }
                }
            },
        );
        assert!(
            out.contains("two secure tools of this impl are named `same`"),
            "{out}"
        );
        assert!(out.contains("unknown key `colour`"), "{out}");
    }

    #[test]
    fn a_raw_method_name_is_the_tool_name_without_r_hash() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// One.
                    #[secure_tool(authz = public, mode = read)]
                    async fn r#type(&self) -> Result<Out, E> { todo!() }
                    /// Two.
                    #[secure_tool(authz = public, mode = read, name = "type")]
                    async fn other(&self) -> Result<Out, E> { todo!() }
                }
            },
        );
        assert!(
            out.contains("two secure tools of this impl are named `type`"),
            "{out}"
        );
        assert!(out.contains("__secure_tool_route_type"), "{out}");
    }

    #[test]
    fn rmcp_tool_beside_secure_tool_is_reported_once() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// A tool.
                    #[secure_tool(authz = public, mode = read)]
                    #[rmcp::tool]
                    async fn get(&self) -> Result<Out, E> { todo!() }
                }
            },
        );
        assert_eq!(out.matches("remove `#[tool]`").count(), 1, "{out}");
        assert!(!out.contains("found no"), "{out}");
    }

    #[test]
    fn a_plain_rmcp_tool_is_refused() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// A tool.
                    #[secure_tool(authz = public, mode = read)]
                    async fn get(&self) -> Result<Out, E> { todo!() }
                    #[tool]
                    fn raw(&self) -> String { todo!() }
                }
            },
        );
        assert!(out.contains("a plain rmcp `#[tool]`"), "{out}");
    }

    #[test]
    fn routes_resources_beside_tools_and_alone() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// A note.
                    #[secure_resource(uri = "notes://{id}", authz = public)]
                    async fn note(&self, params: NoteUri) -> Result<ResourceBody, E> { todo!() }
                    /// A tool of the same name: tools and resources are named apart.
                    #[secure_tool(authz = public, mode = read)]
                    async fn note_tool(&self) -> Result<Out, E> { todo!() }
                }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains(". with_resource (Self :: __secure_resource_route_note ())"),
            "{out}"
        );
        assert!(
            out.contains(". with_route (Self :: __secure_tool_route_note_tool ())"),
            "{out}"
        );
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Docs {
                    /// The readme.
                    #[secure_resource(uri = "docs://readme", authz = public)]
                    async fn readme(&self) -> Result<ResourceBody, E> { todo!() }
                }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(!out.contains("with_route"), "{out}");
    }

    #[test]
    fn a_tool_and_a_resource_may_share_a_name_but_two_resources_not_a_uri() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// A note.
                    #[secure_resource(uri = "docs://readme", authz = public, name = "same")]
                    async fn one(&self) -> Result<ResourceBody, E> { todo!() }
                    /// A tool.
                    #[secure_tool(authz = public, mode = read)]
                    async fn same(&self) -> Result<Out, E> { todo!() }
                    /// Another resource at the same URI.
                    #[secure_resource(uri = "docs://readme", authz = public)]
                    async fn two(&self) -> Result<ResourceBody, E> { todo!() }
                    /// Another resource of the same name.
                    #[secure_resource(uri = "docs://other", authz = public, name = "same")]
                    async fn three(&self) -> Result<ResourceBody, E> { todo!() }
                }
            },
        );
        assert!(!out.contains("two secure tools"), "{out}");
        assert!(
            out.contains("two secure resources of this impl are named `same`"),
            "{out}"
        );
        assert!(
            out.contains("two secure resources of this impl have the URI `docs://readme`"),
            "{out}"
        );
    }

    #[test]
    fn a_method_is_a_tool_or_a_resource() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// Both.
                    #[secure_tool(authz = public, mode = read)]
                    #[secure_resource(uri = "docs://readme", authz = public)]
                    async fn both(&self) -> Result<ResourceBody, E> { todo!() }
                }
            },
        );
        assert_eq!(
            out.matches("a tool or a resource, not both").count(),
            1,
            "{out}"
        );
        // Neither attribute is left to expand on its own and say more.
        assert!(!out.contains("secure_resource (uri"), "{out}");
        assert!(!out.contains("found no"), "{out}");
    }

    #[test]
    fn routes_prompts_alone_or_beside_others_and_refuses_two_of_one_name() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// Summarise.
                    #[secure_prompt(authz = public)]
                    async fn summarise(&self, args: Summary) -> Result<PromptReply, E> { todo!() }
                    /// Hello.
                    #[secure_prompt(authz = public, name = "hello")]
                    async fn greet(&self) -> Result<PromptReply, E> { todo!() }
                }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains(". with_prompt (Self :: __secure_prompt_route_summarise ())"),
            "{out}"
        );
        assert!(
            out.contains(". with_prompt (Self :: __secure_prompt_route_greet ())"),
            "{out}"
        );
        assert!(!out.contains("with_route"), "{out}");
        assert_eq!(out.matches(REGISTERED).count(), 2, "{out}");

        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// A prompt.
                    #[secure_prompt(authz = public, name = "same")]
                    async fn one(&self) -> Result<PromptReply, E> { todo!() }
                    /// A tool and a resource of the same name: named apart.
                    #[secure_tool(authz = public, mode = read)]
                    async fn same(&self) -> Result<Out, E> { todo!() }
                    /// Another prompt of the same name.
                    #[secure_prompt(authz = public)]
                    async fn same_prompt(&self) -> Result<PromptReply, E> { todo!() }
                    /// And another.
                    #[secure_prompt(authz = public, name = "same_prompt")]
                    async fn third(&self) -> Result<PromptReply, E> { todo!() }
                }
            },
        );
        assert!(!out.contains("two secure tools"), "{out}");
        assert!(!out.contains("named `same`"), "{out}");
        assert!(
            out.contains("two secure prompts of this impl are named `same_prompt`"),
            "{out}"
        );
    }

    #[test]
    fn a_method_is_a_prompt_or_something_else() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// Both.
                    #[secure_prompt(authz = public)]
                    #[secure_resource(uri = "docs://readme", authz = public)]
                    async fn both(&self) -> Result<PromptReply, E> { todo!() }
                }
            },
        );
        assert_eq!(
            out.matches("a method is a prompt or a resource, not both: keep `#[secure_prompt]` or `#[secure_resource]`").count(),
            1,
            "{out}"
        );
        assert!(!out.contains("secure_resource (uri"), "{out}");
    }

    #[test]
    fn a_completer_named_by_two_handlers_is_called_through_one_hidden_method() {
        let out = expand_str(
            TokenStream::new(),
            quote! {
                impl Notes {
                    /// A note.
                    #[secure_resource(uri = "notes://{id}", authz = public, complete(id = Self::note_ids))]
                    async fn note(&self, params: NoteUri) -> Result<ResourceBody, E> { todo!() }
                    /// Summarise a note.
                    #[secure_prompt(authz = public, complete(id = Self::note_ids))]
                    async fn summarise(&self, args: NoteArgs) -> Result<PromptReply, E> { todo!() }
                    async fn note_ids(&self, request: CompletionRequest) -> Result<Vec<String>, E> { todo!() }
                }
            },
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert_eq!(
            out.matches("fn __secure_tool_completer_note_ids").count(),
            1,
            "{out}"
        );
        assert_eq!(
            out.matches("Self :: __secure_tool_completer_note_ids)")
                .count(),
            2,
            "{out}"
        );
        // The completer itself stays as written.
        assert!(out.contains("async fn note_ids (& self"), "{out}");
    }

    #[test]
    fn an_impl_without_tools_or_not_an_impl_is_refused() {
        let out = expand_str(TokenStream::new(), quote!(impl Notes {}));
        assert!(
            out.contains(
                "found no `#[secure_tool]`, `#[secure_resource]` or `#[secure_prompt]` method"
            ),
            "{out}"
        );
        let out = expand_str(
            quote!(colour = 1),
            quote!(
                struct Notes;
            ),
        );
        assert!(out.contains("goes on the inherent `impl` block"), "{out}");
        let out = expand_str(
            quote!(router = a, colour = 1, router = b),
            quote!(impl Notes {}),
        );
        assert!(out.contains("unknown key `colour`"), "{out}");
        assert!(out.contains("duplicate `router`"), "{out}");
    }
}

//! Policies in the [Cedar](https://www.cedarpolicy.com) language, kept as data beside the
//! code, validated against the server's tools before it serves, replaceable at run time.
//!
//! A tool guarded by `authz = cedar()` is decided by the policy set given to
//! [`SecureServerBuilder::cedar`](crate::SecureServerBuilder::cedar), with Cedar's own
//! authorizer (the reference implementation, `cedar-policy`):
//!
//! - **principal**: `User::"<subject>"`, with the attributes `subject` (a `String`),
//!   `scopes` and `roles` (each a `Set<String>`), and a member of `Role::"<role>"` for each
//!   of its roles (`principal in Role::"admin"`). Anonymous callers are denied before
//!   Cedar is asked, as with every policy but `public`.
//! - **action**: `Action::"<tool>"` for a tool, `Action::"prompt:<name>"` for a prompt,
//!   `Action::"resource:<name>"` for a resource.
//! - **resource**: what the call names, where the tool declares it
//!   (`cedar().resource("Note", "id")`: `Note::"<the id argument>"`, whose attributes the
//!   [`EntityLoader`] loads); otherwise `Tool::"<tool>"`, `Prompt::"<name>"` or
//!   `McpResource::"<name>"`.
//! - **context**: `mode` (`"read"` or `"write"`), and `arguments`, the arguments the tool
//!   chooses to expose (`cedar().context(["title"])`), typed from its input schema.
//!
//! Only an explicit `Allow` reached with no error lets the call through. Everything else
//! denies, with the caller told nothing more than for any denial and the reason written
//! to the audit log: no policy permits, a `forbid` applies (it overrides every `permit`),
//! a policy's evaluation errs, the entity the call names does not exist (or its
//! attributes do not fit the schema), the arguments the context needs are missing or of
//! the wrong type, or no policy set is bound (a route built without a server's
//! `.cedar(..)`). The evaluation runs under the authorization deadline like any policy.
//!
//! # Checked before serving
//!
//! [`SecureServerBuilder::cedar`](crate::SecureServerBuilder::cedar) generates the Cedar
//! schema from the server's Cedar-guarded operations (see [`CedarPolicies::schema`]),
//! appends it to the application's own entity types
//! ([`CedarPolicies::with_schema`]), and validates the policy set against it in Cedar's
//! strict mode: an action that names no tool, an attribute nobody provides, a type error,
//! a policy set that does not parse or permits nothing at all is an error naming the
//! file and line, and the server is not built.
//!
//! # Reloading
//!
//! [`CedarPolicies::reload`] reads the files again and [`CedarPolicies::replace`] takes a
//! new text; either validates the new set against the same schema and swaps it in at
//! once. A call decides with the set it started with; a set that does not validate is
//! refused, logged, and the one in force stays.
//!
//! ```
//! use secure_tool::prelude::*;
//! use secure_tool::cedar::{cedar, CedarPolicies};
//!
//! #[derive(Clone)]
//! struct Notes;
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct NoteId { id: i64 }
//! #[derive(serde::Serialize, schemars::JsonSchema)]
//! struct Done { ok: bool }
//!
//! #[secure_tool_router]
//! impl Notes {
//!     /// Deletes a note.
//!     #[secure_tool(authz = cedar().resource("Note", "id"), mode = write)]
//!     async fn delete_note(&self, args: NoteId, _w: WriteAccess<'_>) -> Result<Done, ToolError> {
//!         Ok(Done { ok: true })
//!     }
//! }
//! impl secure_tool::rmcp::ServerHandler for Notes {}
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policies = CedarPolicies::from_text(
//!     "notes.cedar",
//!     r#"
//!     @id("admins delete")
//!     permit(principal in Role::"admin", action == Action::"delete_note", resource);
//!     @id("note 7 is kept")
//!     forbid(principal, action, resource == Note::"7");
//!     "#,
//! )?
//! .with_schema("notes.cedarschema", "entity Note;")?;
//! let server = SecureServer::builder(Notes).cedar(policies)?.build();
//!
//! let admin = Principal::new("root").with_roles(["admin"]);
//! let args = |id: i64| serde_json::json!({ "id": id }).as_object().cloned();
//! let deleted = server.call("delete_note", args(3), admin.clone()).await?;
//! assert_eq!(deleted.is_error, Some(false));
//! let kept = server.call("delete_note", args(7), admin).await?;
//! assert_eq!(kept.is_error, Some(true));
//! let other = server.call("delete_note", args(3), Principal::new("ada")).await?;
//! assert_eq!(other.is_error, Some(true));
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use cedar_policy::{Authorizer, EntityTypeName, EntityUid, Schema, ValidationMode};

use crate::authz::{IntoPolicy, Policy, PolicyError};

mod decide;
mod schema;
mod source;

use source::{Parsed, Source};

/// A Cedar-guarded operation: what `authz = cedar()` evaluates to. See the
/// [module](self) docs for what Cedar is asked.
///
/// ```
/// use secure_tool::cedar::cedar;
/// use secure_tool::authz::Policy;
/// let policy: Policy = cedar().resource("Note", "id").context(["title"]).into();
/// assert_eq!(policy.to_string(), "cedar (resource: Note from `id`; context: title)");
/// ```
pub fn cedar() -> Cedar {
    Cedar {
        resource: None,
        context: Vec::new(),
    }
}

/// What a Cedar-guarded operation hands Cedar besides the caller and the action: built by
/// [`cedar`], converted into a [`Policy`] by `authz = ...` (or `.into()` inside `any_of`
/// and `all_of`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cedar {
    resource: Option<ResourceField>,
    context: Vec<Box<str>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ResourceField {
    entity_type: Box<str>,
    field: Box<str>,
}

impl Cedar {
    /// The call's resource is the entity of type `entity_type` whose id is the argument
    /// `field` (a string or an integer in the tool's input schema): `Note::"42"` for
    /// `{"id": 42}`. The type is declared in the application's schema
    /// ([`CedarPolicies::with_schema`]); its attributes are loaded by the
    /// [`EntityLoader`], if one is given. A call whose argument is absent or of another
    /// type names no resource, and is denied.
    pub fn resource(mut self, entity_type: &str, field: &str) -> Self {
        self.resource = Some(ResourceField {
            entity_type: entity_type.into(),
            field: field.into(),
        });
        self
    }

    /// Exposes the arguments `fields` to the policies as `context.arguments.<field>`,
    /// typed from the input schema (strings, integers, booleans, lists of them). They are
    /// the arguments as sent, read before they are validated: a call whose arguments do
    /// not fit the types is denied.
    pub fn context<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.context = fields.into_iter().map(|f| f.as_ref().into()).collect();
        self
    }
}

impl fmt::Display for Cedar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cedar")?;
        let mut parts = Vec::new();
        if let Some(resource) = &self.resource {
            parts.push(format!(
                "resource: {} from `{}`",
                resource.entity_type, resource.field
            ));
        }
        if !self.context.is_empty() {
            parts.push(format!("context: {}", self.context.join(", ")));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join("; "))?;
        }
        Ok(())
    }
}

impl From<Cedar> for Policy {
    fn from(shape: Cedar) -> Self {
        Policy::cedar(Arc::new(Rule {
            shape,
            binding: None,
        }))
    }
}

impl IntoPolicy for Cedar {
    fn into_policy(self) -> Policy {
        self.into()
    }
}

/// The part of the protocol a Cedar-guarded operation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Surface {
    Tool,
    Prompt,
    Resource,
}

impl Surface {
    const ALL: [Surface; 3] = [Surface::Tool, Surface::Prompt, Surface::Resource];

    /// The id of the operation `name`'s action.
    pub(crate) fn action_id(self, name: &str) -> String {
        match self {
            Surface::Tool => name.to_owned(),
            Surface::Prompt => format!("prompt:{name}"),
            Surface::Resource => format!("resource:{name}"),
        }
    }

    /// The entity type of an operation that names no resource of its own.
    const fn entity_type(self) -> &'static str {
        match self {
            Surface::Tool => "Tool",
            Surface::Prompt => "Prompt",
            Surface::Resource => "McpResource",
        }
    }

    fn describe(self, name: &str) -> String {
        match self {
            Surface::Tool => format!("tool `{name}`"),
            Surface::Prompt => format!("prompt `{name}`"),
            Surface::Resource => format!("resource `{name}`"),
        }
    }
}

/// A Cedar part of a policy, bound to a server's policy set once the server is built.
pub(crate) struct Rule {
    pub(crate) shape: Cedar,
    pub(crate) binding: Option<Binding>,
}

/// What a bound Cedar part asks.
pub(crate) struct Binding {
    policies: CedarPolicies,
    action: EntityUid,
    action_id: Box<str>,
    resource: Resource,
    /// The arguments exposed as `context.arguments`, their types, and whether each must
    /// be there.
    context: Vec<(Box<str>, schema::Kind, bool)>,
}

/// Where the call's resource comes from.
#[derive(Clone)]
enum Resource {
    /// The operation itself: `Tool::"<name>"`.
    Fixed(EntityUid),
    /// The entity of this type whose id is this argument.
    Field(EntityTypeName, Box<str>),
}

impl Rule {
    /// The action this part asks about, once bound.
    pub(crate) fn action_id(&self) -> Option<&str> {
        self.binding.as_ref().map(|b| &*b.action_id)
    }
}

impl Rule {
    /// Whether the call's resource is named by one of its arguments.
    #[cfg(feature = "testing")]
    pub(crate) fn names_its_resource(&self) -> bool {
        self.shape.resource.is_some()
    }
}

/// `rule` decided by the policies in `text` in place of its server's set, against the same
/// schema and with the same entity loader: the Cedar probes of the fail-closed audit.
/// `None` for a rule not bound to a server, or a text that does not parse.
#[cfg(feature = "testing")]
pub(crate) fn probe(rule: &Rule, text: &str) -> Option<Policy> {
    let binding = rule.binding.as_ref()?;
    let bound = binding.policies.shared.schema.get()?;
    let parsed = source::parse(&[Source::text("audit", text)]).ok()?;
    let loader = OnceLock::new();
    if let Some(original) = binding.policies.shared.loader.get() {
        let _ = loader.set(original.clone());
    }
    let policies = CedarPolicies {
        shared: Arc::new(Shared {
            sources: Mutex::new(Sources {
                policies: Vec::new(),
                schema: None,
            }),
            loader,
            schema: OnceLock::from(Bound {
                schema: bound.schema.clone(),
                text: bound.text.clone(),
            }),
            active: RwLock::new(Arc::new(Active::new(parsed, Some(bound.schema.clone())))),
        }),
    };
    Some(Policy::cedar(Arc::new(Rule {
        shape: rule.shape.clone(),
        binding: Some(Binding {
            policies,
            action: binding.action.clone(),
            action_id: binding.action_id.clone(),
            resource: binding.resource.clone(),
            context: binding.context.clone(),
        }),
    })))
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.shape, f)
    }
}

/// The error of a policy set or schema that cannot be used: it does not read, parse or
/// validate, or the server's operations cannot be described to Cedar. Its text names the
/// file and line of each problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CedarError(String);

impl CedarError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for CedarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CedarError {}

/// The future of [`EntityLoader::load`]: the entity's attributes as a JSON object (in
/// Cedar's JSON entity format), `None` when there is no such entity.
pub type LoadFuture<'a> = Pin<
    Box<
        dyn Future<Output = Result<Option<serde_json::Map<String, serde_json::Value>>, PolicyError>>
            + Send
            + 'a,
    >,
>;

/// Loads the attributes of the entity a call names (`Note::"42"`: its owner), from the
/// application's store. `None` (no such entity) and an error deny the call; so do
/// attributes that do not fit the schema.
///
/// ```
/// use secure_tool::cedar::{EntityLoader, LoadFuture};
///
/// struct Owners;
/// impl EntityLoader for Owners {
///     fn load<'a>(&'a self, entity_type: &'a str, id: &'a str) -> LoadFuture<'a> {
///         Box::pin(async move {
///             Ok((entity_type == "Note" && id == "1").then(|| {
///                 serde_json::json!({ "owner": "ada" }).as_object().cloned().unwrap()
///             }))
///         })
///     }
/// }
/// ```
pub trait EntityLoader: Send + Sync + 'static {
    /// The attributes of the entity `entity_type::"id"`, or `None` if there is none.
    fn load<'a>(&'a self, entity_type: &'a str, id: &'a str) -> LoadFuture<'a>;
}

/// A Cedar policy set (from files or texts), the application's schema fragment and entity
/// loader: given to [`SecureServerBuilder::cedar`](crate::SecureServerBuilder::cedar),
/// which validates it and binds the server's `cedar()` policies to it. Cloning shares
/// the set: a [`reload`](Self::reload) through any clone is seen by every call.
#[derive(Clone)]
pub struct CedarPolicies {
    shared: Arc<Shared>,
}

struct Shared {
    /// The sources, read again on reload; one reload at a time.
    sources: Mutex<Sources>,
    loader: OnceLock<Arc<dyn EntityLoader>>,
    /// The schema, once a server bound the set.
    schema: OnceLock<Bound>,
    /// The set in force.
    active: RwLock<Arc<Active>>,
}

struct Sources {
    policies: Vec<Source>,
    schema: Option<Source>,
}

/// The schema a server generated, with the application's fragment before it.
struct Bound {
    schema: Arc<Schema>,
    text: String,
}

/// A validated policy set, as calls see it.
pub(crate) struct Active {
    /// The set, where each policy came from, and its digest.
    parsed: Parsed,
    schema: Option<Arc<Schema>>,
    authorizer: Authorizer,
}

impl CedarPolicies {
    /// The policies in the file `path` (read now, and again on [`reload`](Self::reload)).
    ///
    /// # Errors
    ///
    /// The file cannot be read, does not parse (each error with its line), holds a
    /// template, or permits nothing.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CedarError> {
        Self::from_sources(vec![Source::file(path.as_ref().to_owned())?])
    }

    /// The policies in the files `paths`, as one set.
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file), for any of them.
    pub fn from_files<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Self, CedarError> {
        let sources = paths
            .into_iter()
            .map(|p| Source::file(p.as_ref().to_owned()))
            .collect::<Result<_, _>>()?;
        Self::from_sources(sources)
    }

    /// The policies in `text`, named `name` in errors and policy names.
    ///
    /// ```
    /// use secure_tool::cedar::CedarPolicies;
    /// let set = CedarPolicies::from_text("inline", "permit(principal, action, resource);").unwrap();
    /// assert!(set.digest().starts_with("sha256:"));
    /// let typo = CedarPolicies::from_text("inline", "permit(principal, action, resource)\nfrobid(principal, action, resource);");
    /// assert!(typo.unwrap_err().to_string().contains("inline line 2"));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file).
    pub fn from_text(name: &str, text: &str) -> Result<Self, CedarError> {
        Self::from_sources(vec![Source::text(name, text)])
    }

    fn from_sources(policies: Vec<Source>) -> Result<Self, CedarError> {
        let parsed = source::parse(&policies)?;
        Ok(Self {
            shared: Arc::new(Shared {
                sources: Mutex::new(Sources {
                    policies,
                    schema: None,
                }),
                loader: OnceLock::new(),
                schema: OnceLock::new(),
                active: RwLock::new(Arc::new(Active::new(parsed, None))),
            }),
        })
    }

    /// The application's entity types, in Cedar's schema syntax (`entity Note { owner:
    /// String };`), named `name` in errors; the generated part is appended to it when the
    /// server is built.
    ///
    /// # Errors
    ///
    /// The set is bound to a server already.
    pub fn with_schema(self, name: &str, text: &str) -> Result<Self, CedarError> {
        self.set_schema(Source::text(name, text))
    }

    /// [`with_schema`](Self::with_schema) from the file `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or the set is bound to a server already.
    pub fn with_schema_file(self, path: impl AsRef<Path>) -> Result<Self, CedarError> {
        self.set_schema(Source::file(path.as_ref().to_owned())?)
    }

    fn set_schema(self, schema: Source) -> Result<Self, CedarError> {
        if self.shared.schema.get().is_some() {
            return Err(CedarError::new(
                "the policy set is bound to a server already: its schema cannot change",
            ));
        }
        self.lock().schema = Some(schema);
        Ok(self)
    }

    /// Loads the attributes of the entities calls name with `loader`. Without one, the
    /// entity a call names has no attributes.
    ///
    /// # Panics
    ///
    /// A loader was given already.
    #[must_use]
    pub fn with_entities(self, loader: impl EntityLoader) -> Self {
        if self.shared.loader.set(Arc::new(loader)).is_err() {
            panic!("the policy set has an entity loader already");
        }
        self
    }

    /// The digest of the set in force (`sha256:` and the hex digest of its files' names and
    /// texts): what the manifest shows, and what tells two replicas' sets apart.
    pub fn digest(&self) -> String {
        self.active().parsed.digest.clone()
    }

    /// The whole schema the set was validated against (the application's fragment, then
    /// the generated part), once a server was built with it.
    ///
    /// ```
    /// use secure_tool::cedar::CedarPolicies;
    /// let set = CedarPolicies::from_text("p", "permit(principal, action, resource);").unwrap();
    /// assert_eq!(set.schema(), None);
    /// ```
    pub fn schema(&self) -> Option<&str> {
        self.shared.schema.get().map(|b| b.text.as_str())
    }

    /// Reads the set's files again, validates the new set against the schema, and puts it
    /// in force at once; returns its digest. Calls already deciding finish with the set
    /// they started with. A set that does not read, parse or validate is refused (logged
    /// as a warning) and the one in force stays. The schema fragment is not read again:
    /// it is the server's, fixed when it was built.
    ///
    /// # Errors
    ///
    /// Why the new set was refused, naming the file and line.
    pub fn reload(&self) -> Result<String, CedarError> {
        let mut sources = self.lock();
        let fresh = sources
            .policies
            .iter()
            .map(Source::reread)
            .collect::<Result<Vec<_>, _>>();
        let outcome = fresh.and_then(|fresh| {
            let digest = self.install(&fresh)?;
            sources.policies = fresh;
            Ok(digest)
        });
        self.logged(outcome)
    }

    /// Puts the policies in `text` (named `name`) in force in place of the set's files,
    /// as [`reload`](Self::reload) does; later reloads keep this text.
    ///
    /// # Errors
    ///
    /// Why the new set was refused; the one in force stays.
    pub fn replace(&self, name: &str, text: &str) -> Result<String, CedarError> {
        let mut sources = self.lock();
        let fresh = vec![Source::text(name, text)];
        let outcome = self.install(&fresh);
        if outcome.is_ok() {
            sources.policies = fresh;
        }
        self.logged(outcome)
    }

    fn logged(&self, outcome: Result<String, CedarError>) -> Result<String, CedarError> {
        match &outcome {
            Ok(digest) => tracing::info!(
                target: "secure_tool::cedar",
                %digest,
                "a new Cedar policy set is in force"
            ),
            Err(error) => tracing::warn!(
                target: "secure_tool::cedar",
                // One line in the log, whatever the number of problems.
                error = %error.0.lines().map(str::trim).collect::<Vec<_>>().join(" "),
                kept = %self.digest(),
                "the new Cedar policy set was refused: the one in force stays"
            ),
        }
        outcome
    }

    /// Parses and validates `sources` and puts them in force; their digest.
    fn install(&self, sources: &[Source]) -> Result<String, CedarError> {
        let parsed = source::parse(sources)?;
        let schema = self.shared.schema.get().map(|b| b.schema.clone());
        if let Some(schema) = &schema {
            validate(&parsed, sources, schema)?;
        }
        let active = Arc::new(Active::new(parsed, schema));
        let digest = active.parsed.digest.clone();
        *self
            .shared
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner) = active;
        Ok(digest)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sources> {
        self.shared
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The set in force.
    pub(crate) fn active(&self) -> Arc<Active> {
        self.shared
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn loader(&self) -> Option<&dyn EntityLoader> {
        self.shared.loader.get().map(|l| &**l)
    }

    /// Binds the set to the schema generated from `actions`: builds the whole schema,
    /// validates the set in force against it. A set bound already must be bound to the
    /// same schema.
    fn bind(&self, actions: &[schema::Action]) -> Result<(), CedarError> {
        let sources = self.lock();
        let generated = schema::generate(actions);
        let fragment = sources.schema.as_ref();
        let mut text = fragment.map(|s| s.text.clone()).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let generated_at = text.len();
        text.push_str(&generated);
        if let Some(bound) = self.shared.schema.get() {
            if bound.text != text {
                return Err(CedarError::new(
                    "the policy set is bound to another server's operations already: give \
                     each server its own `CedarPolicies`",
                ));
            }
            return Ok(());
        }
        let schema = match Schema::from_cedarschema_str(&text) {
            Ok((schema, warnings)) => {
                for warning in warnings {
                    tracing::warn!(target: "secure_tool::cedar", %warning, "Cedar schema");
                }
                Arc::new(schema)
            }
            Err(error) => {
                let at = miette::Diagnostic::labels(&error)
                    .and_then(|mut labels| labels.next())
                    .map(|label| match fragment {
                        Some(fragment) if label.offset() < generated_at => {
                            fragment.locate(label.offset())
                        }
                        _ => format!(
                            "the schema generated from the server's operations, line {}",
                            text[..label.offset().min(text.len())].matches('\n').count() + 1
                                - text[..generated_at].matches('\n').count()
                        ),
                    });
                let name = fragment.map_or("the generated schema", |s| s.name.as_str());
                return Err(CedarError::new(format!(
                    "the Cedar schema ({name} and the part generated from the server's \
                     operations) is not valid: {}{error:#}",
                    at.map(|at| format!("{at}: ")).unwrap_or_default()
                )));
            }
        };
        let active = self.active();
        validate(&active.parsed, &sources.policies, &schema)?;
        let _ = self.shared.schema.set(Bound {
            schema: schema.clone(),
            text,
        });
        let rebound = Arc::new(Active::new(active.parsed.clone(), Some(schema)));
        *self
            .shared
            .active
            .write()
            .unwrap_or_else(PoisonError::into_inner) = rebound;
        Ok(())
    }
}

impl fmt::Debug for CedarPolicies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CedarPolicies")
            .field("digest", &self.digest())
            .field("bound", &self.shared.schema.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Active {
    fn new(parsed: Parsed, schema: Option<Arc<Schema>>) -> Self {
        Self {
            parsed,
            schema,
            authorizer: Authorizer::new(),
        }
    }
}

/// Validates `parsed` (read from `sources`) against `schema` in Cedar's strict mode: every
/// error, each with its file and line, or `Ok`. Warnings are logged.
fn validate(parsed: &Parsed, sources: &[Source], schema: &Schema) -> Result<(), CedarError> {
    let validator = cedar_policy::Validator::new(schema.clone());
    let result = validator.validate(&parsed.set, ValidationMode::Strict);
    for warning in result.validation_warnings() {
        tracing::warn!(target: "secure_tool::cedar", %warning, "Cedar policy");
    }
    if result.validation_passed() {
        return Ok(());
    }
    let mut message = String::from("the Cedar policies do not validate against the schema:");
    for error in result.validation_errors() {
        let id = error.policy_id();
        let source = parsed
            .origin
            .iter()
            .find(|(p, _)| p == id)
            .and_then(|(_, index)| sources.get(*index));
        let at = source
            .and_then(|s| s.locate_diagnostic(error))
            .unwrap_or_else(|| id.to_string());
        message.push_str(&format!("\n  {at}: {error}"));
        if let Some(help) = miette::Diagnostic::help(error) {
            message.push_str(&format!(" ({help})"));
        }
    }
    Err(CedarError::new(message))
}

/// Binds every `cedar()` part of `tools`' routes to `policies`: generates the schema from
/// them and validates the set against it.
pub(crate) fn bind<S>(
    tools: &mut crate::route::SecureToolRouter<S>,
    policies: &CedarPolicies,
) -> Result<(), CedarError> {
    let mut actions = Vec::new();
    let mut shape_of =
        |surface: Surface, name: &str, policy: &Policy, schema: &serde_json::Value| {
            let mut shapes = policy.cedar_rules().into_iter().map(|r| &r.shape);
            let Some(first) = shapes.next() else {
                return Ok(());
            };
            if shapes.any(|other| other != first) {
                return Err(CedarError::new(format!(
                    "{} has two Cedar parts that name different resources or contexts: one \
                 operation is one Cedar action",
                    surface.describe(name)
                )));
            }
            actions.push(schema::Action::of(surface, name, first, schema)?);
            Ok(())
        };
    for route in tools.routes.values() {
        shape_of(
            Surface::Tool,
            &route.spec.name,
            &route.spec.policy,
            route.input.schema(),
        )?;
    }
    for route in tools.prompts.values() {
        shape_of(
            Surface::Prompt,
            &route.spec.name,
            &route.spec.policy,
            route.guard.params.schema(),
        )?;
    }
    for route in &tools.resources {
        shape_of(
            Surface::Resource,
            &route.spec.name,
            &route.spec.policy,
            route.guard.params.schema(),
        )?;
    }
    actions.sort_by(|a, b| a.id.cmp(&b.id));
    policies.bind(&actions)?;

    let binder = |surface: Surface, name: &str| {
        let policies = policies.clone();
        let name = name.to_owned();
        let context: Vec<_> = actions
            .iter()
            .find(|action| action.id == surface.action_id(&name))
            .map(|action| {
                action
                    .context
                    .iter()
                    .map(|(field, kind, required)| (field.as_str().into(), kind.clone(), *required))
                    .collect()
            })
            .unwrap_or_default();
        move |rule: &Rule| -> Result<Rule, CedarError> {
            let action_id = surface.action_id(&name);
            let action = entity_uid("Action", &action_id)?;
            let resource = match &rule.shape.resource {
                Some(r) => Resource::Field(type_name(&r.entity_type)?, r.field.clone()),
                None => Resource::Fixed(entity_uid(surface.entity_type(), &name)?),
            };
            Ok(Rule {
                shape: rule.shape.clone(),
                binding: Some(Binding {
                    policies: policies.clone(),
                    action,
                    action_id: action_id.into(),
                    resource,
                    context: context.clone(),
                }),
            })
        }
    };
    // A spec shared with a clone of the router is copied before its policy is bound.
    let bind_spec = |surface: Surface, name: &str, policy: &mut Policy| {
        if policy.cedar_rules().is_empty() {
            return Ok(());
        }
        policy.bind_cedar(&binder(surface, name))
    };
    for route in tools.routes.values_mut() {
        let spec = std::sync::Arc::make_mut(&mut route.spec);
        bind_spec(Surface::Tool, &spec.name, &mut spec.policy)?;
    }
    for route in tools.prompts.values_mut() {
        let spec = std::sync::Arc::make_mut(&mut route.spec);
        bind_spec(Surface::Prompt, &spec.name, &mut spec.policy)?;
    }
    for route in &mut tools.resources {
        let spec = std::sync::Arc::make_mut(&mut route.spec);
        bind_spec(Surface::Resource, &spec.name, &mut spec.policy)?;
    }
    Ok(())
}

fn type_name(name: &str) -> Result<EntityTypeName, CedarError> {
    name.parse()
        .map_err(|e| CedarError::new(format!("`{name}` is not a Cedar entity type: {e}")))
}

fn entity_uid(entity_type: &str, id: &str) -> Result<EntityUid, CedarError> {
    Ok(EntityUid::from_type_name_and_id(
        type_name(entity_type)?,
        cedar_policy::EntityId::new(id),
    ))
}

#[cfg(test)]
mod tests;

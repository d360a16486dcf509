//! The published input schema, enforced: a tool's arguments are checked against exactly
//! the schema `tools/list` shows (JSON Schema 2020-12, formats included), compiled once
//! when the route is built, and a refusal names the field and the constraint, never the
//! caller's value or key.

use std::borrow::Cow;
use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationError, ValidationErrorKind};
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{Draft, JsonType, Validator};
use rmcp::model::JsonObject;
use serde_json::Value;

use super::field_path::{DeclaredNames, FieldPath, Problem, count};
use crate::audit;

/// At most this many errors are read from the validator for one call (the caller is shown
/// the first few of them, sorted).
const MAX_ERRORS: usize = 32;
/// At most this many names or values are listed in one message (`one of ...`).
const MAX_LISTED: usize = 12;

/// A tool's input schema, compiled, and the names it declares.
pub(crate) struct InputSchema {
    validator: Validator,
    schema: Value,
    names: DeclaredNames,
}

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputSchema").finish_non_exhaustive()
    }
}

impl InputSchema {
    /// Compiles the published input schema of tool `tool`, offline (it is self-contained:
    /// its references point into its own `$defs`).
    ///
    /// # Panics
    ///
    /// If the schema does not compile (an invalid regular expression in a `pattern`, a
    /// keyword of the wrong type, a reference to anything outside the schema): the schema
    /// is the server's own, so this is a bug of the server, found when it is built.
    pub(crate) fn compile(tool: &str, schema: &Arc<JsonObject>) -> Self {
        let schema = Value::Object((**schema).clone());
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .offline()
            .build(&schema)
            .unwrap_or_else(|error| {
                panic!(
                    "the input schema of tool `{tool}` does not compile: {error} (at `{}`); \
                     check the `#[schemars(...)]` attributes or the `JsonSchema` implementation \
                     of its arguments",
                    error.schema_path()
                )
            });
        let names = match &schema {
            Value::Object(object) => DeclaredNames::of(object),
            _ => DeclaredNames::default(),
        };
        Self {
            validator,
            schema,
            names,
        }
    }

    /// The schema as published.
    #[cfg(feature = "cedar")]
    pub(crate) fn schema(&self) -> &Value {
        &self.schema
    }

    /// The names the schema declares, which messages may show.
    pub(crate) fn names(&self) -> &DeclaredNames {
        &self.names
    }

    /// `arguments` without the members no schema of theirs declares, where the schema lets
    /// undeclared members through only to be ignored (an object schema with `properties`
    /// and no `additionalProperties`, `patternProperties` or `unevaluatedProperties`).
    /// Such a member reaches nothing, unless the type reads it under another name than
    /// the one published (`#[serde(alias = "..")]`, which schemas do not show): then it
    /// would fill a field past the field's own checks, and a policy reading the
    /// arguments would not see it under the field's name. Nested objects are followed
    /// through `properties`, `items` and local `$ref`s (under a level that refuses
    /// undeclared members too), and an object is held to every part of an `allOf` and to
    /// each alternative of an `anyOf` or `oneOf` its tag (a member an alternative fixes
    /// to one value) does not rule out: a member none of them declares is dropped (an
    /// enum's variants, untagged or tagged, and flattened fields alike).
    pub(crate) fn strip_undeclared(&self, arguments: &mut JsonObject) {
        strip_object(arguments, &self.schema, &self.schema, 0);
    }

    /// Whether `arguments` conform to the schema; if not, what is wrong, each problem
    /// naming its place and the constraint (at most [`MAX_ERRORS`] read).
    pub(crate) fn check(&self, arguments: &Value) -> Result<(), Vec<Problem>> {
        if self.validator.is_valid(arguments) {
            return Ok(());
        }
        let mut problems = Vec::new();
        for error in self.validator.iter_errors(arguments).take(MAX_ERRORS) {
            self.describe(&error, arguments, &mut problems);
        }
        if problems.is_empty() {
            // `is_valid` and `iter_errors` disagree: refuse all the same.
            problems.push(Problem::new(
                FieldPath::root(),
                "do not match the tool's input schema",
            ));
        }
        Err(problems)
    }

    /// Adds what `error` says to `problems`.
    fn describe(
        &self,
        error: &ValidationError<'_>,
        arguments: &Value,
        problems: &mut Vec<Problem>,
    ) {
        let path = self.path(error.instance_path(), arguments);
        let expected: Cow<'static, str> = match error.kind() {
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                return self.describe_alternatives(path, context, arguments, problems);
            }
            ValidationErrorKind::Required { property } => {
                let mut path = path;
                path.push_declared(property.as_str().unwrap_or("?"));
                problems.push(Problem::new(path, "required"));
                return;
            }
            ValidationErrorKind::AdditionalProperties { .. }
            | ValidationErrorKind::UnevaluatedProperties { .. } => self.unknown_field(error).into(),
            ValidationErrorKind::Type { kind } => format!("expected {}", types(kind)).into(),
            ValidationErrorKind::Enum { options } => one_of(options).into(),
            ValidationErrorKind::Constant { expected_value } => {
                format!("must be {}", listed(expected_value)).into()
            }
            ValidationErrorKind::MaxLength { limit } => {
                format!("at most {}", count(*limit, "character", "characters")).into()
            }
            ValidationErrorKind::MinLength { limit } => {
                format!("at least {}", count(*limit, "character", "characters")).into()
            }
            ValidationErrorKind::Pattern { pattern } => {
                format!("must match the pattern `{pattern}`").into()
            }
            ValidationErrorKind::BacktrackLimitExceeded { .. }
            | ValidationErrorKind::RegexEngineFailure { .. } => {
                "could not be matched against its pattern".into()
            }
            ValidationErrorKind::Format { format } => format!("must be a valid `{format}`").into(),
            ValidationErrorKind::Minimum { limit } => format!("at least {limit}").into(),
            ValidationErrorKind::Maximum { limit } => format!("at most {limit}").into(),
            ValidationErrorKind::ExclusiveMinimum { limit } => {
                format!("must be more than {limit}").into()
            }
            ValidationErrorKind::ExclusiveMaximum { limit } => {
                format!("must be less than {limit}").into()
            }
            ValidationErrorKind::MultipleOf { multiple_of } => {
                format!("must be a multiple of {multiple_of}").into()
            }
            ValidationErrorKind::MaxItems { limit } => {
                format!("at most {}", count(*limit, "item", "items")).into()
            }
            ValidationErrorKind::AdditionalItems { limit } => {
                format!("at most {}", count(*limit, "item", "items")).into()
            }
            ValidationErrorKind::MinItems { limit } => {
                format!("at least {}", count(*limit, "item", "items")).into()
            }
            ValidationErrorKind::UniqueItems => "items must be unique".into(),
            ValidationErrorKind::Contains => "must contain an item of the expected form".into(),
            ValidationErrorKind::UnevaluatedItems { .. } => "has more items than allowed".into(),
            ValidationErrorKind::MaxProperties { limit } => {
                format!("at most {}", count(*limit, "property", "properties")).into()
            }
            ValidationErrorKind::MinProperties { limit } => {
                format!("at least {}", count(*limit, "property", "properties")).into()
            }
            ValidationErrorKind::PropertyNames { .. } => "a property name is not allowed".into(),
            ValidationErrorKind::OneOfMultipleValid { .. } => {
                "matches more than one of the allowed forms".into()
            }
            ValidationErrorKind::Not { .. } => "matches a form that is not allowed".into(),
            ValidationErrorKind::FalseSchema => "not allowed".into(),
            ValidationErrorKind::ContentEncoding { content_encoding } => {
                format!("must be `{content_encoding}`-encoded").into()
            }
            ValidationErrorKind::ContentMediaType { content_media_type } => {
                format!("must be `{content_media_type}`").into()
            }
            ValidationErrorKind::FromUtf8 { .. } => "must decode to UTF-8 text".into(),
            ValidationErrorKind::Custom { keyword, .. } => {
                format!("does not satisfy `{keyword}`").into()
            }
            ValidationErrorKind::Referencing(error) => {
                tracing::warn!(
                    target: audit::TARGET,
                    %error,
                    "a reference of a tool's input schema could not be resolved"
                );
                "could not be checked".into()
            }
        };
        problems.push(Problem::new(path, expected));
    }

    /// An `anyOf` / `oneOf` no branch of which matched: the problems of the branch that got
    /// furthest into the arguments; when several got as far, what each expected there.
    fn describe_alternatives(
        &self,
        path: FieldPath,
        branches: &[Vec<ValidationError<'static>>],
        arguments: &Value,
        problems: &mut Vec<Problem>,
    ) {
        let reach = |errors: &[ValidationError<'_>]| {
            errors
                .iter()
                .map(|error| {
                    // A missing or unknown member is a problem one level down.
                    let own = matches!(
                        error.kind(),
                        ValidationErrorKind::Required { .. }
                            | ValidationErrorKind::AdditionalProperties { .. }
                            | ValidationErrorKind::UnevaluatedProperties { .. }
                    );
                    error.instance_path().segments().count() + usize::from(own)
                })
                .max()
                .unwrap_or(0)
        };
        let furthest = branches
            .iter()
            .map(|errors| reach(errors))
            .max()
            .unwrap_or(0);
        let leaders: Vec<&Vec<ValidationError<'static>>> = branches
            .iter()
            .filter(|errors| reach(errors) == furthest)
            .collect();
        if let [only] = leaders.as_slice() {
            for error in only.iter() {
                self.describe(error, arguments, problems);
            }
            return;
        }
        // Several branches failed at this very place: say what each wanted here (its
        // values if it lists them, else its type), when each says it simply.
        let mut wanted: Vec<String> = Vec::new();
        for errors in &leaders {
            let here = |error: &&ValidationError<'_>| {
                error.instance_path().segments().count() == furthest
                    || matches!(error.kind(), ValidationErrorKind::Required { .. })
            };
            let values = errors
                .iter()
                .filter(here)
                .find_map(|error| match error.kind() {
                    ValidationErrorKind::Enum { options } => Some(list_values(options)),
                    ValidationErrorKind::Constant { expected_value } => {
                        Some(vec![listed(expected_value)])
                    }
                    _ => None,
                });
            let simple = values.or_else(|| {
                errors
                    .iter()
                    .filter(here)
                    .find_map(|error| match error.kind() {
                        ValidationErrorKind::Type { kind } => Some(vec![types(kind)]),
                        _ => None,
                    })
            });
            match simple {
                Some(values) => wanted.extend(values),
                None => {
                    problems.push(Problem::new(
                        path,
                        "does not match any of the allowed forms",
                    ));
                    return;
                }
            }
        }
        wanted.dedup();
        problems.push(Problem::new(path, format!("expected {}", or_list(&wanted))));
    }

    /// "unknown field (allowed: `id`, `title`)", the names from the schema object that
    /// refused it (the unknown names themselves are the caller's, and not shown).
    fn unknown_field(&self, error: &ValidationError<'_>) -> String {
        let owner = error
            .schema_path()
            .as_str()
            .rsplit_once('/')
            .and_then(|(owner, _keyword)| self.schema.pointer(owner));
        // Sorted, whatever order the JSON map keeps (serde_json's `preserve_order` may be
        // on in the build: the message must not depend on it).
        let mut names: Vec<&String> = owner
            .and_then(|schema| schema.get("properties"))
            .and_then(Value::as_object)
            .map(|properties| properties.keys().collect())
            .unwrap_or_default();
        names.sort_unstable();
        let allowed: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
        if allowed.is_empty() {
            "unknown field".to_owned()
        } else {
            format!("unknown field (allowed: {})", cut_list(&allowed).join(", "))
        }
    }

    /// The place `location` names in `arguments`: indices where the value is an array,
    /// declared names where it is an object, `*` for the caller's own keys.
    fn path(&self, location: &Location, arguments: &Value) -> FieldPath {
        let mut path = FieldPath::root();
        let mut value = Some(arguments);
        for segment in location.segments() {
            let key: Cow<'_, str> = match segment {
                LocationSegment::Property(key) => key,
                LocationSegment::Index(index) => index.to_string().into(),
            };
            value = match value {
                Some(Value::Array(items)) => {
                    let index = key.parse::<usize>().ok();
                    match index {
                        Some(index) => path.push_index(index),
                        None => path.push_declared("*"),
                    }
                    index.and_then(|index| items.get(index))
                }
                Some(Value::Object(members)) => {
                    path.push_key(&key, &self.names);
                    members.get(&*key)
                }
                _ => {
                    path.push_declared("*");
                    None
                }
            };
        }
        path
    }
}

/// "an integer", "a string or null".
fn types(kind: &TypeKind) -> String {
    let one = |json_type: JsonType| -> &'static str {
        match json_type {
            JsonType::Array => "an array",
            JsonType::Boolean => "a boolean",
            JsonType::Integer => "an integer",
            JsonType::Null => "null",
            JsonType::Number => "a number",
            JsonType::Object => "an object",
            JsonType::String => "a string",
        }
    };
    match kind {
        TypeKind::Single(json_type) => one(*json_type).to_owned(),
        TypeKind::Multiple(set) => {
            // `null` last: "a string or null".
            let (nulls, others): (Vec<JsonType>, Vec<JsonType>) = set
                .iter()
                .partition(|json_type| *json_type == JsonType::Null);
            let names: Vec<String> = others
                .into_iter()
                .chain(nulls)
                .map(|json_type| one(json_type).to_owned())
                .collect();
            or_list(&names)
        }
    }
}

/// "must be one of \"a\", \"b\"" for an `enum` of the schema.
fn one_of(options: &Value) -> String {
    let values = list_values(options);
    match values.as_slice() {
        [only] => format!("must be {only}"),
        _ => format!("must be one of {}", cut_list(&values).join(", ")),
    }
}

fn list_values(options: &Value) -> Vec<String> {
    match options {
        Value::Array(values) => values.iter().map(listed).collect(),
        other => vec![listed(other)],
    }
}

/// A value of the schema, as JSON, cut if long.
fn listed(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 64 {
        return text;
    }
    let cut: String = text.chars().take(63).collect();
    format!("{cut}…")
}

/// The first [`MAX_LISTED`] items, and `…` if there were more.
fn cut_list(items: &[String]) -> Vec<String> {
    let mut shown: Vec<String> = items.iter().take(MAX_LISTED).cloned().collect();
    if items.len() > MAX_LISTED {
        shown.push("…".to_owned());
    }
    shown
}

/// "a", "a or b", "a, b or c".
fn or_list(items: &[String]) -> String {
    let items = cut_list(items);
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// How deep [`InputSchema::strip_undeclared`] follows nested objects (the size limits
/// bound the arguments' own depth at 32).
const MAX_STRIP_DEPTH: usize = 32;

/// `schema` with a local `$ref` (`#/$defs/..`) followed, and an optional's `anyOf` /
/// `oneOf` of one schema and `null` taken as that schema (what a non-null value meets),
/// a few levels deep.
fn resolved<'s>(mut schema: &'s Value, root: &'s Value) -> &'s Value {
    for _ in 0..8 {
        if let Some(target) = schema.get("$ref").and_then(Value::as_str)
            && let Some(found) = target
                .strip_prefix('#')
                .and_then(|pointer| root.pointer(pointer))
        {
            schema = found;
            continue;
        }
        let optional = ["anyOf", "oneOf"].iter().find_map(|keyword| {
            let branches = schema.get(keyword)?.as_array()?;
            let mut some = branches
                .iter()
                .filter(|branch| branch.get("type").and_then(Value::as_str) != Some("null"));
            let only = some.next()?;
            (branches.len() == 2 && some.next().is_none()).then_some(only)
        });
        match optional {
            Some(only) => schema = only,
            None => break,
        }
    }
    schema
}

/// The keywords of an object schema that say what becomes of the members it does not
/// declare: where one is set, they are left to the schema, which gives them to the type
/// (a map's entries, a flattened map) or refuses them (`false`: the caller is told,
/// rather than have them dropped unseen). The levels under its members are still
/// followed.
const OPEN: [&str; 3] = [
    "additionalProperties",
    "patternProperties",
    "unevaluatedProperties",
];

fn strip_object(object: &mut JsonObject, schema: &Value, root: &Value, depth: usize) {
    if depth > MAX_STRIP_DEPTH {
        return;
    }
    let mut held = Vec::new();
    let closed = held_to(schema, root, object, &mut held, 0);
    if closed {
        object.retain(|name, _| held.iter().any(|declared| declared.contains_key(name)));
    }
    for (name, value) in object.iter_mut() {
        // Followed where every level declaring the member says the same of it.
        let mut declared = held.iter().filter_map(|declared| declared.get(name));
        if let Some(first) = declared.next()
            && declared.all(|other| other == first)
        {
            strip_value(value, first, root, depth + 1);
        }
    }
}

/// Adds to `held` the `properties` of the levels of `schema` that `object` is held to (the
/// schema, each part of its `allOf`, the alternatives of its `anyOf` / `oneOf` that
/// [`may_hold`] it, and theirs); whether those levels let through no member they do not
/// declare.
fn held_to<'s>(
    schema: &'s Value,
    root: &'s Value,
    object: &JsonObject,
    held: &mut Vec<&'s JsonObject>,
    depth: usize,
) -> bool {
    let schema = resolved(schema, root);
    let open = OPEN.iter().any(|keyword| schema.get(keyword).is_some());
    let combined = ["allOf", "anyOf", "oneOf"]
        .iter()
        .any(|keyword| schema.get(keyword).is_some());
    let properties = schema.get("properties").and_then(Value::as_object);
    let declares = properties.is_some();
    held.extend(properties);
    // A level that declares nothing and combines nothing takes any object.
    let mut closed = !open && (declares || combined);
    if depth >= MAX_RESOLVE_DEPTH {
        return false;
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            closed &= held_to(part, root, object, held, depth + 1);
        }
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(alternatives) = schema.get(keyword).and_then(Value::as_array) {
            let mut any = false;
            for alternative in alternatives
                .iter()
                .map(|alternative| resolved(alternative, root))
            {
                if may_hold(alternative, object) {
                    any = true;
                    closed &= held_to(alternative, root, object, held, depth + 1);
                }
            }
            // No alternative can take it: the schema refuses it, nothing to strip.
            closed &= any;
        }
    }
    closed
}

/// How many levels of `allOf` / `anyOf` / `oneOf` [`held_to`] follows.
const MAX_RESOLVE_DEPTH: usize = 8;

/// Whether `alternative` may take `object`: it is an object schema (or does not say), and
/// no member it fixes to one value (`const`, or an `enum` of one: an enum's tag) is sent
/// with another value, or missing where it is required.
fn may_hold(alternative: &Value, object: &JsonObject) -> bool {
    let object_type = match alternative.get("type") {
        None => true,
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
        Some(_) => false,
    };
    if !object_type {
        return false;
    }
    let Some(properties) = alternative.get("properties").and_then(Value::as_object) else {
        return true;
    };
    let required = |name: &str| {
        alternative
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|required| required.iter().any(|member| member == name))
    };
    properties.iter().all(|(name, property)| {
        let fixed = property.get("const").or_else(|| {
            property
                .get("enum")
                .and_then(Value::as_array)
                .filter(|values| values.len() == 1)
                .and_then(|values| values.first())
        });
        match (fixed, object.get(name)) {
            (None, _) => true,
            (Some(fixed), Some(sent)) => sent == fixed,
            (Some(_), None) => !required(name),
        }
    })
}

fn strip_value(value: &mut Value, schema: &Value, root: &Value, depth: usize) {
    let schema = resolved(schema, root);
    match value {
        Value::Object(object) => strip_object(object, schema, root, depth),
        Value::Array(items) => {
            if let Some(item) = schema.get("items").filter(|item| item.is_object()) {
                for value in items {
                    strip_value(value, item, root, depth + 1);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;

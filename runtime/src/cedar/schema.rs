//! The Cedar schema of a server, generated from what its tools, prompts and resources
//! declare: who calls (`User`, with its scopes and roles, in its `Role`s), one action per
//! Cedar-guarded operation, the resource each names and the context it exposes. The
//! application's own entity types (the `Note` a tool names) come from its schema
//! fragment, written before the generated part.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Cedar, CedarError, Surface};

/// The entity type of the caller.
pub(crate) const USER: &str = "User";
/// The entity type of the caller's roles (its parents).
pub(crate) const ROLE: &str = "Role";

/// One Cedar-guarded operation, as the schema declares it.
#[derive(Clone, Debug)]
pub(crate) struct Action {
    /// The action's id: the tool's name, `prompt:<name>` or `resource:<name>`.
    pub(crate) id: String,
    /// The resource's entity type.
    pub(crate) resource_type: String,
    /// The exposed arguments with their Cedar types, and whether each is always there.
    pub(crate) context: Vec<(String, Kind, bool)>,
}

/// The Cedar type of an exposed argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Long,
    Bool,
    Set(Box<Kind>),
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::String => f.write_str("String"),
            Kind::Long => f.write_str("Long"),
            Kind::Bool => f.write_str("Bool"),
            Kind::Set(item) => write!(f, "Set<{item}>"),
        }
    }
}

impl Action {
    /// The action of `shape` on the operation `name` of `surface`, whose arguments
    /// `schema` (a JSON schema) describes.
    pub(crate) fn of(
        surface: Surface,
        name: &str,
        shape: &Cedar,
        schema: &Value,
    ) -> Result<Self, CedarError> {
        let id = surface.action_id(name);
        let what = surface.describe(name);
        let resource_type = match &shape.resource {
            Some(resource) => {
                let (kind, _) = field_type(schema, &resource.field).map_err(|why| {
                    CedarError::new(format!(
                        "{what} names its Cedar resource by the argument `{}`, but {why}",
                        resource.field
                    ))
                })?;
                if kind != Kind::String && kind != Kind::Long {
                    return Err(CedarError::new(format!(
                        "{what} names its Cedar resource by the argument `{}`, which must be \
                         a string or an integer (it is {kind})",
                        resource.field
                    )));
                }
                resource.entity_type.to_string()
            }
            None => surface.entity_type().to_owned(),
        };
        let mut context = Vec::new();
        for field in &shape.context {
            let (kind, required) = field_type(schema, field).map_err(|why| {
                CedarError::new(format!(
                    "{what} exposes the argument `{field}` to Cedar, but {why}"
                ))
            })?;
            context.push((field.to_string(), kind, required));
        }
        Ok(Self {
            id,
            resource_type,
            context,
        })
    }
}

/// The Cedar type of the argument `field` in the JSON schema `schema`, and whether every
/// call carries it; or why it has none.
fn field_type(schema: &Value, field: &str) -> Result<(Kind, bool), String> {
    let Some(property) = schema.get("properties").and_then(|p| p.get(field)) else {
        return Err("there is no such argument".to_owned());
    };
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(field)));
    let (kind, nullable) = value_type(property)?;
    Ok((kind, required && !nullable))
}

/// The Cedar type of a JSON schema, and whether it admits `null`.
fn value_type(schema: &Value) -> Result<(Kind, bool), String> {
    let unsupported = || {
        "its type has no Cedar equivalent (a string, an integer, a boolean, or a list of \
         them)"
            .to_owned()
    };
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => return Err(unsupported()),
    };
    let nullable = types.contains(&"null");
    let mut types = types.into_iter().filter(|t| *t != "null");
    let (Some(kind), None) = (types.next(), types.next()) else {
        return Err(unsupported());
    };
    let kind = match kind {
        "string" => Kind::String,
        "integer" => Kind::Long,
        "boolean" => Kind::Bool,
        "array" => {
            let items = schema.get("items").ok_or_else(unsupported)?;
            match value_type(items)? {
                (Kind::Set(_), _) | (_, true) => return Err(unsupported()),
                (item, false) => Kind::Set(Box::new(item)),
            }
        }
        _ => return Err(unsupported()),
    };
    Ok((kind, nullable))
}

/// The generated part of the schema: the caller, the default resources, and `actions`.
pub(crate) fn generate(actions: &[Action]) -> String {
    let mut out = String::from(
        "// Generated by secure-tool from the server's tools, prompts and resources.\n",
    );
    let _ = writeln!(out, "entity {ROLE};");
    let _ = writeln!(
        out,
        "entity {USER} in [{ROLE}] {{ \"subject\": String, \"scopes\": Set<String>, \"roles\": Set<String> }};"
    );
    for surface in Surface::ALL {
        let _ = writeln!(out, "entity {};", surface.entity_type());
    }
    for action in actions {
        let _ = write!(
            out,
            "action {} appliesTo {{ principal: [{USER}], resource: [{}], context: {{ \"mode\": String",
            quoted(&action.id),
            action.resource_type
        );
        if !action.context.is_empty() {
            out.push_str(", \"arguments\": { ");
            for (i, (name, kind, required)) in action.context.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let optional = if *required { "" } else { "?" };
                let _ = write!(out, "{}{optional}: {kind}", quoted(name));
            }
            out.push_str(" }");
        }
        out.push_str(" } };\n");
    }
    out
}

/// `text` as a Cedar string literal.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn names_are_quoted_as_cedar_string_literals() {
        assert_eq!(quoted("delete_note"), "\"delete_note\"");
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quoted("tab\there\u{1}"), "\"tab\\u{9}here\\u{1}\"");
        // What the generated schema quotes, Cedar reads back as written.
        let text = format!(
            "entity E;\naction {} appliesTo {{ principal: [E], resource: [E] }};",
            quoted("odd \"name\"\twith\\ all")
        );
        let (schema, _) = cedar_policy::Schema::from_cedarschema_str(&text).unwrap();
        let action = schema.actions().next().unwrap();
        assert_eq!(action.id().unescaped(), "odd \"name\"\twith\\ all");
    }
}

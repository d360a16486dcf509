//! Parameters that arrive as text (a URI template's variables, a prompt's arguments),
//! typed by the published schema of the handler's parameters type before they are
//! checked: `id: u64` reads `"42"` as `42`.

use serde_json::{Map, Value};

/// What one parameter's text becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
}

/// How each named parameter's text is read, by the parameters' schema.
#[derive(Clone, Debug, Default)]
pub(crate) struct TextValues(Vec<(String, Kind)>);

impl TextValues {
    /// The kinds of every property `schema` declares: a property that may be a string
    /// stays text; else an integer, number or boolean is read as one. A property's types
    /// are read through `$ref`s into the schema's own definitions and across the branches
    /// of `anyOf`, `oneOf` and `allOf` (a newtype `Id(u64)`, an `Option<Id>`).
    pub(crate) fn of(schema: &rmcp::model::JsonObject) -> Self {
        let properties = schema.get("properties").and_then(Value::as_object);
        let kinds = properties
            .into_iter()
            .flatten()
            .map(|(name, property)| {
                let mut types = Vec::new();
                types_of(property, schema, 0, &mut types);
                let kind = if types.contains(&"string") {
                    Kind::Text
                } else if types.contains(&"integer") {
                    Kind::Integer
                } else if types.contains(&"number") {
                    Kind::Number
                } else if types.contains(&"boolean") {
                    Kind::Boolean
                } else {
                    Kind::Text
                };
                (name.clone(), kind)
            })
            .collect();
        Self(kinds)
    }

    /// Whether the parameters' schema declares `name`.
    pub(crate) fn declares(&self, name: &str) -> bool {
        self.0.iter().any(|(declared, _)| declared == name)
    }

    /// `values` typed: each string whose parameter is a number or boolean, and spells
    /// one, becomes it; everything else is left as sent (the schema check refuses it).
    pub(crate) fn typed(
        &self,
        values: impl IntoIterator<Item = (String, Value)>,
    ) -> Map<String, Value> {
        values
            .into_iter()
            .map(|(name, value)| {
                let kind = self
                    .0
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(Kind::Text, |(_, kind)| *kind);
                let value = match value {
                    Value::String(text) => typed(text, kind),
                    other => other,
                };
                (name, value)
            })
            .collect()
    }
}

/// How deep `$ref`s and branches are followed: a derived type's schema is a few levels
/// deep; a recursive one is not followed forever.
const MAX_DEPTH: usize = 8;

/// The JSON types `schema` (a property's, within `root`) allows, added to `types`.
fn types_of<'s>(
    schema: &'s Value,
    root: &'s rmcp::model::JsonObject,
    depth: usize,
    types: &mut Vec<&'s str>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match schema.get("type") {
        Some(Value::String(t)) => types.push(t),
        Some(Value::Array(ts)) => types.extend(ts.iter().filter_map(Value::as_str)),
        _ => {}
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str)
        && let Some(definition) = definition(root, target)
    {
        types_of(definition, root, depth + 1, types);
    }
    for branches in ["anyOf", "oneOf", "allOf"] {
        for branch in schema
            .get(branches)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            types_of(branch, root, depth + 1, types);
        }
    }
}

/// The definition a local `$ref` names (`#/$defs/Id`, `#/definitions/Id`).
fn definition<'s>(root: &'s rmcp::model::JsonObject, target: &str) -> Option<&'s Value> {
    let (section, name) = target.strip_prefix("#/")?.split_once('/')?;
    root.get(section)?.get(name)
}

/// `text` as the JSON value of `kind`, or as text when it does not spell one.
fn typed(text: String, kind: Kind) -> Value {
    let parsed = match kind {
        Kind::Text => None,
        Kind::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<u64>().map(Value::from))
            .ok(),
        Kind::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Kind::Boolean => match text.as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
    };
    parsed.unwrap_or(Value::String(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_typed_by_the_schema_and_left_alone_when_it_does_not_fit() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": { "type": "integer" },
                "big": { "type": "integer" },
                "ratio": { "type": "number" },
                "flag": { "type": ["boolean", "null"] },
                "name": { "type": "string" },
                "either": { "type": ["string", "integer"] },
            }
        });
        let values = TextValues::of(schema.as_object().unwrap());
        let sent = [
            ("id", "-42"),
            ("big", "18446744073709551615"),
            ("ratio", "0.5"),
            ("flag", "true"),
            ("name", "42"),
            ("either", "7"),
            ("unknown", "1"),
        ]
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())));
        let typed = Value::Object(values.typed(sent));
        assert_eq!(
            typed,
            json!({
                "id": -42, "big": 18_446_744_073_709_551_615_u64, "ratio": 0.5, "flag": true,
                "name": "42", "either": "7", "unknown": "1",
            })
        );
        let unfit = [("id", "seven"), ("ratio", "NaN"), ("flag", "yes")]
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())));
        assert_eq!(
            Value::Object(values.typed(unfit)),
            json!({ "id": "seven", "ratio": "NaN", "flag": "yes" })
        );
    }

    #[test]
    fn a_newtype_or_an_optional_one_is_typed_through_its_definition() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Id(u64);
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Params {
            id: Id,
            parent: Option<Id>,
        }
        let schema = serde_json::to_value(schemars::schema_for!(Params)).unwrap();
        let values = TextValues::of(schema.as_object().unwrap());
        let sent = [("id", "7"), ("parent", "8")]
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())));
        assert_eq!(
            Value::Object(values.typed(sent)),
            json!({ "id": 7, "parent": 8 }),
            "{schema}"
        );
    }
}

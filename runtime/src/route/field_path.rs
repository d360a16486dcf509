//! How a refusal of the caller's arguments names the place it is about, without echoing
//! the caller: a field is named only when the tool's own schema declares that name, an
//! array index as `[3]`, and anything else (a map's key, an unknown field) as `*`.
//!
//! The argument limits, the schema check and the parser all write their refusals through
//! [`Problem`] and [`invalid_arguments`], so the caller reads one format whichever refused.

use std::collections::HashSet;
use std::fmt::Write as _;

use rmcp::model::JsonObject;
use serde_json::Value;

/// At most this many problems are shown in one answer; the rest are counted.
pub(crate) const MAX_SHOWN: usize = 5;

/// Every name the tool's input schema declares: property names, required names, and the
/// string values of `enum` and `const`. They are the server's own words, so a message may
/// show them; any other name in a path came from the caller and is written `*`.
#[derive(Debug, Default)]
pub(crate) struct DeclaredNames(HashSet<Box<str>>);

impl DeclaredNames {
    /// The names declared anywhere in `schema` (its `$defs` included).
    pub(crate) fn of(schema: &JsonObject) -> Self {
        let mut names: HashSet<Box<str>> = HashSet::new();
        let mut pending: Vec<&JsonObject> = vec![schema];
        while let Some(object) = pending.pop() {
            if let Some(Value::Object(properties)) = object.get("properties") {
                names.extend(properties.keys().map(|name| name.as_str().into()));
            }
            for keyword in ["required", "enum"] {
                if let Some(Value::Array(values)) = object.get(keyword) {
                    names.extend(values.iter().filter_map(Value::as_str).map(Into::into));
                }
            }
            if let Some(Value::String(value)) = object.get("const") {
                names.insert(value.as_str().into());
            }
            // Every object below, wherever it is: a subschema, or a value of the schema's
            // (a default, an example), whose names are the server's words too.
            let mut values: Vec<&Value> = object.values().collect();
            while let Some(value) = values.pop() {
                match value {
                    Value::Object(object) => pending.push(object),
                    Value::Array(items) => values.extend(items),
                    _ => {}
                }
            }
        }
        Self(names)
    }

    /// Whether the schema declares `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

/// A place in the caller's arguments, as a message shows it: `notes[2].title`, `tags.*`.
/// Empty for the arguments object itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FieldPath(String);

impl FieldPath {
    /// The arguments object itself.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// Appends the member `key` of an object: its name if the schema declares it, else `*`.
    pub(crate) fn push_key(&mut self, key: &str, names: &DeclaredNames) {
        let shown = if names.contains(key) { key } else { "*" };
        self.push_declared(shown);
    }

    /// Appends a name the server wrote (a field of the tool's own type), shown as it is.
    pub(crate) fn push_declared(&mut self, name: &str) {
        if !self.0.is_empty() {
            self.0.push('.');
        }
        self.0.push_str(name);
    }

    /// Appends the item `index` of an array.
    pub(crate) fn push_index(&mut self, index: usize) {
        let _ = write!(self.0, "[{index}]");
    }

    /// The path as text (empty for the arguments object itself).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// One thing wrong with the arguments: where, and what the server expects there (never
/// what the caller sent).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Problem {
    pub(crate) path: FieldPath,
    pub(crate) expected: String,
}

impl Problem {
    pub(crate) fn new(path: FieldPath, expected: impl Into<String>) -> Self {
        Self {
            path,
            expected: expected.into(),
        }
    }
}

/// `n` and its noun: "1 character", "200 characters".
pub(crate) fn count(
    n: impl TryInto<u64> + Copy + std::fmt::Display,
    one: &str,
    many: &str,
) -> String {
    let noun = if n.try_into().ok() == Some(1) {
        one
    } else {
        many
    };
    format!("{n} {noun}")
}

/// The caller's message for `problems`, in a stable order (by path, then text), at most
/// [`MAX_SHOWN`] of them: "Invalid arguments: `title`: at most 200 characters; `limit`:
/// at least 1".
pub(crate) fn invalid_arguments(mut problems: Vec<Problem>) -> String {
    problems.sort();
    problems.dedup();
    let mut message = String::from("Invalid arguments: ");
    for (n, problem) in problems.iter().take(MAX_SHOWN).enumerate() {
        if n > 0 {
            message.push_str("; ");
        }
        if !problem.path.as_str().is_empty() {
            let _ = write!(message, "`{}`: ", problem.path.as_str());
        }
        message.push_str(&problem.expected);
    }
    if problems.len() > MAX_SHOWN {
        let _ = write!(message, "; and {} more", problems.len() - MAX_SHOWN);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> DeclaredNames {
        let Value::Object(schema) = json!({
            "type": "object",
            "properties": {"notes": {"type": "array", "items": {"$ref": "#/$defs/Note"}}},
            "required": ["notes"],
            "$defs": {"Note": {
                "properties": {"title": {"type": "string"}, "kind": {"enum": ["short", 3]}},
                "oneOf": [{"const": "tagged"}],
            }},
        }) else {
            unreachable!()
        };
        DeclaredNames::of(&schema)
    }

    #[test]
    fn declared_names_are_shown_and_others_are_stars() {
        let names = names();
        for declared in ["notes", "title", "kind", "short", "tagged"] {
            assert!(names.contains(declared), "{declared}");
        }
        assert!(!names.contains("Note") && !names.contains("type"));
        let mut path = FieldPath::root();
        path.push_key("notes", &names);
        path.push_index(2);
        path.push_key("title", &names);
        path.push_key("MARK-7f3a", &names);
        assert_eq!(path.as_str(), "notes[2].title.*");
    }

    #[test]
    fn problems_are_sorted_deduplicated_and_counted() {
        let names = names();
        let problems = (0..8)
            .rev()
            .map(|n| {
                let mut path = FieldPath::root();
                path.push_key("notes", &names);
                Problem::new(path, format!("p{n}"))
            })
            .chain([Problem::new(FieldPath::root(), "at most 2 properties")])
            .chain([Problem::new(FieldPath::root(), "at most 2 properties")])
            .collect();
        assert_eq!(
            invalid_arguments(problems),
            "Invalid arguments: at most 2 properties; `notes`: p0; `notes`: p1; `notes`: p2; \
             `notes`: p3; and 4 more"
        );
    }
}

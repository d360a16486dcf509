//! A call's arguments, from JSON to the handler's type: the caller is told which field is
//! wrong and what was expected, never what it sent, and never a Rust type path.
//!
//! By the time they are parsed, the arguments have passed the tool's size limits and its
//! input schema, so a parse error is rare: a schema written by hand that says less than
//! the type, a number out of the type's range, or a custom `Deserialize` that refuses.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use super::field_path::{DeclaredNames, FieldPath, Problem};
use crate::audit;

/// Parses tool arguments, naming the offending field and the expectation.
///
/// serde's messages quote the caller's input (`invalid type: string "…", expected u64`,
/// ``unknown field `…` ``), so none is shown as it is: each is rewritten from what serde
/// says is wrong, keeping only the parts that come from the type (the expectation, the
/// names of its fields and variants). A message of a custom `Deserialize` implementation
/// (`serde::de::Error::custom`, `try_from`) may say anything, so the caller gets a generic
/// one and the log gets the original: validate in the handler with
/// `ToolError::invalid_input` to show a message of your own. In the path, a key is shown
/// only when the tool's schema declares that name.
pub(super) fn parse_arguments<A: DeserializeOwned>(
    arguments: &Value,
    names: &DeclaredNames,
) -> Result<A, Problem> {
    // The common case, a parse that succeeds, tracks no path: `serde_path_to_error` keeps
    // every key it reads (an allocation each). Only a refused parse runs again with the
    // path, for its message, on a copy: an owned value, as the arguments always were
    // parsed from before (a `Deserialize` that takes only owned strings parses there).
    if let Ok(parsed) = A::deserialize(arguments) {
        return Ok(parsed);
    }
    serde_path_to_error::deserialize::<_, A>(arguments.clone()).map_err(|error| {
        let mut path = FieldPath::root();
        for segment in error.path() {
            match segment {
                Segment::Seq { index } => path.push_index(*index),
                Segment::Map { key } => path.push_key(key, names),
                Segment::Enum { variant } => path.push_key(variant, names),
                Segment::Unknown => path.push_declared("*"),
            }
        }
        let raw_path = error.path().to_string();
        let original = error.into_inner().to_string();
        let (path, expected) = match rewrite(&original) {
            Some(Rewritten::Here(expected)) => (path, expected),
            Some(Rewritten::Field(field, expected)) => {
                path.push_declared(field);
                (path, expected.into())
            }
            None => {
                // The path names the caller's keys, and the message may quote its values:
                // both are cut, so that the line stays short.
                tracing::info!(
                    target: audit::TARGET,
                    path = %clip(&raw_path, 256),
                    detail = %clip(&original, 1024),
                    "arguments rejected by a custom deserializer (its message is not shown to the caller)"
                );
                (path, "the value is not valid".into())
            }
        };
        Problem::new(path, expected)
    })
}

/// Writes every number of `arguments` that has no fractional part and is written as a
/// float (`10.0`) as the integer it is. JSON Schema counts `10.0` an integer, and the
/// schema check lets it through, but serde's integer types take only numbers written as
/// integers: without this, a call the published schema accepts would be refused by the
/// parser. A float field takes the integer all the same. Floats out of the 64-bit range
/// are left as they are (the parser refuses them for an integer field, naming its range).
/// Iterative: the nesting was bounded by the argument limits, but this walk does not rely
/// on it.
pub(crate) fn integral_floats_as_integers(arguments: &mut Value) {
    let mut pending: Vec<&mut Value> = vec![arguments];
    while let Some(value) = pending.pop() {
        match value {
            Value::Number(number) if number.is_f64() => {
                let Some(float) = number.as_f64() else {
                    continue;
                };
                if float.fract() != 0.0 {
                    continue;
                }
                // Exact: the float is integral, and in range for the target type.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let integer: Option<serde_json::Number> = if float < 0.0 {
                    // Strictly above: JSON parses every integer from just below `i64::MIN` down to
                    // ~1,024 below it as this very float; converting it would clamp.
                    (float > i64::MIN as f64).then(|| (float as i64).into())
                } else {
                    (float < u64::MAX as f64).then(|| (float as u64).into())
                };
                if let Some(integer) = integer {
                    *number = integer;
                }
            }
            Value::Array(items) => pending.extend(items.iter_mut()),
            Value::Object(members) => pending.extend(members.values_mut()),
            _ => {}
        }
    }
}

/// What a serde message says, without what the caller sent.
enum Rewritten<'m> {
    /// A problem at the path itself.
    Here(Cow<'m, str>),
    /// A problem with the type's field `.0` (a name the type declares) under the path.
    Field(&'m str, &'static str),
}

/// serde's own messages, rewritten (`serde::de::Error`'s provided methods); `None` for any
/// other message, which a custom implementation wrote.
fn rewrite(message: &str) -> Option<Rewritten<'_>> {
    if message.starts_with("invalid type: ")
        || message.starts_with("invalid value: ")
        || message.starts_with("invalid length ")
    {
        // "invalid type: string \"<the caller's>\", expected u64": the expectation is the
        // type's (`Visitor::expecting`), the rest the caller's. The caller's text comes
        // first, so only what follows the last ", expected " is the type's.
        let (_, expected) = message.rsplit_once(", expected ")?;
        return Some(Rewritten::Here(
            format!("expected {}", expectation(expected)).into(),
        ));
    }
    if message.starts_with("unknown field `") {
        // "unknown field `<the caller's>`, expected `a` or `b`": the list is the type's
        // (`&'static [&'static str]`), the field the caller's.
        return Some(Rewritten::Here(match message.rsplit_once("`, expected ") {
            Some((_, list)) => format!("unknown field (allowed: {})", names_in(list)).into(),
            None if message.ends_with("`, there are no fields") => {
                "unknown field (none is allowed)".into()
            }
            None => return None,
        }));
    }
    if message.starts_with("unknown variant `") {
        return Some(Rewritten::Here(match message.rsplit_once("`, expected ") {
            Some((_, list)) => format!("unknown variant, expected {}", names_in(list)).into(),
            None if message.ends_with("`, there are no variants") => "unknown variant".into(),
            None => return None,
        }));
    }
    // The field of these two is the type's own (`&'static str`).
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return Some(Rewritten::Field(field, "required"));
    }
    if let Some(field) = message
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return Some(Rewritten::Field(field, "given more than once"));
    }
    None
}

/// The backquoted names of serde's "`a` or `b`" / "one of `a`, `b`, `c`", as "`a`, `b`".
fn names_in(list: &str) -> String {
    let names: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
    let shown: Vec<String> = names
        .iter()
        .take(12)
        .map(|name| format!("`{name}`"))
        .collect();
    let mut text = shown.join(", ");
    if names.len() > 12 {
        text.push_str(", …");
    }
    text
}

/// An expectation of serde (a Rust type's `Visitor::expecting`), in JSON's words: the
/// integer types with their ranges, structs as objects, sequences as arrays. Others are
/// shown as written, unless they hold a Rust path.
fn expectation(expected: &str) -> Cow<'_, str> {
    let range = |min: &str, max: &str| format!("an integer from {min} to {max}").into();
    match expected {
        "u8" => range("0", "255"),
        "u16" => range("0", "65535"),
        "u32" => range("0", "4294967295"),
        "u64" | "usize" => range("0", "18446744073709551615"),
        "i8" => range("-128", "127"),
        "i16" => range("-32768", "32767"),
        "i32" => range("-2147483648", "2147483647"),
        "i64" | "isize" => range("-9223372036854775808", "9223372036854775807"),
        "u128" | "i128" => "an integer".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "a boolean".into(),
        "a string" | "a borrowed string" | "a string or bytes" => "a string".into(),
        "a character" | "a char" => "a single character".into(),
        "unit" => "null".into(),
        "option" => "a value or null".into(),
        "a sequence" | "a byte array" | "byte array" | "a borrowed byte array" => "an array".into(),
        "a map" => "an object".into(),
        "fewer elements in array" => "fewer items".into(),
        "fewer elements in map" => "fewer properties".into(),
        _ if expected.starts_with("struct ")
            || expected.starts_with("struct variant ")
            || expected.starts_with("a struct") =>
        {
            "an object".into()
        }
        _ if expected.starts_with("tuple variant ") || expected.starts_with("tuple struct ") => {
            "an array".into()
        }
        _ if expected.starts_with("enum ") || expected.ends_with(" identifier") => {
            "one of the allowed names".into()
        }
        _ => match expected
            .strip_prefix("a tuple of size ")
            .or_else(|| expected.strip_prefix("tuple of size "))
        {
            Some(size) => format!("an array of {size} items").into(),
            None if expected.contains("::") => "a valid value".into(),
            None => clip(expected, 80).into(),
        },
    }
}

/// `text`, cut to its first `limit` bytes (on a character boundary) and marked `…` if it
/// was longer.
fn clip(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let cut = (0..=limit)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(message: &str) -> Option<String> {
        rewrite(message).map(|rewritten| match rewritten {
            Rewritten::Here(text) => text.into_owned(),
            Rewritten::Field(field, text) => format!("{field}: {text}"),
        })
    }

    #[test]
    fn serde_messages_keep_only_the_types_part() {
        let cases = [
            (
                r#"invalid type: string "MARK, expected MARK", expected u8"#,
                "expected an integer from 0 to 255",
            ),
            (
                "invalid value: integer `-1`, expected u32",
                "expected an integer from 0 to 4294967295",
            ),
            (
                "invalid type: map, expected struct Inner",
                "expected an object",
            ),
            (
                "invalid length 3, expected a tuple of size 2",
                "expected an array of 2 items",
            ),
            (
                "invalid type: string \"MARK\", expected my_crate::Thing",
                "expected a valid value",
            ),
            (
                "unknown field `MARK`, expected `id` or `title`",
                "unknown field (allowed: `id`, `title`)",
            ),
            (
                "unknown field `MARK`, expected `, expected `, expected one of `a`, `b`",
                "unknown field (allowed: `a`, `b`)",
            ),
            (
                "unknown field `MARK`, there are no fields",
                "unknown field (none is allowed)",
            ),
            (
                "unknown variant `MARK`, expected one of `low`, `high`",
                "unknown variant, expected `low`, `high`",
            ),
            ("missing field `id`", "id: required"),
            ("duplicate field `id`", "id: given more than once"),
        ];
        for (message, expected) in cases {
            let text = rewritten(message).unwrap_or_else(|| panic!("{message}"));
            assert_eq!(text, expected, "{message}");
            assert!(!text.contains("MARK"), "{text}");
        }
    }

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut arguments = serde_json::json!({
            "a": 10.0, "b": -3.0, "c": 2.5, "d": [1e30, -0.0, {"e": 4.0}], "f": 7, "g": "8.0"
        });
        integral_floats_as_integers(&mut arguments);
        assert_eq!(
            arguments.to_string(),
            r#"{"a":10,"b":-3,"c":2.5,"d":[1e+30,0,{"e":4}],"f":7,"g":"8.0"}"#
        );
        assert!(arguments["a"].is_u64() && arguments["b"].is_i64());
    }

    #[test]
    fn other_messages_are_custom() {
        for message in [
            "lookup in /srv/secret failed",
            "invalid type: /srv/secret",
            "unknown field `/srv/secret`",
            "missing field `a` in /srv/secret",
        ] {
            assert!(rewritten(message).is_none(), "{message}");
        }
    }
}

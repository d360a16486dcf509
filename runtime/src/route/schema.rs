//! The schemas a tool publishes: schemars' output, with only the formats that the JSON
//! validators inside MCP clients know.
//!
//! schemars writes the Rust type of a number as its `format` (`"uint"`, `"uint64"`,
//! `"int64"`, `"double"`, ...) and an IP address as `"ip"`. None of them is a format of JSON
//! Schema 2020-12: a client's validator ignores them with a warning per tool (Ajv, inside the
//! official TypeScript SDK, prints `unknown format "uint" ignored in schema`), and a strict
//! one rejects the schema. The range they stand for is kept: schemars writes both bounds
//! for the small integers and `minimum: 0` for the other unsigned ones, and the bounds it
//! leaves to the format (the maximum of `u32` and `u64`, both of `i32` and `i64`) are
//! written here in its place, so that the published schema, which every call is checked
//! against, refuses what the type would.

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::Schema;
use schemars::transform::{Transform, transform_subschemas};

/// The formats of JSON Schema 2020-12 (validation vocabulary, section 7.3) that the format
/// validators of the official clients also know (Ajv's `ajv-formats`, Python's
/// `jsonschema`). The internationalized ones (`idn-email`, `idn-hostname`, `iri`,
/// `iri-reference`) are left out: Ajv does not know them.
const KNOWN_FORMATS: [&str; 15] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "uri-template",
    "uuid",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// `schema` with every `format` that [`KNOWN_FORMATS`] does not list removed, in every
/// subschema (properties, items, definitions, combinators). Values (`const`, `enum`,
/// `default`, `examples`) are data, not schemas, and are left as they are.
pub(crate) fn with_known_formats(schema: &JsonObject) -> Arc<JsonObject> {
    let mut schema = Schema::from(schema.clone());
    KnownFormats.transform(&mut schema);
    match schema.to_value() {
        serde_json::Value::Object(object) => Arc::new(object),
        // `Schema::from(Map)` is an object schema, and the transform keeps it one.
        _ => unreachable!("an object schema stays an object"),
    }
}

struct KnownFormats;

/// The range of the Rust number type a schemars `format` names, for the types whose range
/// JSON can hold (not `i128` / `u128`, nor `f64`, whose range is JSON's own).
fn integer_range(format: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let signed = |min: i64, max: i64| Some((min.into(), max.into()));
    let unsigned = |max: u64| Some((0.into(), max.into()));
    match format {
        "int8" => signed(i8::MIN.into(), i8::MAX.into()),
        "int16" => signed(i16::MIN.into(), i16::MAX.into()),
        "int32" => signed(i32::MIN.into(), i32::MAX.into()),
        "int64" => signed(i64::MIN, i64::MAX),
        "int" => signed(isize::MIN as i64, isize::MAX as i64),
        "uint8" => unsigned(u8::MAX.into()),
        "uint16" => unsigned(u16::MAX.into()),
        "uint32" => unsigned(u32::MAX.into()),
        "uint64" => unsigned(u64::MAX),
        "uint" => unsigned(usize::MAX as u64),
        // A JSON number past `f32`'s range would reach the handler as an infinity.
        "float" => Some((
            serde_json::Value::from(f64::from(f32::MIN)),
            serde_json::Value::from(f64::from(f32::MAX)),
        )),
        _ => None,
    }
}

impl Transform for KnownFormats {
    fn transform(&mut self, schema: &mut Schema) {
        let unknown = schema
            .get("format")
            .and_then(|format| format.as_str())
            .is_some_and(|format| !KNOWN_FORMATS.contains(&format));
        if unknown
            && let Some(serde_json::Value::String(format)) = schema.remove("format")
            && let Some((min, max)) = integer_range(&format)
        {
            for (keyword, bound) in [("minimum", min), ("maximum", max)] {
                if schema.get(keyword).is_none() {
                    schema.insert(keyword.to_owned(), bound);
                }
            }
        }
        // Subschema keywords that schemars' walk does not visit.
        if let Some(serde_json::Value::Object(map)) = schema.get_mut("dependentSchemas") {
            for value in map.values_mut() {
                if let Ok(subschema) = <&mut Schema>::try_from(value) {
                    self.transform(subschema);
                }
            }
        }
        for key in ["unevaluatedProperties", "unevaluatedItems"] {
            if let Some(value) = schema.get_mut(key)
                && let Ok(subschema) = <&mut Schema>::try_from(value)
            {
                self.transform(subschema);
            }
        }
        transform_subschemas(self, schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known(schema: serde_json::Value) -> serde_json::Value {
        let serde_json::Value::Object(object) = schema else {
            panic!("not an object")
        };
        serde_json::Value::Object((*with_known_formats(&object)).clone())
    }

    #[test]
    fn rust_number_formats_go_and_their_bounds_stay() {
        let schema = known(json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer", "format": "uint64", "minimum": 0},
                "ratio": {"type": "number", "format": "double"},
                "at": {"type": "string", "format": "date-time"},
                "ip": {"type": "string", "format": "ip"},
                "tags": {"type": "array", "items": {"type": "integer", "format": "int32"}},
                "pair": {"type": "array", "prefixItems": [{"type": "integer", "format": "uint8"}]},
                "maybe": {"anyOf": [{"$ref": "#/$defs/Small"}, {"type": "null"}]},
                "map": {"type": "object", "additionalProperties": {"format": "uint"}},
            },
            "$defs": {"Small": {"type": "integer", "format": "uint16", "maximum": 65535}},
            "dependentSchemas": {"id": {"properties": {"x": {"format": "int"}}}},
            "unevaluatedProperties": {"format": "float"},
        }));
        let text = schema.to_string();
        for gone in [
            "uint64", "double", "ip", "int32", "uint8", "uint16", "uint", "int", "float",
        ] {
            let format = format!("\"format\":\"{gone}\"");
            assert!(!text.contains(&format), "{format} left in {text}");
        }
        assert_eq!(schema["properties"]["at"]["format"], "date-time");
        assert_eq!(schema["properties"]["id"]["minimum"], 0);
        assert_eq!(schema["properties"]["id"]["maximum"], u64::MAX);
        assert_eq!(schema["$defs"]["Small"]["maximum"], 65535);
        let item = &schema["properties"]["tags"]["items"];
        assert_eq!(
            (&item["minimum"], &item["maximum"]),
            (&json!(i32::MIN), &json!(i32::MAX))
        );
        assert_eq!(schema["properties"]["ratio"].get("maximum"), None);
        // An `f32` is bounded by its range: past it, a number would be an infinity.
        let float = &schema["unevaluatedProperties"];
        assert_eq!(
            (&float["minimum"], &float["maximum"]),
            (&json!(f64::from(f32::MIN)), &json!(f64::from(f32::MAX)))
        );
    }

    #[test]
    fn values_are_data_and_a_property_may_be_called_format() {
        let schema = known(json!({
            "type": "object",
            "properties": {
                "format": {"type": "string", "format": "uri"},
                "kind": {"const": {"format": "uint"}, "default": {"format": "uint"}},
            },
        }));
        assert_eq!(schema["properties"]["format"]["format"], "uri");
        assert_eq!(schema["properties"]["kind"]["const"]["format"], "uint");
        assert_eq!(schema["properties"]["kind"]["default"]["format"], "uint");
    }
}

use std::collections::{BTreeMap, BTreeSet};

use rmcp::handler::server::tool::schema_for_input;
use serde::Deserialize;
use serde_json::json;

use super::*;
use crate::route::field_path::invalid_arguments;
use crate::route::schema::with_known_formats;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Everything {
    #[schemars(length(min = 1, max = 20))]
    title: String,
    #[schemars(range(min = 1, max = 100))]
    limit: u32,
    kind: Kind,
    #[schemars(length(max = 3))]
    tags: Vec<String>,
    #[schemars(regex(pattern = r"^[a-z]+$"))]
    slug: String,
    inner: Option<Inner>,
    labels: BTreeMap<String, u8>,
    unique: BTreeSet<u8>,
    shape: Shape,
    #[schemars(extend("format" = "date-time"))]
    at: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Kind {
    Short,
    Long,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Inner {
    id: u64,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
enum Shape {
    Point,
    Circle { r: f64 },
    Square(u32),
}

fn input<T: schemars::JsonSchema + 'static>() -> InputSchema {
    let schema = with_known_formats(&schema_for_input::<T>().unwrap());
    InputSchema::compile("test", &schema)
}

fn valid() -> Value {
    json!({
        "title": "groceries",
        "limit": 10,
        "kind": "short",
        "tags": ["a"],
        "slug": "abc",
        "inner": {"id": 1},
        "labels": {"x": 1},
        "unique": [1, 2],
        "shape": {"Circle": {"r": 1.5}},
        "at": "2024-01-01T00:00:00Z",
    })
}

fn with(changes: Value) -> Value {
    let mut value = valid();
    for (key, change) in changes.as_object().unwrap() {
        if change.is_null() && key.starts_with('-') {
            value.as_object_mut().unwrap().remove(&key[1..]);
        } else {
            value[key] = change.clone();
        }
    }
    value
}

fn refusal(schema: &InputSchema, arguments: &Value) -> String {
    invalid_arguments(schema.check(arguments).unwrap_err())
}

#[test]
fn arguments_that_conform_pass() {
    let schema = input::<Everything>();
    assert_eq!(schema.check(&valid()), Ok(()));
    let optional = with(json!({"inner": null, "at": null, "shape": "Point", "-tags": null}));
    let refused = refusal(&schema, &optional);
    assert_eq!(refused, "Invalid arguments: `tags`: required");
    let optional = with(json!({"inner": null, "at": null, "shape": {"Square": 3}}));
    assert_eq!(schema.check(&optional), Ok(()));
}

/// Each constraint schemars emits, broken with the marker in the value or the key: the
/// message names the field (a declared name, an index, or `*`) and the constraint.
#[test]
fn each_constraint_names_the_field_and_the_constraint_never_the_value() {
    let schema = input::<Everything>();
    let cases = [
        (
            json!({"title": "MARK-7f3a-MARK-7f3a-MARK"}),
            "`title`: at most 20 characters",
        ),
        (json!({"title": ""}), "`title`: at least 1 character"),
        (json!({"limit": 0}), "`limit`: at least 1"),
        (json!({"limit": 101}), "`limit`: at most 100"),
        (
            json!({"limit": "MARK-7f3a"}),
            "`limit`: expected an integer",
        ),
        (
            json!({"kind": "MARK-7f3a"}),
            "`kind`: must be one of \"short\", \"long\"",
        ),
        (
            json!({"tags": ["a", "b", "c", "MARK-7f3a"]}),
            "`tags`: at most 3 items",
        ),
        (
            json!({"tags": ["a", {"MARK-7f3a": 1}]}),
            "`tags[1]`: expected a string",
        ),
        (
            json!({"slug": "MARK-7f3a"}),
            "`slug`: must match the pattern `^[a-z]+$`",
        ),
        (
            json!({"inner": {"id": "MARK-7f3a"}}),
            "`inner.id`: expected an integer",
        ),
        (
            json!({"inner": {"id": 1, "MARK-7f3a": 1}}),
            "`inner`: unknown field (allowed: `id`, `note`)",
        ),
        (
            json!({"inner": "MARK-7f3a"}),
            "`inner`: expected an object or null",
        ),
        (
            json!({"labels": {"MARK-7f3a": "MARK-7f3a"}}),
            "`labels.*`: expected an integer",
        ),
        (
            json!({"labels": {"MARK-7f3a": 300}}),
            "`labels.*`: at most 255",
        ),
        (json!({"unique": [1, 1]}), "`unique`: items must be unique"),
        (
            json!({"shape": "MARK-7f3a"}),
            "`shape`: expected \"Point\" or an object",
        ),
        (
            json!({"shape": {"Circle": {"r": "MARK-7f3a"}}}),
            "`shape.Circle.r`: expected a number",
        ),
        (
            json!({"shape": {"MARK-7f3a": 1}}),
            "`shape`: does not match any of the allowed forms",
        ),
        (
            json!({"at": "MARK-7f3a"}),
            "`at`: must be a valid `date-time`",
        ),
        (
            json!({"MARK-7f3a": "MARK-7f3a"}),
            "unknown field (allowed: `at`, `inner`, `kind`, `labels`, `limit`, `shape`, `slug`, \
             `tags`, `title`, `unique`)",
        ),
        (json!({"-title": null}), "`title`: required"),
    ];
    for (changes, expected) in cases {
        let refused = refusal(&schema, &with(changes.clone()));
        assert_eq!(
            refused,
            format!("Invalid arguments: {expected}"),
            "{changes}"
        );
        assert!(!refused.contains("MARK"), "{refused}");
    }
}

#[test]
fn several_problems_are_reported_in_a_stable_order() {
    let schema = input::<Everything>();
    let arguments = with(json!({"title": "", "limit": 0, "slug": "A", "kind": 1, "-shape": null}));
    let refused = refusal(&schema, &arguments);
    assert_eq!(
        refused,
        "Invalid arguments: `kind`: expected a string; `kind`: must be one of \"short\", \"long\"; \
         `limit`: at least 1; `shape`: required; `slug`: must match the pattern `^[a-z]+$`; and 1 more"
    );
    // The same arguments, their members in another order: the same message.
    let reversed: serde_json::Map<String, Value> = arguments
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    assert_eq!(refusal(&schema, &Value::Object(reversed)), refused);
}

#[test]
fn a_type_without_constraints_takes_any_member() {
    #[derive(Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Open {
        id: Option<i64>,
    }
    let schema = input::<Open>();
    assert_eq!(schema.check(&json!({"anything": [1, {"x": null}]})), Ok(()));
    assert_eq!(
        refusal(&schema, &json!({"id": 1.5})),
        "Invalid arguments: `id`: expected an integer or null"
    );
    let none = input::<crate::route::NoArguments>();
    assert_eq!(none.check(&json!({"extra": true})), Ok(()));
}

/// A schema with a `pattern` that is not a regular expression.
struct BrokenPattern;

impl<'de> Deserialize<'de> for BrokenPattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Self)
    }
}

impl schemars::JsonSchema for BrokenPattern {
    fn schema_name() -> Cow<'static, str> {
        "BrokenPattern".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "properties": {"code": {"type": "string", "pattern": "(unclosed"}},
        })
    }
}

#[test]
#[should_panic(expected = "the input schema of tool `test` does not compile")]
fn a_schema_that_does_not_compile_stops_the_route_from_being_built() {
    let _ = input::<BrokenPattern>();
}

#[test]
#[should_panic(expected = "the input schema of tool `broken` does not compile")]
fn a_route_with_a_schema_that_does_not_compile_is_not_built() {
    use crate::authz::{Mode, public};
    use crate::route::{ArgumentsType, ErrorType, OutputType, SecureRoute, ToolSpec, ToolTypes};
    async fn broken(
        _: &(),
        _: BrokenPattern,
        _: crate::context::Grant<'_>,
    ) -> Result<String, crate::ToolError> {
        Ok(String::new())
    }
    let spec = ToolSpec::new("broken", Mode::Read, public()).with_description("Broken.");
    let types = ToolTypes::new(ArgumentsType::new(), OutputType::new(), ErrorType::new());
    let _ = SecureRoute::<()>::read(spec, types, broken);
}

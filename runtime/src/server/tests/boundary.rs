//! What crosses the boundary: arguments past a tool's size limits or its published input
//! schema are refused before the handler runs, and no answer carries anything the caller
//! sent (a value, a key, a variant name), whichever check refused it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::de::{Error as _, Unexpected};
use serde_json::{Map, Value, json};

use super::{call, category, connect_with, text};
use crate::prelude::*;
use crate::route::{ArgumentLimits, ToolSpec};

/// Planted in every value, key and level of the arguments; no answer may contain it.
/// Its tail is not hex, so that no incident id (a UUID) can contain it by chance.
const MARK: &str = "MARK-7q3z";

#[derive(Clone, Default)]
struct Boundary {
    runs: Arc<AtomicUsize>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Done {
    ok: bool,
}

/// Every kind of field schemars describes, with bounds, and no unknown field allowed.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Strict {
    #[schemars(length(min = 1, max = 20))]
    title: String,
    #[schemars(range(min = 1, max = 100))]
    count: u32,
    ratio: f64,
    flag: bool,
    level: Level,
    shape: Shape,
    inner: Inner,
    #[schemars(length(max = 3))]
    items: Vec<Inner>,
    labels: BTreeMap<String, u8>,
    maybe: Option<Inner>,
    #[schemars(regex(pattern = r"^[a-z]+$"))]
    slug: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Level {
    Low,
    High,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
enum Shape {
    Point,
    Circle { r: f64 },
    Square(u32),
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Inner {
    id: u64,
    #[serde(default)]
    note: String,
}

/// Types whose own `Deserialize` refuses, some quoting the caller's value in the error.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Custom {
    code: Code,
    lookup: Lookup,
    either: Either,
    nested: BTreeMap<String, Vec<Code>>,
}

/// A string that must start with `C-`: refused with serde's `invalid_value`, whose
/// message quotes the value.
#[derive(schemars::JsonSchema)]
#[schemars(transparent)]
struct Code(#[allow(dead_code)] String);

impl<'de> serde::Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.starts_with("C-") {
            Ok(Self(text))
        } else {
            Err(D::Error::invalid_value(
                Unexpected::Str(&text),
                &"a code starting with C-",
            ))
        }
    }
}

/// A string refused with a custom message that quotes it.
#[derive(schemars::JsonSchema)]
#[schemars(transparent)]
struct Lookup(#[allow(dead_code)] String);

impl<'de> serde::Deserialize<'de> for Lookup {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "known" {
            Ok(Self(text))
        } else {
            Err(D::Error::custom(format!("no entry named {text}")))
        }
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Either {
    Number(u32),
    Pair { left: u8, right: u8 },
}

#[secure_tool_router]
impl Boundary {
    /// Takes every kind of field.
    #[secure_tool(authz = public, mode = read)]
    async fn strict(&self, _args: Strict) -> Result<Done, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Done { ok: true })
    }

    /// Takes types with their own `Deserialize`.
    #[secure_tool(authz = public, mode = read)]
    async fn custom(&self, _args: Custom) -> Result<Done, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Boundary {}

fn strict_valid() -> Value {
    json!({
        "title": "groceries",
        "count": 3,
        "ratio": 0.5,
        "flag": true,
        "level": "low",
        "shape": {"Circle": {"r": 1.5}},
        "inner": {"id": 1},
        "items": [{"id": 2, "note": "n"}],
        "labels": {"x": 1},
        "maybe": null,
        "slug": "abc",
    })
}

fn custom_valid() -> Value {
    json!({
        "code": "C-1",
        "lookup": "known",
        "either": {"left": 1, "right": 2},
        "nested": {"k": ["C-2"]},
    })
}

/// The places of `value`: every member and item, as JSON pointers, containers included.
fn places(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = vec![(String::new(), value)];
    while let Some((pointer, value)) = pending.pop() {
        match value {
            Value::Object(members) => {
                for (key, member) in members {
                    pending.push((format!("{pointer}/{key}"), member));
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    pending.push((format!("{pointer}/{index}"), item));
                }
            }
            _ => {}
        }
        out.push(pointer);
    }
    out
}

/// `valid` with the marker planted once more: in place of each value (as a string, a
/// number-shaped key, an object keyed by it, an array of it, a string past every cap),
/// as an unknown member of each object, and as keys nested past the depth cap.
fn planted(valid: &Value) -> Vec<Value> {
    let replacements = [
        json!(MARK),
        json!(MARK.repeat(4000)),
        json!({MARK: MARK}),
        json!([MARK, {MARK: [MARK]}]),
        json!([MARK, MARK, MARK, MARK, MARK]),
    ];
    let mut cases = Vec::new();
    for place in places(valid) {
        if !place.is_empty() {
            for replacement in &replacements {
                let mut case = valid.clone();
                *case.pointer_mut(&place).unwrap() = replacement.clone();
                cases.push(case);
            }
        }
        if let Some(Value::Object(_)) = valid.pointer(&place) {
            for member in [json!(MARK), json!({MARK: {MARK: [MARK]}})] {
                let mut case = valid.clone();
                let Some(Value::Object(object)) = case.pointer_mut(&place) else {
                    unreachable!()
                };
                object.insert(MARK.to_owned(), member);
                cases.push(case);
            }
        }
    }
    let mut deep = json!(MARK);
    for level in 0..40 {
        deep = json!({ format!("{MARK}-{level}"): deep });
    }
    let mut too_deep = valid.clone();
    too_deep[MARK] = deep;
    cases.push(too_deep);
    let mut too_many = valid.clone();
    for n in 0..300 {
        too_many[format!("{MARK}-{n}")] = json!(MARK);
    }
    cases.push(too_many);
    cases
}

#[tokio::test]
async fn no_answer_echoes_a_value_or_key_the_caller_sent() {
    let boundary = Boundary::default();
    let client = connect_with(boundary.clone(), None).await;
    let mut refused = 0;
    let mut accepted = 0;
    let mut by_category: BTreeMap<String, usize> = BTreeMap::new();
    for (tool, valid) in [("strict", strict_valid()), ("custom", custom_valid())] {
        let ok = call(&client, tool, valid.clone()).await;
        assert_eq!(ok.is_error, Some(false), "{tool}: {ok:?}");
        let runs_before = boundary.runs.load(Ordering::SeqCst);
        let mut accepted_here = 0;
        for case in planted(&valid) {
            let answer = call(&client, tool, case.clone()).await;
            let wire = serde_json::to_string(&answer).unwrap();
            assert!(!wire.contains(MARK), "{tool}: {case}\nechoed in {wire}");
            // Nor a piece of it (a cut value would still be an echo).
            assert!(!wire.contains("7q3z"), "{tool}: {case}\nechoed in {wire}");
            match answer.is_error {
                Some(true) => {
                    refused += 1;
                    *by_category.entry(category(&answer).unwrap()).or_default() += 1;
                }
                _ => {
                    accepted += 1;
                    accepted_here += 1;
                }
            }
        }
        assert_eq!(
            boundary.runs.load(Ordering::SeqCst) - runs_before,
            accepted_here,
            "{tool}: only accepted calls ran"
        );
    }
    // A tool name that is no tool's: the JSON-RPC error does not repeat it.
    let unknown = client
        .call_tool(rmcp::model::CallToolRequestParams::new(format!(
            "{MARK}-tool"
        )))
        .await
        .expect_err("no such tool");
    let unknown = format!("{unknown:?} {unknown}");
    assert!(unknown.contains("tool not found"), "{unknown}");
    assert!(!unknown.contains("7q3z"), "{unknown}");
    println!(
        "planted {MARK} in {} calls: {refused} refused ({by_category:?}), {accepted} accepted \
         (a free-form string or a map key), 0 echoes; and an unknown tool's name: not echoed",
        refused + accepted
    );
    assert_eq!(by_category.keys().collect::<Vec<_>>(), ["invalid_input"]);
    assert!(refused > 100, "{refused}");
}

#[tokio::test]
async fn each_check_refuses_before_the_handler_and_names_the_field() {
    let boundary = Boundary::default();
    let client = connect_with(boundary.clone(), None).await;
    let message = |answer: &rmcp::model::CallToolResult| {
        crate::sanitize::error_facts(answer).unwrap()["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cases = [
        // The size limits, before the schema (whose `maxLength` is 20).
        (
            "strict",
            json!({"title": "x".repeat(40_000)}),
            "Invalid arguments: `title`: at most 32768 characters",
        ),
        // The schema.
        (
            "strict",
            {
                let mut v = strict_valid();
                v["title"] = json!("x".repeat(21));
                v
            },
            "Invalid arguments: `title`: at most 20 characters",
        ),
        (
            "strict",
            {
                let mut v = strict_valid();
                v["count"] = json!(0);
                v["level"] = json!("middle");
                v["items"] = json!([{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}]);
                v
            },
            "Invalid arguments: `count`: at least 1; `items`: at most 3 items; `level`: must be \
             one of \"low\", \"high\"",
        ),
        // The parser: a custom type's own refusal, in the type's words only.
        (
            "custom",
            {
                let mut v = custom_valid();
                v["code"] = json!("D-1");
                v
            },
            "Invalid arguments: `code`: expected a code starting with C-",
        ),
        (
            "custom",
            {
                let mut v = custom_valid();
                v["lookup"] = json!("unknown");
                v
            },
            "Invalid arguments: `lookup`: the value is not valid",
        ),
        (
            "custom",
            {
                let mut v = custom_valid();
                v["nested"] = json!({"a": ["C-1", "D-2"]});
                v
            },
            "Invalid arguments: `nested.*[1]`: expected a code starting with C-",
        ),
    ];
    for (tool, arguments, expected) in cases {
        let answer = call(&client, tool, arguments).await;
        assert_eq!(category(&answer).as_deref(), Some("invalid_input"));
        assert_eq!(message(&answer), expected);
    }
    assert_eq!(boundary.runs.load(Ordering::SeqCst), 0);
}

/// A tool's own limits win over the server's, which win over the defaults.
#[tokio::test]
async fn a_tools_own_limits_win_over_the_servers() {
    use crate::route::{ArgumentsType, ErrorType, OutputType, SecureRoute, SecureToolRouter};
    use crate::route::{NoArguments, ToolTypes};

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Text {
        #[allow(dead_code)]
        text: String,
    }
    async fn take(_: &(), _: Text, _: crate::context::Grant<'_>) -> Result<Done, ToolError> {
        Ok(Done { ok: true })
    }
    async fn none(_: &(), _: NoArguments, _: crate::context::Grant<'_>) -> Result<Done, ToolError> {
        Ok(Done { ok: true })
    }
    let types = || ToolTypes::new(ArgumentsType::new(), OutputType::new(), ErrorType::new());
    let own = ArgumentLimits::default().with_max_string_chars(10);
    let router = SecureToolRouter::new()
        .with_route(SecureRoute::read(
            ToolSpec::new("own", crate::Mode::Read, crate::authz::public())
                .with_description("Own limits.")
                .with_argument_limits(own),
            types(),
            take,
        ))
        .with_route(SecureRoute::read(
            ToolSpec::new("server", crate::Mode::Read, crate::authz::public())
                .with_description("The server's limits."),
            types(),
            take,
        ))
        .with_route(SecureRoute::read(
            ToolSpec::new("none", crate::Mode::Read, crate::authz::public())
                .with_description("No arguments, bounded all the same."),
            ToolTypes::new(ArgumentsType::new(), OutputType::new(), ErrorType::new()),
            none,
        ));
    let server = crate::SecureServerBuilder::with_router((), router)
        .argument_limits(ArgumentLimits::default().with_max_string_chars(5))
        .build();
    let limits: Vec<usize> = server
        .tools()
        .routes()
        .into_iter()
        .map(|route| route.argument_limits().max_string_chars())
        .collect();
    assert_eq!(limits, [5, 10, 5], "none, own, server");
    let text = |n: usize| json!({"text": "x".repeat(n)}).as_object().cloned();
    let anyone = Principal::anonymous;
    let own_ok = server.call("own", text(10), anyone()).await.unwrap();
    assert_eq!(own_ok.is_error, Some(false), "{own_ok:?}");
    let own_refused = server.call("own", text(11), anyone()).await.unwrap();
    assert_eq!(
        crate::sanitize::error_facts(&own_refused).unwrap()["message"],
        "Invalid arguments: `text`: at most 10 characters"
    );
    let server_refused = server.call("server", text(6), anyone()).await.unwrap();
    assert_eq!(
        crate::sanitize::error_facts(&server_refused).unwrap()["message"],
        "Invalid arguments: `text`: at most 5 characters"
    );
    // A tool without arguments ignores what it is sent, within the limits.
    let extra = json!({"a": "xxxxx"}).as_object().cloned();
    assert_eq!(
        server.call("none", extra, anyone()).await.unwrap().is_error,
        Some(false)
    );
    let long = json!({"a": "xxxxxx"}).as_object().cloned();
    let refused = server.call("none", long, anyone()).await.unwrap();
    assert_eq!(
        crate::sanitize::error_facts(&refused).unwrap()["message"],
        "Invalid arguments: `*`: at most 5 characters"
    );
}

// ---------------------------------------------------------------------------------------
// Arbitrary arguments: what the checks accept parses, what they refuse never runs.

/// A value for one of `Strict`'s fields: mostly one that fits, now and then one just
/// past a bound (or of another shape), and now and then anything.
fn field_value(field: &'static str) -> BoxedStrategy<Value> {
    let (fits, edge): (BoxedStrategy<Value>, BoxedStrategy<Value>) = match field {
        "title" => (
            "[a-z ]{1,20}".prop_map(Value::from).boxed(),
            prop_oneof![Just(json!("")), "[a-z]{21,30}".prop_map(Value::from)].boxed(),
        ),
        "count" => (
            (1i64..=100).prop_map(Value::from).boxed(),
            prop_oneof![
                Just(json!(0)),
                Just(json!(101)),
                Just(json!(50.0)),
                Just(json!(2.5))
            ]
            .boxed(),
        ),
        "ratio" => (
            (-1e9f64..1e9).prop_map(Value::from).boxed(),
            prop_oneof![Just(json!(3)), Just(json!("0.5"))].boxed(),
        ),
        "flag" => (
            any::<bool>().prop_map(Value::from).boxed(),
            Just(json!("true")).boxed(),
        ),
        "level" => (
            prop::sample::select(vec!["low", "high"])
                .prop_map(Value::from)
                .boxed(),
            prop::sample::select(vec!["mid", "LOW", ""])
                .prop_map(Value::from)
                .boxed(),
        ),
        "shape" => (
            prop_oneof![
                Just(json!("Point")),
                (-1e6f64..1e6).prop_map(|r| json!({"Circle": {"r": r}})),
                (0u32..5).prop_map(|n| json!({"Square": n})),
            ]
            .boxed(),
            prop_oneof![
                Just(json!({"Square": -1})),
                Just(json!({"Square": 2.0})),
                Just(json!({"Circle": {}})),
                Just(json!({"Point": null})),
                Just(json!({"Square": 1, "Point": null})),
            ]
            .boxed(),
        ),
        "inner" | "maybe" => (inner().boxed(), inner_edge().boxed()),
        "items" => (
            prop::collection::vec(inner(), 0..=3)
                .prop_map(Value::Array)
                .boxed(),
            prop_oneof![
                prop::collection::vec(inner(), 4..6).prop_map(Value::Array),
                inner_edge().prop_map(|item| json!([item])),
            ]
            .boxed(),
        ),
        "labels" => (
            prop::collection::btree_map(".{0,3}", 0u16..=255, 0..4)
                .prop_map(|map| json!(map))
                .boxed(),
            prop_oneof![
                Just(json!({"a": 256})),
                Just(json!({"a": -1})),
                Just(json!({"a": "1"}))
            ]
            .boxed(),
        ),
        _ => (
            "[a-z]{1,6}".prop_map(Value::from).boxed(),
            prop_oneof![Just(json!("")), "[a-z]{0,3}[A-Z0-9 ]".prop_map(Value::from)].boxed(),
        ),
    };
    prop_oneof![40 => fits, 4 => edge, 1 => any_json()].boxed()
}

fn inner() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u64..10).prop_map(|id| json!({"id": id})),
        (0u64..10, "[a-z]{0,3}").prop_map(|(id, note)| json!({"id": id, "note": note})),
        Just(json!({"id": 1.0})),
    ]
}

fn inner_edge() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"id": -1})),
        Just(json!({"id": 1, "other": 2})),
        Just(json!({"note": "n"})),
        Just(json!({"id": 1.5})),
        Just(Value::Null),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,4}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 11] = [
    "title", "count", "ratio", "flag", "level", "shape", "inner", "items", "labels", "maybe",
    "slug",
];

/// Objects with each of `Strict`'s fields most of the time, and now and then a member of
/// the caller's own.
fn arguments() -> impl Strategy<Value = Map<String, Value>> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = FIELDS
        .iter()
        .map(|field| {
            prop_oneof![
                40 => field_value(field).prop_map(move |value| Some(((*field).to_owned(), value))),
                1 => Just(None),
            ]
            .boxed()
        })
        .collect();
    (fields, prop::option::weighted(0.1, (".{0,6}", any_json())))
        .prop_map(|(fields, extra)| fields.into_iter().flatten().chain(extra).collect())
}

#[test]
fn what_the_checks_accept_parses_and_what_they_refuse_never_runs() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let boundary = Boundary::default();
    let server = SecureServer::new(boundary.clone());
    let route = server.tools().route("strict").unwrap().clone();
    let (accepted, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(512);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arguments(), |arguments| {
            let value = Value::Object(arguments.clone());
            let checks = route.check_arguments(&value);
            let runs = boundary.runs.load(Ordering::SeqCst);
            let answer = rt
                .block_on(server.call("strict", Some(arguments.clone()), Principal::anonymous()))
                .unwrap();
            let ran = boundary.runs.load(Ordering::SeqCst) - runs;
            match checks {
                Ok(()) => {
                    // Accepted by the limits and the schema: the type takes it (after
                    // `10.0` is written `10`, as JSON Schema reads it), and the handler runs.
                    let mut value = value;
                    crate::route::arguments::integral_floats_as_integers(&mut value);
                    if let Err(error) = serde_json::from_value::<Strict>(value.clone()) {
                        return Err(TestCaseError::fail(format!(
                            "the schema accepted what the type refuses ({error}): {value}"
                        )));
                    }
                    prop_assert_eq!(ran, 1, "{:?}", answer);
                    prop_assert_eq!(answer.is_error, Some(false));
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    prop_assert_eq!(ran, 0, "a refused call ran: {}", value);
                    let refused_as = category(&answer);
                    prop_assert_eq!(refused_as.as_deref(), Some("invalid_input"));
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        })
        .unwrap();
    let (accepted, refused) = (accepted.into_inner(), refused.into_inner());
    println!("arbitrary arguments: {accepted} accepted and ran, {refused} refused and never ran");
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[derive(Clone, Default)]
struct Wide {
    runs: Arc<AtomicUsize>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Signed {
    #[allow(dead_code)]
    n: i64,
}

#[secure_tool_router]
impl Wide {
    /// Takes a signed 64-bit integer.
    #[secure_tool(authz = public, mode = read)]
    async fn signed(&self, _args: Signed) -> Result<Done, ToolError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(Done { ok: true })
    }
}

impl rmcp::ServerHandler for Wide {}

#[tokio::test]
async fn an_integer_past_the_types_range_is_refused_never_clamped() {
    let wide = Wide::default();
    let server = SecureServer::new(wide.clone());
    // Past `i64::MIN` by one, and by the most a float rounds to it: JSON parses each as the
    // float -2^63, which the schema's minimum lets through.
    for literal in ["-9223372036854775809", "-9223372036854776000"] {
        let arguments: Map<String, Value> =
            serde_json::from_str(&format!(r#"{{"n": {literal}}}"#)).unwrap();
        let answer = server
            .call("signed", Some(arguments), Principal::anonymous())
            .await
            .unwrap();
        assert_eq!(
            category(&answer).as_deref(),
            Some("invalid_input"),
            "{literal}"
        );
    }
    assert_eq!(wide.runs.load(Ordering::SeqCst), 0, "a clamped value ran");
    // The type's own bounds still go through.
    for n in [i64::MIN, i64::MAX] {
        let arguments: Map<String, Value> = serde_json::from_value(json!({ "n": n })).unwrap();
        let answer = server
            .call("signed", Some(arguments), Principal::anonymous())
            .await
            .unwrap();
        assert_eq!(answer.is_error, Some(false), "{n}");
    }
}

#[derive(Clone, Default)]
struct Renamed;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Titled {
    /// Read from `name` too, which the published schema does not show.
    #[serde(alias = "name")]
    #[schemars(length(max = 20))]
    title: Option<String>,
    inner: Option<Nested>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Nested {
    #[serde(alias = "label")]
    #[schemars(length(max = 5))]
    tag: Option<String>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Seen {
    title: Option<String>,
    tag: Option<String>,
}

/// Refuses members it does not declare; the object under it does not.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Strictly {
    inner: Option<Nested>,
}

/// An untagged enum, a tagged one and a flattened struct, each with a field read under a
/// name its schema does not show.
#[expect(dead_code, reason = "read through its `Debug`")]
#[derive(serde::Deserialize, schemars::JsonSchema, Debug)]
struct Shaped {
    either: Option<Untagged>,
    shape: Option<Tagged>,
    #[serde(flatten)]
    more: More,
}

#[expect(dead_code, reason = "read through its `Debug`")]
#[derive(serde::Deserialize, schemars::JsonSchema, Debug)]
#[serde(untagged)]
enum Untagged {
    Titled {
        #[serde(alias = "name")]
        #[schemars(length(max = 5))]
        title: Option<String>,
    },
    Counted {
        count: u32,
    },
}

#[expect(dead_code, reason = "read through its `Debug`")]
#[derive(serde::Deserialize, schemars::JsonSchema, Debug)]
#[serde(tag = "kind")]
enum Tagged {
    Circle {
        #[serde(alias = "r")]
        #[schemars(range(max = 10))]
        radius: Option<u32>,
    },
    Square {
        /// A member of another variant, by the name the circle's alias reads.
        r: Option<String>,
    },
}

#[expect(dead_code, reason = "read through its `Debug`")]
#[derive(serde::Deserialize, schemars::JsonSchema, Debug)]
struct More {
    #[serde(alias = "extent")]
    #[schemars(range(max = 10))]
    size: Option<u32>,
}

#[secure_tool_router]
impl Renamed {
    /// Says what it was given.
    #[secure_tool(authz = public, mode = read)]
    async fn titled(&self, args: Titled) -> Result<Seen, ToolError> {
        Ok(Seen {
            title: args.title,
            tag: args.inner.and_then(|inner| inner.tag),
        })
    }

    /// Says what it was given.
    #[secure_tool(authz = public, mode = read)]
    async fn strictly(&self, args: Strictly) -> Result<Seen, ToolError> {
        Ok(Seen {
            title: None,
            tag: args.inner.and_then(|inner| inner.tag),
        })
    }

    /// Says what it was given.
    #[secure_tool(authz = public, mode = read)]
    async fn shaped(&self, args: Shaped) -> Result<String, ToolError> {
        Ok(format!("{args:?}"))
    }
}

impl rmcp::ServerHandler for Renamed {}

#[tokio::test]
async fn a_member_the_schema_does_not_declare_reaches_nothing_under_an_alias() {
    let server = SecureServer::new(Renamed);
    let long = "x".repeat(30_000);
    // Under the alias the schema does not show, past the field's bound: it reaches neither
    // the field nor the policy; the field is empty, as if never sent.
    let sent = json!({ "name": long, "inner": { "label": long } });
    let answer = server
        .call("titled", sent.as_object().cloned(), Principal::anonymous())
        .await
        .unwrap();
    assert_eq!(answer.is_error, Some(false), "{answer:?}");
    assert_eq!(
        answer.structured_content.unwrap(),
        json!({ "title": null, "tag": null })
    );
    // Under its published name, the field's bound holds.
    let sent = json!({ "title": long });
    let answer = server
        .call("titled", sent.as_object().cloned(), Principal::anonymous())
        .await
        .unwrap();
    assert_eq!(category(&answer).as_deref(), Some("invalid_input"));
}

#[tokio::test]
async fn no_shape_of_type_reads_a_member_its_schema_does_not_declare() {
    let server = SecureServer::new(Renamed);
    let long = "x".repeat(30);
    let call = |tool: &'static str, sent: Value| {
        let server = server.clone();
        async move {
            server
                .call(tool, sent.as_object().cloned(), Principal::anonymous())
                .await
                .unwrap()
        }
    };
    // Under a type that refuses undeclared members (they are refused, not dropped), the
    // object of a type that ignores them.
    let answer = call("strictly", json!({ "inner": { "label": long } })).await;
    assert_eq!(answer.is_error, Some(false), "{answer:?}");
    assert_eq!(
        answer.structured_content.unwrap(),
        json!({ "title": null, "tag": null })
    );
    let answer = call("strictly", json!({ "other": 1 })).await;
    assert_eq!(category(&answer).as_deref(), Some("invalid_input"));

    // An untagged enum's variant, a tagged enum's variant (the alias is another variant's
    // member, which the tag rules out), a flattened struct.
    let sent = json!({
        "either": { "name": long },
        "shape": { "kind": "Circle", "r": 1000 },
        "extent": 1000,
    });
    let answer = call("shaped", sent).await;
    assert_eq!(answer.is_error, Some(false), "{answer:?}");
    assert_eq!(
        text(&answer),
        "Shaped { either: Some(Titled { title: None }), shape: Some(Circle { radius: None }), \
         more: More { size: None } }"
    );
    // What the schemas declare is read as ever, and held to its bounds.
    let sent = json!({ "shape": { "kind": "Square", "r": "side" }, "size": 3 });
    let answer = call("shaped", sent).await;
    assert_eq!(
        text(&answer),
        "Shaped { either: None, shape: Some(Square { r: Some(\"side\") }), more: More { size: Some(3) } }"
    );
    let answer = call(
        "shaped",
        json!({ "shape": { "kind": "Circle", "radius": 1000 } }),
    )
    .await;
    assert_eq!(category(&answer).as_deref(), Some("invalid_input"));
}

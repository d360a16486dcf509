//! [`ArgumentLimits`]: the size caps every tool's arguments are held to, checked before
//! the schema (cheap checks first: a 1 MB string never reaches a regular expression) and
//! whatever the schema says.

use std::io;

use serde::Serialize;
use serde_json::Value;

use super::field_path::{DeclaredNames, FieldPath, Problem, count};

/// The size caps of a tool's arguments. Every tool has them, whether or not its schema
/// declares any bound: a call past one is refused as `invalid_input`, naming the field and
/// the limit, before the schema is checked and before the handler's type is parsed.
///
/// The defaults are [`ArgumentLimits::DEFAULT`]; a server sets its own with
/// [`SecureServerBuilder::argument_limits`](crate::SecureServerBuilder::argument_limits),
/// a tool with [`ToolSpec::with_argument_limits`](crate::route::ToolSpec::with_argument_limits)
/// or `#[secure_tool(argument_limits = ...)]` (the tool's own win). The caps apply on top
/// of the schema: a field declared `maxLength: 100000` still meets `max_string_chars`, so
/// raise both.
///
/// ```
/// use secure_tool::route::ArgumentLimits;
///
/// let limits = ArgumentLimits::default()
///     .with_max_string_chars(100_000)
///     .with_max_bytes(512 * 1024);
/// assert_eq!(limits.max_string_chars(), 100_000);
/// assert_eq!(limits.max_depth(), ArgumentLimits::DEFAULT.max_depth());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ArgumentLimits {
    max_bytes: usize,
    max_string_chars: usize,
    max_array_items: usize,
    max_depth: usize,
    max_properties: usize,
}

impl Default for ArgumentLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl ArgumentLimits {
    /// The caps of a tool that sets none, and why each is what it is:
    ///
    /// | cap | default | why |
    /// |---|---|---|
    /// | [`max_bytes`](Self::max_bytes) | 256 KiB | the arguments as JSON: more than a model writes in one call (~64k tokens), 4× a 16 Ki-character text of 4-byte characters, and far under the transports' own caps (4 MiB over HTTP, 16 MiB a stdio line), so the tool's limit, with its message, is the one a caller meets |
    /// | [`max_string_chars`](Self::max_string_chars) | 32,768 | characters of one string (and of one object key): a long document section; the schema's `maxLength` checks and any `pattern` run only on strings this long or shorter |
    /// | [`max_array_items`](Self::max_array_items) | 1,024 | items of one array: a generous batch of ids, while `uniqueItems` and per-item checks stay cheap |
    /// | [`max_depth`](Self::max_depth) | 32 | levels of nesting, the arguments object being level 1: deeper than any derived type needs, and far from the depth at which recursive code (`Deserialize`, the schema check) would exhaust a stack |
    /// | [`max_properties`](Self::max_properties) | 256 | members of one object: a struct has tens of fields; a map the caller fills is bounded too |
    pub const DEFAULT: Self = Self {
        max_bytes: 256 * 1024,
        max_string_chars: 32 * 1024,
        max_array_items: 1024,
        max_depth: 32,
        max_properties: 256,
    };

    /// The most bytes the arguments may take as JSON (serialized compactly, as
    /// `serde_json::to_vec` writes them).
    pub const fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The most characters (Unicode scalar values, as JSON Schema's `maxLength` counts) of
    /// any string, and of any object key.
    pub const fn max_string_chars(&self) -> usize {
        self.max_string_chars
    }

    /// The most items of any array.
    pub const fn max_array_items(&self) -> usize {
        self.max_array_items
    }

    /// The most levels of nesting: the arguments object is level 1, an object or array in
    /// it level 2, and so on.
    pub const fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// The most members of any object, the arguments object included.
    pub const fn max_properties(&self) -> usize {
        self.max_properties
    }

    /// Sets [`max_bytes`](Self::max_bytes).
    ///
    /// # Panics
    ///
    /// If `max` is zero: every call would be refused.
    pub const fn with_max_bytes(mut self, max: usize) -> Self {
        assert!(max > 0, "the argument byte limit must be more than zero");
        self.max_bytes = max;
        self
    }

    /// Sets [`max_string_chars`](Self::max_string_chars).
    ///
    /// # Panics
    ///
    /// If `max` is zero: no argument could have a name.
    pub const fn with_max_string_chars(mut self, max: usize) -> Self {
        assert!(max > 0, "the argument string limit must be more than zero");
        self.max_string_chars = max;
        self
    }

    /// Sets [`max_array_items`](Self::max_array_items) (zero refuses any non-empty array).
    pub const fn with_max_array_items(mut self, max: usize) -> Self {
        self.max_array_items = max;
        self
    }

    /// Sets [`max_depth`](Self::max_depth).
    ///
    /// # Panics
    ///
    /// If `max` is zero: the arguments object itself is level 1.
    pub const fn with_max_depth(mut self, max: usize) -> Self {
        assert!(max > 0, "the argument nesting limit must be at least 1");
        self.max_depth = max;
        self
    }

    /// Sets [`max_properties`](Self::max_properties) (zero refuses any non-empty object).
    pub const fn with_max_properties(mut self, max: usize) -> Self {
        self.max_properties = max;
        self
    }

    /// The first cap `arguments` breaks, if any, as the caller's message names it. The
    /// walk is iterative (no recursion on the caller's nesting) and stops at the first
    /// problem. The walk also bounds the size from above (every string as if each of its
    /// bytes were escaped): only when that bound passes the limit is the size counted
    /// exactly, by serializing, once the nesting is known to be bounded.
    pub(crate) fn check(
        &self,
        arguments: &Value,
        names: &DeclaredNames,
    ) -> Result<Walked, Problem> {
        let walked = self.check_shape(arguments, names)?;
        if walked.most_bytes <= self.max_bytes {
            return Ok(walked);
        }
        let mut counter = ByteCounter {
            left: self.max_bytes,
        };
        if serde_json::to_writer(&mut counter, arguments).is_err() {
            return Err(Problem::new(
                FieldPath::root(),
                format!(
                    "at most {} of JSON in all",
                    count(self.max_bytes, "byte", "bytes")
                ),
            ));
        }
        Ok(walked)
    }

    fn check_shape(&self, arguments: &Value, names: &DeclaredNames) -> Result<Walked, Problem> {
        /// One open container of the walk, and the member that led to it.
        struct Frame<'v> {
            segment: Option<Segment<'v>>,
            children: Children<'v>,
        }
        enum Children<'v> {
            Object(serde_json::map::Iter<'v>),
            Array(std::iter::Enumerate<std::slice::Iter<'v, Value>>),
        }
        #[derive(Clone, Copy)]
        enum Segment<'v> {
            Key(&'v str),
            Index(usize),
        }
        let path_of = |stack: &[Frame<'_>], last: Option<Segment<'_>>| {
            let mut path = FieldPath::root();
            let segments = stack.iter().filter_map(|frame| frame.segment).chain(last);
            for segment in segments {
                match segment {
                    Segment::Key(key) => path.push_key(key, names),
                    Segment::Index(index) => path.push_index(index),
                }
            }
            path
        };
        let too_long = |text: &str| {
            // A string has at least as many bytes as characters: most are counted in O(1).
            text.len() > self.max_string_chars && text.chars().count() > self.max_string_chars
        };

        let mut walked = Walked::default();
        let mut stack: Vec<Frame<'_>> = Vec::new();
        let mut next: Option<(Option<Segment<'_>>, &Value)> = Some((None, arguments));
        loop {
            if let Some((segment, value)) = next.take() {
                // The most bytes `value` takes as JSON, its members' and items' aside: an
                // escape is at most 6 bytes (`\u001f`) a byte, a number at most 24
                // (`-1.7976931348623157e+308`); a member adds its key, `:` and `,`.
                let own = match value {
                    Value::String(text) => text.len().saturating_mul(6).saturating_add(2),
                    Value::Number(_) => 24,
                    Value::Bool(_) | Value::Null => 5,
                    Value::Array(_) | Value::Object(_) => 2,
                };
                let key = match segment {
                    Some(Segment::Key(key)) => key.len().saturating_mul(6).saturating_add(3),
                    _ => 0,
                };
                walked.most_bytes = walked
                    .most_bytes
                    .saturating_add(own)
                    .saturating_add(key)
                    .saturating_add(1);
                let children = match value {
                    Value::String(text) if too_long(text) => {
                        return Err(Problem::new(
                            path_of(&stack, segment),
                            format!(
                                "at most {}",
                                count(self.max_string_chars, "character", "characters")
                            ),
                        ));
                    }
                    Value::Array(items) => {
                        if items.len() > self.max_array_items {
                            return Err(Problem::new(
                                path_of(&stack, segment),
                                format!("at most {}", count(self.max_array_items, "item", "items")),
                            ));
                        }
                        Some(Children::Array(items.iter().enumerate()))
                    }
                    Value::Object(members) => {
                        if members.len() > self.max_properties {
                            return Err(Problem::new(
                                path_of(&stack, segment),
                                format!(
                                    "at most {}",
                                    count(self.max_properties, "property", "properties")
                                ),
                            ));
                        }
                        Some(Children::Object(members.iter()))
                    }
                    Value::Number(number) => {
                        walked.integral_floats |= number
                            .as_f64()
                            .is_some_and(|float| number.is_f64() && float.fract() == 0.0);
                        None
                    }
                    _ => None,
                };
                if let Some(children) = children {
                    if stack.len() + 1 > self.max_depth {
                        return Err(Problem::new(
                            path_of(&stack, segment),
                            format!(
                                "nested deeper than {}",
                                count(self.max_depth, "level", "levels")
                            ),
                        ));
                    }
                    stack.push(Frame { segment, children });
                }
            }
            let Some(frame) = stack.last_mut() else {
                return Ok(walked);
            };
            match &mut frame.children {
                Children::Object(members) => match members.next() {
                    Some((key, value)) => {
                        if too_long(key) {
                            return Err(Problem::new(
                                path_of(&stack, None),
                                format!(
                                    "a key longer than {}",
                                    count(self.max_string_chars, "character", "characters")
                                ),
                            ));
                        }
                        next = Some((Some(Segment::Key(key)), value));
                    }
                    None => drop(stack.pop()),
                },
                Children::Array(items) => match items.next() {
                    Some((index, value)) => next = Some((Some(Segment::Index(index)), value)),
                    None => drop(stack.pop()),
                },
            }
        }
    }
}

/// What the walk of [`ArgumentLimits::check`] saw, besides the caps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Walked {
    /// Whether a number with no fractional part is written as a float (`10.0`): JSON
    /// Schema counts it an integer, serde's integer types do not take it, see
    /// [`integral_floats_as_integers`](super::arguments::integral_floats_as_integers).
    pub(crate) integral_floats: bool,
    /// At least as many bytes as the arguments take as JSON.
    pub(crate) most_bytes: usize,
}

/// Counts the bytes written to it, and fails once they pass the limit (which stops
/// `serde_json::to_writer` there: nothing is allocated, nothing past the limit is written).
struct ByteCounter {
    left: usize,
}

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.left.checked_sub(buf.len()) {
            Some(left) => {
                self.left = left;
                Ok(buf.len())
            }
            None => Err(io::ErrorKind::FileTooLarge.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> DeclaredNames {
        let Value::Object(schema) = json!({"properties": {
            "title": {}, "tags": {}, "nested": {}, "filters": {}
        }}) else {
            unreachable!()
        };
        DeclaredNames::of(&schema)
    }

    fn refusal(limits: ArgumentLimits, arguments: &Value) -> String {
        let problem = limits.check(arguments, &names()).unwrap_err();
        format!("{}: {}", problem.path.as_str(), problem.expected)
    }

    const SMALL: ArgumentLimits = ArgumentLimits::DEFAULT
        .with_max_bytes(200)
        .with_max_string_chars(8)
        .with_max_array_items(3)
        .with_max_depth(3)
        .with_max_properties(4);

    #[test]
    fn arguments_within_every_cap_pass() {
        let at_the_caps = json!({
            "title": "12345678",
            "tags": ["a", "b", "c"],
            "nested": {"filters": [1, 2]},
            "é": "éééééééé",
        });
        assert!(SMALL.check(&at_the_caps, &names()).is_ok());
        let bytes = serde_json::to_vec(&at_the_caps).unwrap().len();
        let bound = SMALL.check(&at_the_caps, &names()).unwrap().most_bytes;
        assert!(bound >= bytes, "{bound} < {bytes}");
        let exact = SMALL.with_max_bytes(bytes);
        assert!(exact.check(&at_the_caps, &names()).is_ok());
        assert!(
            exact
                .with_max_bytes(bytes - 1)
                .check(&at_the_caps, &names())
                .is_err()
        );
    }

    #[test]
    fn each_cap_names_the_place_and_the_limit_never_the_value() {
        let cases = [
            (
                json!({"title": "MARK-7f3a!"}),
                "title: at most 8 characters",
            ),
            (json!({"tags": [1, 2, 3, 4]}), "tags: at most 3 items"),
            (
                json!({"nested": {"MARK-7f": [[1]]}}),
                "nested.*[0]: nested deeper than 3 levels",
            ),
            (
                json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}),
                ": at most 4 properties",
            ),
            (
                json!({"filters": {"MARK-7f3a-long-key": 1}}),
                "filters: a key longer than 8 characters",
            ),
            (
                json!({"tags": ["ok", "MARK-7f3a-too-long"]}),
                "tags[1]: at most 8 characters",
            ),
            (
                json!({"MARK-7f": ["ok", "MARK-7f3a-x"]}),
                "*[1]: at most 8 characters",
            ),
        ];
        for (arguments, expected) in cases {
            let refused = refusal(SMALL, &arguments);
            assert_eq!(refused, expected);
            assert!(!refused.contains("MARK"), "{refused}");
        }
        let long = json!({"title": "x".repeat(150), "tags": ["y".repeat(100)]});
        let wide = SMALL.with_max_string_chars(1000);
        assert_eq!(refusal(wide, &long), ": at most 200 bytes of JSON in all");
    }

    #[test]
    fn the_size_bound_is_never_below_the_size() {
        let escapes = "\u{1f}\"\\\n\u{7f}é𝄞";
        for arguments in [
            json!({}),
            json!({"a": null, "b": true, "c": false}),
            json!({"n": [u64::MAX, i64::MIN, -1.797_693_134_862_315_7e308, 5e-324, 0.1]}),
            json!({escapes: [escapes, {escapes: escapes}], "": [[], {}]}),
        ] {
            let bytes = serde_json::to_vec(&arguments).unwrap().len();
            let walked = ArgumentLimits::DEFAULT.check(&arguments, &names()).unwrap();
            assert!(
                walked.most_bytes >= bytes,
                "{} < {bytes}: {arguments}",
                walked.most_bytes
            );
            // At the exact size, the bound passes the limit and the size is counted.
            let exact = ArgumentLimits::DEFAULT.with_max_bytes(bytes);
            assert!(exact.check(&arguments, &names()).is_ok(), "{arguments}");
            let under = ArgumentLimits::DEFAULT.with_max_bytes(bytes - 1);
            assert!(under.check(&arguments, &names()).is_err(), "{arguments}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        // Far deeper than any stack would take recursively.
        let mut deep = json!(1);
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        // Not `json!`, which would serialize it (recursively).
        let arguments = Value::Object([("nested".to_owned(), deep)].into_iter().collect());
        let refused = refusal(ArgumentLimits::DEFAULT, &arguments);
        assert!(
            refused.ends_with("nested deeper than 32 levels"),
            "{refused}"
        );
        // Dropping it would recurse: leak it instead.
        std::mem::forget(arguments);
    }

    #[test]
    fn the_walk_notes_integral_floats() {
        let walked = |arguments: Value| SMALL.check(&arguments, &names()).unwrap();
        assert!(!walked(json!({"title": 1, "tags": [2.5, -3]})).integral_floats);
        assert!(walked(json!({"tags": [2.5, {"nested": 10.0}]})).integral_floats);
    }

    #[test]
    fn strings_are_counted_in_characters() {
        let limits = SMALL.with_max_bytes(1000);
        let four_bytes_each = "𝄞".repeat(8);
        assert!(
            limits
                .check(&json!({"title": four_bytes_each}), &names())
                .is_ok()
        );
        assert!(
            limits
                .check(&json!({"title": "𝄞".repeat(9)}), &names())
                .is_err()
        );
    }
}

//! Shared pieces of the property tests (issue 13; `proptest`), which live beside the code
//! they test in `*_props.rs` files:
//! - `sources/poll/cursor_props.rs`: the poll cursor planner against the simulator;
//! - `sinks/util/view_props.rs`: every encoder renders any journaled event;
//! - `sinks/syslog/escape_props.rs`: CEF / LEEF / RFC 5424 escaping, parsed back;
//! - `config/props.rs`: the config reader on any text and on mutated valid files;
//! - `incidents/webhook_props.rs`: the ServiceNow webhook's signature check;
//! - and in `secure-endpoint`, `src/event_props.rs`: the event and page parsers (what both
//!   sources hand to the journal or to `dead_letters`).
//!
//! Run them all with `cargo test -p sebridge --lib props`; `PROPTEST_CASES=N` runs N cases
//! per property instead of each test's own number. Failures are not persisted to files
//! (`failure_persistence: None`): a failing input that shows a real bug is kept as a plain
//! unit test beside the code it fixed.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::Value;

/// A test's configuration: `cases` (or `PROPTEST_CASES`), nothing written to disk.
pub(crate) fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that the escapers must handle: the CEF, LEEF, RFC 5424 and JSON specials, line
/// breaks, non-ASCII, mixed with anything.
pub(crate) fn tricky_string() -> impl Strategy<Value = String> {
    let specials = proptest::collection::vec(
        prop_oneof![
            4 => proptest::sample::select(vec![
                '\\', '=', '|', ']', '"', '\n', '\r', '\t', '^', ' ', '\u{0}', '\u{7f}', 'é', '→',
                '\u{2028}', '😀', 'n', 'r', 't', 'x',
            ]),
            3 => proptest::char::range('a', 'z'),
            1 => any::<char>(),
        ],
        0..24,
    )
    .prop_map(|cs| cs.into_iter().collect::<String>());
    prop_oneof![3 => specials, 1 => any::<String>()]
}

/// An arbitrary JSON tree (depth ≤ 4), object keys drawn mostly from `keys`.
pub(crate) fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        tricky_string().prop_map(Value::String),
    ];
    let key = prop_oneof![
        3 => proptest::sample::select(keys).prop_map(str::to_string),
        1 => tricky_string(),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..7)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

//! Parsers of CEF and LEEF records back into their fields (unescaped), for the checks.

use serde_json::Value;
use std::collections::BTreeMap;

/// Splits `s` at unescaped `sep` (`\x` stands for `x`, `\n` `\r` `\t` for line breaks and
/// tab) into at most `max` unescaped parts (the last holds the rest, still escaped).
pub(super) fn split_escaped(s: &str, sep: char, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if parts.len() + 1 == max {
            cur.push(c);
            cur.extend(it);
            break;
        }
        match c {
            '\\' => cur.push(unescape(it.next().expect("an escape has its character"))),
            c if c == sep => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

pub(super) fn unescape(c: char) -> char {
    match c {
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        c => c,
    }
}

/// A CEF record → its 7 header fields and its extension, unescaped.
pub(super) fn parse_cef(rec: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let mut parts = split_escaped(rec, '|', 8);
    assert_eq!(parts.len(), 8, "7 header fields and the extension: {rec}");
    let ext = parts.pop().expect("extension");
    // Keys are the words before an unescaped `=` (values escape theirs).
    let mut toks: Vec<(char, bool)> = Vec::new();
    let mut it = ext.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => toks.push((it.next().expect("escape"), true)),
            c => toks.push((c, false)),
        }
    }
    let eqs: Vec<usize> = (0..toks.len())
        .filter(|&i| toks[i] == ('=', false))
        .collect();
    let key_start = |p: usize| {
        let mut s = p;
        while s > 0 && !toks[s - 1].1 && toks[s - 1].0.is_ascii_alphanumeric() {
            s -= 1;
        }
        s
    };
    let mut map = BTreeMap::new();
    for (n, &p) in eqs.iter().enumerate() {
        let ks = key_start(p);
        let end = match eqs.get(n + 1) {
            Some(&q) => {
                let next = key_start(q);
                assert_eq!(
                    toks[next - 1],
                    (' ', false),
                    "pairs are space-separated: {rec}"
                );
                next - 1
            }
            None => toks.len(),
        };
        let key: String = toks[ks..p].iter().map(|t| t.0).collect();
        let value: String = toks[p + 1..end]
            .iter()
            .map(|&(c, esc)| if esc { unescape(c) } else { c })
            .collect();
        assert!(
            map.insert(key.clone(), value).is_none(),
            "{key} twice: {rec}"
        );
    }
    (parts, map)
}

/// A LEEF 2.0 record → its 6 header fields and its attributes, unescaped.
pub(super) fn parse_leef(rec: &str, delim: char) -> (Vec<String>, BTreeMap<String, String>) {
    let mut parts = split_escaped(rec, '|', 7);
    assert_eq!(parts.len(), 7, "6 header fields and the attributes: {rec}");
    let attrs = parts.pop().expect("attributes");
    let mut map = BTreeMap::new();
    for pair in split_escaped(&attrs, delim, usize::MAX) {
        let (k, v) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("{pair:?}: {rec}"));
        assert!(
            map.insert(k.to_string(), v.to_string()).is_none(),
            "{k} twice"
        );
    }
    (parts, map)
}

/// Asserts `got[key]` is `want` (`None`: the key is absent).
pub(super) fn field(got: &BTreeMap<String, String>, key: &str, want: Option<String>, ctx: &str) {
    assert_eq!(got.get(key), want.as_ref(), "{ctx}: {key}");
}

pub(super) fn millis(v: &Value) -> i64 {
    let ns = v["timestamp_nanoseconds"].as_i64().unwrap_or(0);
    v["timestamp"].as_i64().expect("timestamp") * 1000 + ns / 1_000_000
}

//! The shared machinery every section uses: where each problem is (byte span to line:col),
//! the list of problems, [`Field`] (a value that keeps its span and never fails, so one
//! wrong element of a list does not hide the others), the unknown-key check against a
//! serde struct's own field list, and the `type` of a tagged table.
//!
//! Section modules use this module; it uses none of them.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::ConfigError;

pub(crate) type Span = Option<Range<usize>>;

/// One field as written: where, and its value or why it does not have the field's type.
///
/// A type mismatch is kept instead of failing the list, so every wrong element is
/// reported in one pass ([`super::de::list`]).
#[derive(Debug)]
pub(crate) struct Field<T> {
    pub span: Range<usize>,
    pub value: Result<T, String>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Catch<T>(Result<T, String>);
        impl<'de, T: Deserialize<'de>> Deserialize<'de> for Catch<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(Catch(T::deserialize(d).map_err(|e| e.to_string())))
            }
        }
        let s = Spanned::<Catch<T>>::deserialize(d)?;
        Ok(Field {
            span: s.span(),
            value: s.into_inner().0,
        })
    }
}

/// A table being read: how messages name it, where it was introduced (problems about the
/// table as a whole point there) and where each of its keys is written.
pub(crate) struct Sec {
    /// e.g. "tenant `acme`" or "[store]".
    pub what: String,
    pub span: Span,
    keys: Vec<(String, Range<usize>)>,
    vals: Vec<Range<usize>>,
}

impl Sec {
    pub fn new(what: impl Into<String>, span: Span, table: &DeTable<'_>) -> Sec {
        let keys = table
            .iter()
            .map(|(k, _)| (k.get_ref().to_string(), k.span()))
            .collect();
        let vals = table.iter().map(|(_, v)| v.span()).collect();
        Sec {
            what: what.into(),
            span,
            keys,
            vals,
        }
    }

    pub fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == key)
    }

    /// Where `key` is written.
    pub fn key(&self, key: &str) -> Span {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.clone())
    }

    /// Where the value of `key` is written.
    pub fn val(&self, key: &str) -> Span {
        let i = self.keys.iter().position(|(k, _)| k == key)?;
        self.vals.get(i).cloned()
    }
}

/// The names of a serde struct's fields, in declaration order: the keys its table allows.
pub(crate) fn fields<T: DeserializeOwned>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Found(&'static [&'static str]);
    impl std::fmt::Display for Found {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("not a struct")
        }
    }
    impl std::error::Error for Found {}
    impl serde::de::Error for Found {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Found(&[])
        }
    }
    struct Probe;
    impl<'de> Deserializer<'de> for Probe {
        type Error = Found;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Found(f)) => f,
        Ok(_) => &[],
    }
}

/// The reading of one file: its text, every problem found so far, and what the `${NAME}`
/// pass learnt about the values.
pub(crate) struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    line_starts: Vec<usize>,
    errors: Vec<ConfigError>,
    /// The directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// TOML type of each value, by span, as messages name it ("found string").
    pub(crate) types: HashMap<(usize, usize), &'static str>,
    /// Values whose `${NAME}` expansion failed (reported): not checked further.
    pub(crate) poisoned: HashSet<(usize, usize)>,
    /// How unset variables are treated (see `env.rs`).
    pub(crate) env_policy: super::env::EnvPolicy,
    /// Values left with a placeholder for an unset variable ([`super::env::EnvPolicy::Inspect`]):
    /// a problem found in one is reported as the variable not being set, at the reference.
    unset: Vec<(Range<usize>, Range<usize>, String)>,
    /// The unset variables left as placeholders.
    pub(crate) unset_names: std::collections::BTreeSet<String>,
    /// Tenants named but not declared in the file: they may be in the store's registry.
    pub(crate) tenant_refs: Vec<super::TenantRef>,
}

fn key_of(r: &Range<usize>) -> (usize, usize) {
    (r.start, r.end)
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ctx {
            file,
            text,
            line_starts,
            errors: Vec::new(),
            base_dir: base_dir(file),
            types: HashMap::new(),
            poisoned: HashSet::new(),
            env_policy: super::env::EnvPolicy::Strict,
            unset: Vec::new(),
            unset_names: Default::default(),
            tenant_refs: Vec::new(),
        }
    }

    /// Records that the value at `value` holds the placeholder of the unset `name`
    /// (referenced at `at`), with the message a problem in it becomes.
    pub(crate) fn leave_unset(
        &mut self,
        name: &str,
        at: Range<usize>,
        value: &Range<usize>,
        message: String,
    ) {
        self.unset_names.insert(name.to_string());
        self.unset.push((value.clone(), at, message));
    }

    /// Records a tenant named at `span` by `what` that the file does not declare.
    pub(crate) fn defer_tenant(&mut self, name: &str, span: &Range<usize>, what: &str) {
        let (line, column) = self.line_col(span.start);
        self.tenant_refs.push(super::TenantRef {
            name: name.to_string(),
            what: what.to_string(),
            at: ConfigError {
                file: self.file.to_path_buf(),
                line: Some(line),
                column: Some(column),
                message: String::new(),
            },
        });
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Records a problem at `span` (or without a place when `None`).
    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
        let mut message = message.into();
        let mut span = span.clone();
        // A value holding an unset variable's placeholder fails for that reason.
        if let Some((_, at, m)) = span.as_ref().and_then(|r| {
            self.unset
                .iter()
                .find(|(v, _, _)| v.start <= r.start && r.start < v.end.max(v.start + 1))
        }) {
            if self.errors.iter().any(|e| e.message == *m) {
                return;
            }
            message = m.clone();
            span = Some(at.clone());
        }
        let span = &span;
        let (line, column) = match span {
            Some(r) => {
                let (l, c) = self.line_col(r.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            message,
        });
    }

    pub fn error_at(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.error(&Some(span.clone()), message);
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// All recorded problems, ordered by position (placeless ones last, in recording order).
    pub fn into_errors(self) -> Vec<ConfigError> {
        let mut errors = self.errors;
        errors.sort_by_key(|e| (e.line.is_none(), e.line, e.column));
        errors
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line, column)
    }

    /// The TOML type of the value at `span`, as messages name it.
    pub fn found(&self, span: &Range<usize>) -> &'static str {
        self.types
            .get(&key_of(span))
            .copied()
            .unwrap_or("another type")
    }

    pub fn is_poisoned(&self, span: &Range<usize>) -> bool {
        self.poisoned.contains(&key_of(span))
    }

    // ---- tables -------------------------------------------------------------------------

    /// Reports every key of `table` not in `allowed`, suggesting the closest allowed one.
    ///
    /// Returns the allowed keys suggested for typos, so callers can skip "missing key"
    /// reports that would only repeat the typo.
    pub fn check_keys(&mut self, s: &Sec, allowed: &[&str]) -> Vec<String> {
        let mut suggested = Vec::new();
        for (name, span) in &s.keys {
            if allowed.contains(&name.as_str()) {
                continue;
            }
            let mut message = format!(
                "unknown key `{name}` in {}; expected one of {}",
                s.what,
                allowed.join(", ")
            );
            if let Some(close) = closest(name, allowed) {
                message.push_str(&format!(" (did you mean `{close}`?)"));
                suggested.push(close.to_string());
            }
            self.error_at(span, message);
        }
        suggested
    }

    /// Records that a required key is missing.
    pub fn missing(&mut self, s: &Sec, key: &str, expected: &str) {
        self.error(
            &s.span,
            format!("missing `{key}` in {}: expected {expected}", s.what),
        );
    }

    /// `value` as a table; reports "must be a table" (naming `key` in `what`) otherwise.
    pub fn as_table<'v, 'i>(
        &mut self,
        value: &'v Spanned<DeValue<'i>>,
        key: &str,
        what: &str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                let span = value.span();
                let found = self.found(&span);
                let hint = if found == "an array of tables" {
                    format!(" (write [{key}.<name>], not [[{key}]])")
                } else {
                    String::new()
                };
                self.error_at(
                    &span,
                    format!("`{key}` in {what} must be a table, found {found}{hint}"),
                );
                None
            }
        }
    }

    /// The `type` of a source or sink, checked against `known`. When absent or unknown, the
    /// other keys are not checked: which keys are allowed depends on the type.
    pub fn kind(
        &mut self,
        s: &Sec,
        table: &DeTable<'_>,
        known: &[&str],
        singular: &str,
    ) -> Option<String> {
        let Some(value) = table.get("type") else {
            // The other keys are not checked without a type, so a misspelt `type` is
            // caught here.
            match s.keys.iter().find(|(k, _)| closest(k, &["type"]).is_some()) {
                Some((k, span)) => {
                    let message = format!(
                        "unknown key `{k}` in {} (did you mean `type`?); `type` must be one of {}",
                        s.what,
                        known.join(", ")
                    );
                    let span = span.clone();
                    self.error_at(&span, message);
                }
                None => self.missing(s, "type", &format!("one of {}", known.join(", "))),
            }
            return None;
        };
        let span = value.span();
        if self.is_poisoned(&span) {
            return None;
        }
        let Some(kind) = value.get_ref().as_str() else {
            let found = self.found(&span);
            self.error_at(
                &span,
                format!("`type` in {} must be a string, found {found}", s.what),
            );
            return None;
        };
        if known.contains(&kind) {
            return Some(kind.to_string());
        }
        let mut message = format!(
            "unknown {singular} type `{kind}` in {}; expected one of {}",
            s.what,
            known.join(", ")
        );
        if let Some(close) = closest(kind, known) {
            message.push_str(&format!(" (did you mean `{close}`?)"));
        }
        self.error_at(&span, message);
        None
    }

    // ---- typed fields -------------------------------------------------------------------
}

/// The keys of a tagged table (a source or sink): `type`, then the type's own.
pub(crate) fn with_type(own: &[&'static str]) -> Vec<&'static str> {
    std::iter::once("type").chain(own.iter().copied()).collect()
}

/// The directory relative paths are resolved against: the config file's, made absolute so
/// a later change of working directory does not change what the paths mean.
fn base_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// The allowed word closest to a typo, when it is close enough to be a likely intent.
pub(crate) fn closest<'s>(word: &str, candidates: &[&'s str]) -> Option<&'s str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit ("regoin").
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let text = "a = 1\nbé = \"x\"\n\nz";
        let r = Ctx::new(Path::new("f"), text);
        assert_eq!(r.line_col(0), (1, 1));
        assert_eq!(r.line_col(4), (1, 5));
        assert_eq!(r.line_col(6), (2, 1));
        // After the two-byte "é", column counts characters, not bytes.
        let eq = text.find(" = \"x").unwrap();
        assert_eq!(r.line_col(eq), (2, 3));
        assert_eq!(r.line_col(text.len() - 1), (4, 1));
        assert_eq!(r.line_col(text.len() + 10), (4, 2));
    }

    #[test]
    fn closest_suggests_near_misses_only() {
        let keys = ["region", "base_url", "client_id", "api_key", "enabled"];
        assert_eq!(closest("regoin", &keys), Some("region"));
        assert_eq!(closest("clientid", &keys), Some("client_id"));
        assert_eq!(closest("apikey", &keys), Some("api_key"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(closest("x", &["y"]), None);
    }

    #[test]
    fn fields_lists_a_struct_in_order() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct S {
            b: Option<Field<String>>,
            a: Option<Field<i64>>,
        }
        assert_eq!(fields::<S>(), ["b", "a"]);
    }
}

//! A thin layer over the `toml_edit` tree: typed getters that record every problem (with the
//! span of the offending key or value) instead of stopping at the first, plus `${NAME}`
//! expansion and byte-offset → line:column mapping.
//!
//! Getters return `None` both when a key is absent and when it is invalid (the problem is
//! already recorded); callers then fall back to a default or skip dependent checks, so one
//! mistake yields one message.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use toml_edit::{Item, Key, TableLike, Value};

use super::error::ConfigError;

pub(super) type Span = Option<Range<usize>>;

/// A value together with where it was written.
#[derive(Debug, Clone)]
pub(super) struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// A table being read, with how to name it in messages and where it was introduced.
#[derive(Clone, Copy)]
pub(super) struct Section<'a> {
    pub table: &'a dyn TableLike,
    /// e.g. "tenant `acme`" or "[store]".
    pub what: &'a str,
    /// The key that introduced the table (header or dotted key); problems about the table
    /// as a whole (a missing key) point here.
    pub span: &'a Span,
}

pub(super) struct Reader<'a> {
    file: &'a Path,
    text: &'a str,
    /// Byte offset at which each line starts.
    line_starts: Vec<usize>,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    pub fn new(file: &'a Path, text: &'a str, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Reader {
            file,
            text,
            line_starts,
            env,
            errors: Vec::new(),
        }
    }

    /// Records a problem at `span` (or without a place when `None`).
    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
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
            message: message.into(),
        });
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

    // ---- tables -------------------------------------------------------------------------

    /// Reports every key of `section` not in `allowed`, suggesting the closest allowed one.
    ///
    /// Returns the allowed keys suggested for typos, so callers can skip "missing key"
    /// reports that would only repeat the typo.
    pub fn check_keys(&mut self, section: Section<'_>, allowed: &[&str]) -> Vec<String> {
        let mut suggested = Vec::new();
        for (name, _) in section.table.iter() {
            if allowed.contains(&name) {
                continue;
            }
            let span = key_span(section.table, name);
            let mut message = format!(
                "unknown key `{name}` in {}; expected one of {}",
                section.what,
                allowed.join(", ")
            );
            if let Some(close) = closest(name, allowed) {
                message.push_str(&format!(" (did you mean `{close}`?)"));
                suggested.push(close.to_string());
            }
            self.error(&span, message);
        }
        suggested
    }

    /// The item under `key` with the span of the key and of the item.
    pub fn get<'t>(&self, section: Section<'t>, key: &str) -> Option<(&'t Item, Span, Span)> {
        let (k, item) = section.table.get_key_value(key)?;
        Some((item, k.span(), item_span(item)))
    }

    /// Records that a required key is missing.
    pub fn missing(&mut self, section: Section<'_>, key: &str, expected: &str) {
        self.error(
            section.span,
            format!("missing `{key}` in {}: expected {expected}", section.what),
        );
    }

    /// A sub-table (standard or inline). `None` when absent or not a table.
    pub fn table<'t>(
        &mut self,
        section: Section<'t>,
        key: &str,
    ) -> Option<(&'t dyn TableLike, Span)> {
        let (item, key_span, span) = self.get(section, key)?;
        match item.as_table_like() {
            Some(t) => Some((t, key_span)),
            None => {
                let hint = if item.is_array_of_tables() {
                    format!(" (write [{key}.<name>], not [[{key}]])")
                } else {
                    String::new()
                };
                self.error(
                    &span,
                    format!(
                        "`{key}` in {} must be a table, found {}{hint}",
                        section.what,
                        item_type(item)
                    ),
                );
                None
            }
        }
    }

    // ---- scalars ------------------------------------------------------------------------

    fn value<'t>(
        &mut self,
        section: Section<'t>,
        key: &str,
        expected: &str,
    ) -> Option<(&'t Value, Span)> {
        let (item, _, span) = self.get(section, key)?;
        match item.as_value() {
            Some(v) => Some((v, span)),
            None => {
                self.wrong_type(section, key, &span, expected, item_type(item));
                None
            }
        }
    }

    fn wrong_type(
        &mut self,
        section: Section<'_>,
        key: &str,
        span: &Span,
        expected: &str,
        found: &str,
    ) {
        self.error(
            span,
            format!(
                "`{key}` in {} must be {expected}, found {found}",
                section.what
            ),
        );
    }

    /// A string, with `${NAME}` expanded.
    pub fn string(&mut self, section: Section<'_>, key: &str) -> Option<Spanned<String>> {
        let (value, span) = self.value(section, key, "a string")?;
        let Some(raw) = value.as_str() else {
            self.wrong_type(section, key, &span, "a string", value_type(value));
            return None;
        };
        let expanded = self.expand(raw, &span, key, section.what)?;
        Some(Spanned {
            value: expanded,
            span,
        })
    }

    /// A string that must not be empty (nor only whitespace).
    pub fn non_empty_string(&mut self, section: Section<'_>, key: &str) -> Option<Spanned<String>> {
        let s = self.string(section, key)?;
        if s.value.trim().is_empty() {
            self.error(&s.span, format!("`{key}` in {} is empty", section.what));
            return None;
        }
        Some(s)
    }

    /// A secret string: like [`Self::string`], but the value never appears in messages.
    /// Surrounding whitespace is refused because it is almost always a paste accident, and
    /// would otherwise surface much later as an authentication failure.
    pub fn secret(&mut self, section: Section<'_>, key: &str) -> Option<Spanned<SecretString>> {
        let s = self.string(section, key)?;
        if s.value.trim().is_empty() {
            self.error(&s.span, format!("`{key}` in {} is empty", section.what));
            return None;
        }
        if s.value.trim() != s.value {
            self.error(
                &s.span,
                format!(
                    "`{key}` in {} has leading or trailing whitespace",
                    section.what
                ),
            );
            return None;
        }
        Some(Spanned {
            value: SecretString::from(s.value),
            span: s.span,
        })
    }

    pub fn integer(&mut self, section: Section<'_>, key: &str) -> Option<Spanned<i64>> {
        let (value, span) = self.value(section, key, "an integer")?;
        match value.as_integer() {
            Some(i) => Some(Spanned { value: i, span }),
            None => {
                self.wrong_type(section, key, &span, "an integer", value_type(value));
                None
            }
        }
    }

    /// An integer within `range`, converted to `T`.
    pub fn integer_in<T: TryFrom<i64>>(
        &mut self,
        section: Section<'_>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<T> {
        let i = self.integer(section, key)?;
        let converted = T::try_from(i.value)
            .ok()
            .filter(|_| range.contains(&i.value));
        if converted.is_none() {
            let expected = if *range.end() == i64::MAX {
                format!("at least {}", range.start())
            } else {
                format!("between {} and {}", range.start(), range.end())
            };
            self.error(
                &i.span,
                format!(
                    "`{key}` in {} must be {expected}, found {}",
                    section.what, i.value
                ),
            );
        }
        converted
    }

    pub fn boolean(&mut self, section: Section<'_>, key: &str) -> Option<bool> {
        let (value, span) = self.value(section, key, "a boolean (true or false)")?;
        match value.as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(
                    section,
                    key,
                    &span,
                    "a boolean (true or false)",
                    value_type(value),
                );
                None
            }
        }
    }

    /// A duration written as a humantime string ("60s", "5m", "24h", "1h 30m").
    pub fn duration(
        &mut self,
        section: Section<'_>,
        key: &str,
        allow_zero: bool,
    ) -> Option<Duration> {
        const EXPECTED: &str = "a duration string like \"30s\", \"5m\" or \"24h\"";
        let (value, span) = self.value(section, key, EXPECTED)?;
        let Some(raw) = value.as_str() else {
            self.wrong_type(section, key, &span, EXPECTED, value_type(value));
            return None;
        };
        let text = self.expand(raw, &span, key, section.what)?;
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.is_zero() && !allow_zero => {
                self.error(
                    &span,
                    format!("`{key}` in {} must be greater than zero", section.what),
                );
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    &span,
                    format!(
                        "`{key}` in {} is not a valid duration ({e}): expected {EXPECTED}",
                        section.what
                    ),
                );
                None
            }
        }
    }

    /// An array; its elements are checked by the caller with [`Self::element_string`] etc.
    pub fn array<'t>(
        &mut self,
        section: Section<'t>,
        key: &str,
    ) -> Option<Spanned<&'t toml_edit::Array>> {
        let (value, span) = self.value(section, key, "an array")?;
        match value.as_array() {
            Some(a) => Some(Spanned { value: a, span }),
            None => {
                self.wrong_type(section, key, &span, "an array", value_type(value));
                None
            }
        }
    }

    /// A string element of the array `key`, with `${NAME}` expanded.
    pub fn element_string(
        &mut self,
        section: Section<'_>,
        key: &str,
        value: &Value,
    ) -> Option<Spanned<String>> {
        let span = value.span();
        let Some(raw) = value.as_str() else {
            self.error(
                &span,
                format!(
                    "elements of `{key}` in {} must be strings, found {}",
                    section.what,
                    value_type(value)
                ),
            );
            return None;
        };
        let expanded = self.expand(raw, &span, key, section.what)?;
        Some(Spanned {
            value: expanded,
            span,
        })
    }

    // ---- ${NAME} expansion --------------------------------------------------------------

    /// Replaces `${NAME}` with the environment variable NAME; `$${` stands for a literal `${`.
    /// Every problem in the string is recorded; `None` if there was any.
    pub fn expand(&mut self, raw: &str, span: &Span, key: &str, what: &str) -> Option<String> {
        if !raw.contains("${") {
            return Some(raw.to_string());
        }
        let mut out = String::with_capacity(raw.len());
        let mut ok = true;
        let mut rest = raw;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = tail.strip_prefix("${") {
                let Some(end) = after.find('}') else {
                    self.error(
                        span,
                        format!(
                            "unterminated `${{` in `{key}` in {what}: write ${{NAME}}, or $${{ for a literal `${{`"
                        ),
                    );
                    return None;
                };
                let name = &after[..end];
                if !is_env_name(name) {
                    self.error(
                        span,
                        format!(
                            "invalid environment variable name `{name}` in `{key}` in {what}: \
                             expected letters, digits and `_`, not starting with a digit \
                             (write $${{ for a literal `${{`)"
                        ),
                    );
                    ok = false;
                } else {
                    match (self.env)(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            let at = self.reference_span(span, name);
                            self.error(
                                &at,
                                format!(
                                    "environment variable `{name}` is not set (referenced by `{key}` in {what})"
                                ),
                            );
                            ok = false;
                        }
                    }
                }
                rest = &after[end + 1..];
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        ok.then_some(out)
    }

    /// Where `${name}` is written inside the value's source text, so the column points at the
    /// reference itself; the value's start when it can't be found (e.g. written with escapes).
    fn reference_span(&self, span: &Span, name: &str) -> Span {
        let r = span.as_ref()?;
        let source = self.text.get(r.clone())?;
        let needle = format!("${{{name}}}");
        match source.find(&needle) {
            Some(i) => Some(r.start + i..r.start + i + needle.len()),
            None => Some(r.clone()),
        }
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn key_span(table: &dyn TableLike, name: &str) -> Span {
    table
        .get_key_value(name)
        .and_then(|(k, _): (&Key, _)| k.span())
}

pub(super) fn item_span(item: &Item) -> Span {
    item.span()
}

/// Type names as a user reads them in TOML terms.
pub(super) fn item_type(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Value(v) => value_type(v),
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
    }
}

pub(super) fn value_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Boolean(_) => "boolean",
        Value::Datetime(_) => "datetime",
        Value::Array(_) => "array",
        Value::InlineTable(_) => "inline table",
    }
}

/// The allowed word closest to a typo, when it is close enough to be a likely intent.
pub(super) fn closest<'s>(word: &str, candidates: &[&'s str]) -> Option<&'s str> {
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

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn line_col_counts_lines_and_characters() {
        let text = "a = 1\nbé = \"x\"\n\nz";
        let r = Reader::new(Path::new("f"), text, &no_env);
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
    fn env_names() {
        assert!(is_env_name("ACME_API_KEY"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("1A"));
        assert!(!is_env_name("A-B"));
    }

    fn expand(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> (Option<String>, Vec<String>) {
        let text = format!("k = \"{raw}\"");
        let mut r = Reader::new(Path::new("f"), &text, env);
        let out = r.expand(raw, &Some(4..text.len()), "k", "[t]");
        (
            out,
            r.into_errors().into_iter().map(|e| e.to_string()).collect(),
        )
    }

    #[test]
    fn expansion() {
        let env = |n: &str| (n == "A").then(|| "alpha".to_string());
        assert_eq!(
            expand("x${A}y${A}", &env).0.as_deref(),
            Some("xalphayalpha")
        );
        assert_eq!(expand("$${A} $5 $", &env).0.as_deref(), Some("${A} $5 $"));
        assert_eq!(expand("no refs", &env).0.as_deref(), Some("no refs"));

        let (out, errors) = expand("${A}-${B}-${C}", &env);
        assert!(out.is_none());
        assert_eq!(
            errors,
            [
                "f:1:11: environment variable `B` is not set (referenced by `k` in [t])",
                "f:1:16: environment variable `C` is not set (referenced by `k` in [t])",
            ]
        );
        let (out, errors) = expand("${A", &env);
        assert!(out.is_none());
        assert!(errors[0].contains("unterminated"), "{errors:?}");
        let (out, errors) = expand("${not-a-name}", &env);
        assert!(out.is_none());
        assert!(
            errors[0].contains("invalid environment variable name"),
            "{errors:?}"
        );
    }

    #[test]
    fn expanded_values_are_not_expanded_again() {
        let env = |n: &str| (n == "A").then(|| "${B}".to_string());
        assert_eq!(expand("${A}", &env).0.as_deref(), Some("${B}"));
    }
}

//! The `${NAME}` pass: one walk over the parsed document, before any section is read, that
//! replaces each `${NAME}` in a string value by the environment variable `NAME` (`$${` is a
//! literal `${`; values taken from the environment are not expanded again). A missing
//! variable is reported with the key and section that reference it, and the value is
//! marked so that no later check reports it again.
//!
//! The same walk records the TOML type of every value, for "found <type>" in messages.
//!
//! Under [`EnvPolicy::Inspect`] (commands that read the store but call no API), an unset
//! variable outside `[store]` and `[secrets]` is not an error: the value becomes a marked
//! placeholder ([`unset_reference`] tells it), which every secret reader accepts, so that
//! `sebridge incidents list` works without the tenants' keys in its environment. A value of
//! another kind (a region, a plain URL) still fails, with the "not set" message.

use std::borrow::Cow;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::reader::Ctx;

/// How `${NAME}` references to variables that are not set are treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnvPolicy {
    /// Every reference must resolve: commands that call an API or deliver (`run`, `validate`).
    #[default]
    Strict,
    /// Only `[store]` and `[secrets]` must resolve; elsewhere an unset variable leaves a
    /// marked placeholder (commands that only read the store, or call one tenant's API and
    /// check that tenant's credentials themselves).
    Inspect,
}

/// The first character of a placeholder left for an unset variable: a control character no
/// real value holds, so a placeholder is never taken for a value.
const UNSET_MARK: char = '\u{1}';

/// The placeholder of an unset `${NAME}` under [`EnvPolicy::Inspect`].
fn unset_placeholder(name: &str) -> String {
    format!("{UNSET_MARK}${{{name}}}")
}

/// `Some("${NAME}")` when `value` holds the placeholder of an unset variable.
pub fn unset_reference(value: &str) -> Option<&str> {
    let rest = value.strip_prefix(UNSET_MARK)?;
    let end = rest.find('}')?;
    Some(&rest[..=end])
}

/// How messages name the table at `path` ("tenant `acme`", "[incidents.servicenow]").
pub(crate) fn section_name(path: &[String]) -> String {
    match path {
        [] => "the top level".to_string(),
        [c, name] if c == "tenants" => format!("tenant `{name}`"),
        [c, name] if c == "sources" => format!("source `{name}`"),
        [c, name] if c == "sinks" => format!("sink `{name}`"),
        [i, r, name] if i == "incidents" && r == "rules" => format!("rule `{name}`"),
        _ => format!("[{}]", path.join(".")),
    }
}

pub(crate) fn expand_all(
    cx: &mut Ctx<'_>,
    root: &mut DeTable<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) {
    walk(cx, root, &mut Vec::new(), env);
}

/// Whether an unset variable may be left as a placeholder in the section at `path`.
fn lenient(cx: &Ctx<'_>, path: &[String]) -> bool {
    cx.env_policy == EnvPolicy::Inspect
        && !matches!(path.first().map(String::as_str), Some("store" | "secrets"))
}

fn walk(
    cx: &mut Ctx<'_>,
    table: &mut DeTable<'_>,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
) {
    for (key, value) in table.iter_mut() {
        let name = key.get_ref().to_string();
        // `[[name]]` headers: the array is written right after the `[[`.
        let before = cx.text().get(..key.span().start).unwrap_or("");
        let aot = matches!(value.get_ref(), DeValue::Array(_)) && before.trim_end().ends_with("[[");
        visit(cx, value, &name, path, env, aot);
    }
}

fn visit(
    cx: &mut Ctx<'_>,
    value: &mut Spanned<DeValue<'_>>,
    key: &str,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
    array_of_tables: bool,
) {
    let span = value.span();
    let source = cx.text().get(span.clone()).unwrap_or("");
    let kind = match value.get_ref() {
        DeValue::String(_) => "string",
        DeValue::Integer(_) => "integer",
        DeValue::Float(_) => "float",
        DeValue::Boolean(_) => "boolean",
        DeValue::Datetime(_) => "datetime",
        DeValue::Array(_) if array_of_tables => "an array of tables",
        DeValue::Array(_) => "array",
        DeValue::Table(_) if source.starts_with('{') => "inline table",
        DeValue::Table(_) => "a table",
    };
    // An array of tables and its first table may share a span: the outer value wins.
    cx.types.entry((span.start, span.end)).or_insert(kind);
    match value.get_mut() {
        DeValue::String(s) if s.contains("${") => {
            let lenient = lenient(cx, path);
            match expand(cx, s, &span, key, &section_name(path), env, lenient) {
                Some(expanded) => *s = Cow::Owned(expanded),
                None => {
                    cx.poisoned.insert((span.start, span.end));
                }
            }
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                visit(cx, item, key, path, env, false);
            }
        }
        DeValue::Table(t) => {
            path.push(key.to_string());
            walk(cx, t, path, env);
            path.pop();
        }
        _ => {}
    }
}

/// `raw` with its references replaced; `None` when one failed (every problem of the string
/// is recorded).
fn expand(
    cx: &mut Ctx<'_>,
    raw: &str,
    span: &Range<usize>,
    key: &str,
    what: &str,
    env: &dyn Fn(&str) -> Option<String>,
    lenient: bool,
) -> Option<String> {
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
                cx.error_at(
                    span,
                    format!(
                        "unterminated `${{` in `{key}` in {what}: write ${{NAME}}, or $${{ for a literal `${{`"
                    ),
                );
                return None;
            };
            let name = &after[..end];
            if !is_env_name(name) {
                cx.error_at(
                    span,
                    format!(
                        "invalid environment variable name `{name}` in `{key}` in {what}: \
                         expected letters, digits and `_`, not starting with a digit \
                         (write $${{ for a literal `${{`)"
                    ),
                );
                ok = false;
            } else if let Some(v) = env(name) {
                out.push_str(&v);
            } else if lenient {
                let at = reference_span(cx.text(), span, name);
                let message = format!(
                    "environment variable `{name}` is not set (referenced by `{key}` in {what})"
                );
                cx.leave_unset(name, at, span, message);
                out.push_str(&unset_placeholder(name));
            } else {
                let at = reference_span(cx.text(), span, name);
                cx.error_at(
                    &at,
                    format!(
                        "environment variable `{name}` is not set (referenced by `{key}` in {what})"
                    ),
                );
                ok = false;
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
fn reference_span(text: &str, span: &Range<usize>, name: &str) -> Range<usize> {
    let needle = format!("${{{name}}}");
    match text.get(span.clone()).and_then(|s| s.find(&needle)) {
        Some(i) => span.start + i..span.start + i + needle.len(),
        None => span.clone(),
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn env_names() {
        assert!(is_env_name("ACME_API_KEY"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("1A"));
        assert!(!is_env_name("A-B"));
    }

    fn run(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> (Option<String>, Vec<String>) {
        let text = format!("k = \"{raw}\"");
        let mut cx = Ctx::new(Path::new("f"), &text);
        let out = expand(&mut cx, raw, &(4..text.len()), "k", "[t]", env, false);
        (
            out,
            cx.into_errors()
                .into_iter()
                .map(|e| e.to_string())
                .collect(),
        )
    }

    #[test]
    fn expansion() {
        let env = |n: &str| (n == "A").then(|| "alpha".to_string());
        assert_eq!(run("x${A}y${A}", &env).0.as_deref(), Some("xalphayalpha"));
        assert_eq!(run("$${A} $5 $", &env).0.as_deref(), Some("${A} $5 $"));
        assert_eq!(run("no refs", &env).0.as_deref(), Some("no refs"));

        let (out, errors) = run("${A}-${B}-${C}", &env);
        assert!(out.is_none());
        assert_eq!(
            errors,
            [
                "f:1:11: environment variable `B` is not set (referenced by `k` in [t])",
                "f:1:16: environment variable `C` is not set (referenced by `k` in [t])",
            ]
        );
        let (out, errors) = run("${A", &env);
        assert!(out.is_none());
        assert!(errors[0].contains("unterminated"), "{errors:?}");
        let (out, errors) = run("${not-a-name}", &env);
        assert!(out.is_none());
        assert!(
            errors[0].contains("invalid environment variable name"),
            "{errors:?}"
        );
    }

    #[test]
    fn expanded_values_are_not_expanded_again() {
        let env = |n: &str| (n == "A").then(|| "${B}".to_string());
        assert_eq!(run("${A}", &env).0.as_deref(), Some("${B}"));
    }
}

//! Typed readers of [`Field`]s shared by every section: strings, secrets, booleans,
//! integers in a range, durations, choices, URLs, files, and the lists several sections
//! take (tenants, groups, event types). One reader of each kind, so a rule reads the same
//! (and says the same) wherever it applies.
//!
//! Each returns `None` when the value is invalid (the problem is recorded), and takes the
//! default or `None` inside when the key is absent, so one mistake yields one message.

use std::collections::BTreeSet;
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use secure_endpoint::Severity;
use url::Url;

use super::reader::{closest, Ctx, Field, Sec};

/// Raw field types of the serde structs.
pub(crate) type Str = Option<Field<String>>;
pub(crate) type Int = Option<Field<i64>>;
pub(crate) type Bool = Option<Field<bool>>;
pub(crate) type List<T> = Option<Field<Vec<Field<T>>>>;

const DURATION: &str = "a duration string like \"30s\", \"5m\" or \"24h\"";
pub(crate) const NAME_RULE: &str = "1 to 64 characters of a-z, 0-9, `_` and `-`";

/// Names of tenants, sources and sinks (they end up in keys, labels and file names).
pub(crate) fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn or<T>(read: Option<Option<T>>, default: T) -> Option<T> {
    read.map(|v| v.unwrap_or(default))
}

impl Ctx<'_> {
    pub fn string(&mut self, s: &Sec, key: &str, f: Str) -> Option<Option<(String, Range<usize>)>> {
        self.take(s, key, f, "a string")
    }

    /// A string that must not be empty (nor only whitespace).
    pub fn non_empty(
        &mut self,
        s: &Sec,
        key: &str,
        f: Str,
    ) -> Option<Option<(String, Range<usize>)>> {
        match self.string(s, key, f)? {
            Some((v, span)) if v.trim().is_empty() => {
                self.error_at(&span, format!("`{key}` in {} is empty", s.what));
                None
            }
            other => Some(other),
        }
    }

    /// An optional non-empty string, trimmed.
    pub fn opt_string(&mut self, s: &Sec, key: &str, f: Str) -> Option<Option<String>> {
        self.non_empty(s, key, f)
            .map(|v| v.map(|(v, _)| v.trim().to_string()))
    }

    /// A secret string: never shown in messages. Surrounding whitespace is refused because
    /// it is almost always a paste accident, and would otherwise surface much later as an
    /// authentication failure.
    pub fn secret(
        &mut self,
        s: &Sec,
        key: &str,
        f: Str,
    ) -> Option<Option<(SecretString, Range<usize>)>> {
        match self.non_empty(s, key, f)? {
            Some((v, span)) if v.trim() != v => {
                self.error_at(
                    &span,
                    format!("`{key}` in {} has leading or trailing whitespace", s.what),
                );
                None
            }
            other => Some(other.map(|(v, span)| (SecretString::from(v), span))),
        }
    }

    pub fn bool_or(&mut self, s: &Sec, key: &str, f: Bool, default: bool) -> Option<bool> {
        or(
            self.take(s, key, f, "a boolean (true or false)")
                .map(|v| v.map(|(b, _)| b)),
            default,
        )
    }

    /// An integer within `range`, converted to `T`.
    pub fn int_opt<T: TryFrom<i64>>(
        &mut self,
        s: &Sec,
        key: &str,
        f: Int,
        range: RangeInclusive<i64>,
    ) -> Option<Option<T>> {
        let Some((i, span)) = self.take(s, key, f, "an integer")? else {
            return Some(None);
        };
        let converted = T::try_from(i).ok().filter(|_| range.contains(&i));
        if converted.is_none() {
            let expected = if *range.end() == i64::MAX {
                format!("at least {}", range.start())
            } else {
                format!("between {} and {}", range.start(), range.end())
            };
            self.error_at(
                &span,
                format!("`{key}` in {} must be {expected}, found {i}", s.what),
            );
            return None;
        }
        Some(converted)
    }

    pub fn int_or<T: TryFrom<i64>>(
        &mut self,
        s: &Sec,
        key: &str,
        f: Int,
        range: RangeInclusive<i64>,
        default: T,
    ) -> Option<T> {
        or(self.int_opt(s, key, f, range), default)
    }

    /// A duration written as a humantime string ("60s", "5m", "24h", "1h 30m").
    pub fn duration_opt(
        &mut self,
        s: &Sec,
        key: &str,
        f: Str,
        allow_zero: bool,
    ) -> Option<Option<Duration>> {
        let Some((text, span)) = self.take(s, key, f, DURATION)? else {
            return Some(None);
        };
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.is_zero() && !allow_zero => {
                self.error_at(
                    &span,
                    format!("`{key}` in {} must be greater than zero", s.what),
                );
                None
            }
            Ok(d) => Some(Some(d)),
            Err(e) => {
                self.error_at(
                    &span,
                    format!(
                        "`{key}` in {} is not a valid duration ({e}): expected {DURATION}",
                        s.what
                    ),
                );
                None
            }
        }
    }

    pub fn duration_or(
        &mut self,
        s: &Sec,
        key: &str,
        f: Str,
        allow_zero: bool,
        default: Duration,
    ) -> Option<Duration> {
        or(self.duration_opt(s, key, f, allow_zero), default)
    }

    /// A string that must be one of `choices`; `default` when absent.
    pub fn choice<T: Copy>(
        &mut self,
        s: &Sec,
        key: &str,
        f: Str,
        choices: &[(&str, T)],
        default: T,
    ) -> Option<T> {
        let Some((v, span)) = self.string(s, key, f)? else {
            return Some(default);
        };
        match choices.iter().find(|(n, _)| *n == v.trim()) {
            Some((_, t)) => Some(*t),
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.error_at(
                    &span,
                    format!(
                        "`{key}` in {} must be one of {}, found \"{v}\"",
                        s.what,
                        names.join(", ")
                    ),
                );
                None
            }
        }
    }

    /// `min_severity` and the like: low, medium, high or critical.
    pub fn severity(&mut self, s: &Sec, key: &str, f: Str) -> Option<Option<Severity>> {
        let Some((v, span)) = self.string(s, key, f)? else {
            return Some(None);
        };
        match Severity::parse(&v) {
            Some(sev) => Some(Some(sev)),
            None => {
                self.error_at(
                    &span,
                    format!(
                        "`{key}` in {} must be one of low, medium, high, critical, found \"{v}\"",
                        s.what
                    ),
                );
                None
            }
        }
    }

    /// An http(s) URL with a host and without credentials (`use_instead` says where they
    /// belong). `Some(None)` when absent; `query` allows a query string and fragment.
    pub fn http_url(
        &mut self,
        s: &Sec,
        key: &str,
        f: Str,
        example: &str,
        use_instead: &str,
        query: bool,
    ) -> Option<Option<Url>> {
        let Some((v, span)) = self.non_empty(s, key, f)? else {
            return Some(None);
        };
        let problem = match Url::parse(v.trim()) {
            Err(e) => format!("must be an http(s) URL but is not a valid URL ({e})"),
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                format!("has scheme `{}`; expected http or https", u.scheme())
            }
            Ok(u) if u.host().is_none() => "has no host".to_string(),
            Ok(u) if !query && (u.query().is_some() || u.fragment().is_some()) => {
                "must not have a query or fragment".to_string()
            }
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                format!("must not contain credentials; use {use_instead}")
            }
            Ok(u) => return Some(Some(u)),
        };
        self.error_at(
            &span,
            format!("`{key}` in {} {problem} (e.g. \"{example}\")", s.what),
        );
        None
    }

    /// A path relative to the config's directory that must not be a directory (`expected`
    /// says what it should be).
    pub fn path(
        &mut self,
        s: &Sec,
        key: &str,
        f: Str,
        expected: &str,
    ) -> Option<Option<(PathBuf, Range<usize>)>> {
        let Some((v, span)) = self.non_empty(s, key, f)? else {
            return Some(None);
        };
        let path = self.base_dir.join(v.trim());
        if path.is_dir() {
            self.error_at(
                &span,
                format!(
                    "`{key}` in {} is a directory ({}); expected {expected}",
                    s.what,
                    path.display()
                ),
            );
            return None;
        }
        Some(Some((path, span)))
    }

    /// The elements of a list; `None` if the list or any element is invalid.
    pub fn list<T, U>(
        &mut self,
        s: &Sec,
        key: &str,
        f: List<T>,
        mut each: impl FnMut(&mut Self, T, Range<usize>, &mut Vec<U>) -> bool,
        element: &str,
    ) -> Option<Option<(Vec<U>, Range<usize>)>> {
        let Some((items, span)) = self.take(s, key, f, "an array")? else {
            return Some(None);
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            let what = &s.what;
            let read = self.element(item, |found| {
                format!("elements of `{key}` in {what} must be {element}, found {found}")
            });
            ok &= match read {
                Some((v, span)) => each(self, v, span, &mut out),
                None => false,
            };
        }
        ok.then_some(Some((out, span)))
    }

    /// Group GUIDs, lowercased. The API filters by group GUID; a group *name* here would
    /// silently match nothing.
    pub fn groups(&mut self, s: &Sec, key: &str, f: List<String>) -> Option<Vec<String>> {
        let what = s.what.clone();
        let read = self.list(
            s,
            key,
            f,
            |cx, g, span, out| {
                if is_guid(g.trim()) {
                    out.push(g.trim().to_ascii_lowercase());
                    return true;
                }
                cx.error_at(
                    &span,
                    format!(
                        "`{g}` in `{key}` of {what} is not a group GUID: expected e.g. \
                     \"b077d6bc-bbdf-42f7-8838-a06053fbd98a\""
                    ),
                );
                false
            },
            "strings",
        );
        read.map(|v| v.map(|(v, _)| v).unwrap_or_default())
    }

    /// A subset of the declared tenants, each once; `None` inside when absent. `empty` is
    /// the problem of an empty list.
    pub fn tenant_refs(
        &mut self,
        s: &Sec,
        key: &str,
        f: List<String>,
        declared: &BTreeSet<String>,
        empty: &str,
    ) -> Option<Option<Vec<String>>> {
        let known: Vec<&str> = declared.iter().map(String::as_str).collect();
        let what = s.what.clone();
        let read = self.list(
            s,
            key,
            f,
            |cx, name, span, out: &mut Vec<String>| {
                let problem = if !declared.contains(&name) {
                    let mut m = format!("{what} lists unknown tenant `{name}`");
                    if let Some(close) = closest(&name, &known) {
                        m.push_str(&format!(" (did you mean `{close}`?)"));
                    }
                    if known.is_empty() {
                        m.push_str("; no tenants are configured");
                    } else {
                        m.push_str(&format!("; configured tenants: {}", known.join(", ")));
                    }
                    m
                } else if out.contains(&name) {
                    format!("{what} lists tenant `{name}` twice")
                } else {
                    out.push(name);
                    return true;
                };
                cx.error_at(&span, problem);
                false
            },
            "strings",
        )?;
        match read {
            Some((list, span)) if list.is_empty() => {
                self.error_at(&span, format!("`{key}` in {what} is empty, {empty}"));
                None
            }
            other => Some(other.map(|(v, _)| v)),
        }
    }
}

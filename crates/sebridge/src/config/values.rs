//! Typed readers of [`Field`]s shared by every section: strings, secrets, booleans,
//! integers in a range, durations, choices, URLs, files, and the lists several sections
//! take (tenants, groups, event types). One reader of each kind, so a rule reads the same
//! (and says the same) wherever it applies.
//!
//! Each returns `None` when the value is invalid (the problem is recorded), and takes the
//! default or `None` inside when the key is absent, so one mistake yields one message.

use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::reader::{Ctx, Field, Sec};

/// Raw field types of the serde structs.
pub(crate) type Str = Option<Field<String>>;
pub(crate) type Int = Option<Field<i64>>;
pub(crate) type Bool = Option<Field<bool>>;

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

}

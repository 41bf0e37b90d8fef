//! Reading a table straight into its public struct with serde, and the small
//! `deserialize_with` readers its typed fields use.
//!
//! [`Ctx::de`] deserializes one table; on an error it finds the key whose value holds the
//! error's span, reports it as "`key` in <section> must be <expected>, found <type>" (or
//! with the reader's own wording), removes that key and tries again, so every wrong value
//! of a table is reported in one run. A reader's error text is the end of that message:
//! "must be …" or "is …" (prefixed with the key and section), or a whole message with
//! `{key}` / `{what}` / `{found}` placeholders; a leading `@` places it at the key instead
//! of the value. Checks that need the config's directory or other tables (files, declared
//! tenants) are post-passes here too ([`Ctx::file_at`], [`Ctx::declared_tenants`]), and
//! [`Secret`] is the type of every secret value.
//!
//! Sections use this module; it uses none of them.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use secure_endpoint::Severity;
use serde::de::{DeserializeOwned, Error, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::de::{DeValue, ValueDeserializer};
use toml::Spanned;
use url::Url;

use super::reader::{Ctx, Field, Sec};

/// A secret config value (token, password, HMAC key, URL with a password): never shown by
/// `Debug`, compared by value so configs stay comparable in tests.
#[derive(Clone)]
pub struct Secret(pub SecretString);

impl Secret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}
impl Eq for Secret {}

pub(crate) const DURATION: &str = "a duration string like \"30s\", \"5m\" or \"24h\"";

impl Ctx<'_> {
    /// `value` (a table) read as `T`, after reporting the `required` keys that are absent
    /// (`(key, what it is)`). `None` when anything was wrong (everything reported).
    pub fn de<T: DeserializeOwned>(
        &mut self,
        s: &Sec,
        value: &Spanned<DeValue<'_>>,
        required: &[(&str, &str)],
    ) -> Option<T> {
        match self.de_partial(s, value, required) {
            (Some(t), bad) if bad.is_empty() => Some(t),
            _ => None,
        }
    }

    /// [`Self::de`], also returning what could be read without the wrong keys (the keys
    /// returned, reported or poisoned), so checks across keys still run.
    pub fn de_partial<T: DeserializeOwned>(
        &mut self,
        s: &Sec,
        value: &Spanned<DeValue<'_>>,
        required: &[(&str, &str)],
    ) -> (Option<T>, Vec<String>) {
        let mut value = value.clone();
        let DeValue::Table(table) = value.get_mut() else {
            return (None, vec![String::new()]);
        };
        let mut bad = Vec::new();
        for (key, hint) in required {
            if !table.contains_key(*key) {
                self.missing(s, key, hint);
                bad.push(key.to_string());
            }
        }
        // Values whose `${NAME}` failed were reported: drop them silently.
        let poisoned: Vec<String> = table
            .iter()
            .filter(|(_, v)| self.is_poisoned(&v.span()))
            .map(|(k, _)| k.get_ref().to_string())
            .collect();
        for key in poisoned {
            table.remove(key.as_str());
            bad.push(key);
        }
        loop {
            let e = match T::deserialize(ValueDeserializer::from(value.clone())) {
                Ok(t) => return (Some(t), bad),
                Err(e) => e,
            };
            let DeValue::Table(table) = value.get_mut() else {
                return (None, bad);
            };
            // Absent required keys were reported above.
            if e.message().starts_with("missing field") {
                bad.push(String::new());
                return (None, bad);
            }
            let at = e.span();
            let hit = at.as_ref().and_then(|at| {
                table.iter().find_map(|(k, v)| {
                    let vs = v.span();
                    (vs.start <= at.start && at.end <= vs.end)
                        .then(|| (k.get_ref().to_string(), k.span(), vs))
                })
            });
            let Some((key, ks, vs)) = hit else {
                self.error(&at.or(Some(value.span())), e.message().to_string());
                bad.push(String::new());
                return (None, bad);
            };
            let mut at = at.unwrap_or(vs.clone());
            let mut msg = e.message();
            // A check of the value as a whole that is reported at its key.
            if let Some(rest) = msg.strip_prefix('@') {
                (at, msg) = (ks, rest);
            }
            let what = &s.what;
            if msg.starts_with(LIST) {
                for part in msg.split(LIST).skip(1) {
                    let mut it = part.splitn(3, ':');
                    let (Some(a), Some(b), Some(m)) = (it.next(), it.next(), it.next()) else {
                        continue;
                    };
                    let r = a.parse().unwrap_or(at.start)..b.parse().unwrap_or(at.end);
                    let found = self.found(&r);
                    let m = m.replace("{key}", &key).replace("{what}", what);
                    self.error_at(&r, m.replace("{found}", found));
                }
                table.remove(key.as_str());
                bad.push(key);
                continue;
            }
            let message = match msg.split_once(", expected ") {
                Some((head, expected)) if head.starts_with("invalid ") => {
                    let found = self.found(&at);
                    if at == vs {
                        format!("`{key}` in {what} must be {expected}, found {found}")
                    } else {
                        format!("elements of `{key}` in {what} must be {expected}, found {found}")
                    }
                }
                _ if msg.contains("{what}") => msg.replace("{key}", &key).replace("{what}", what),
                _ if msg.contains("{found}") => {
                    format!(
                        "`{key}` in {what} {}",
                        msg.replace("{found}", self.found(&at))
                    )
                }
                _ => format!("`{key}` in {what} {msg}"),
            };
            self.error_at(&at, message);
            table.remove(key.as_str());
            bad.push(key);
        }
    }
}

impl Ctx<'_> {
    /// An optional sub-table `key` of `table`, its unknown keys reported against `allowed`:
    /// `Some(None)` when absent, `None` when it is not a table (reported).
    #[allow(clippy::type_complexity)]
    pub fn sub_table<'v, 'i>(
        &mut self,
        table: &'v toml::de::DeTable<'i>,
        key: &str,
        parent: &str,
        what: &str,
        allowed: &[&str],
    ) -> Option<Option<(Sec, &'v Spanned<DeValue<'i>>)>> {
        let Some((k, v)) = table.get_key_value(key) else {
            return Some(None);
        };
        let t = self.as_table(v, key, parent)?;
        let s = Sec::new(what, Some(k.span()), t);
        self.check_keys(&s, allowed);
        Some(Some((s, v)))
    }

    /// Post-pass of an optional file (`ca_file`, …): resolved against the config's
    /// directory, and it must exist (`expected` says what it holds).
    pub fn file_at(
        &mut self,
        s: &Sec,
        key: &str,
        path: &mut Option<std::path::PathBuf>,
        expected: Option<&str>,
    ) -> bool {
        let Some(p) = path else { return true };
        *p = self.base_dir.join(&*p);
        if p.is_file() {
            return true;
        }
        let expected = expected
            .map(|e| format!("; expected {e}"))
            .unwrap_or_default();
        let message = format!(
            "`{key}` in {} is not a readable file ({}){expected}",
            s.what,
            p.display()
        );
        self.error(&s.val(key), message);
        false
    }
}

/// Strings, each once (`streams`, `tenants`); `twice` is the message of a repeated one,
/// `empty` that of an empty one (when refused).
pub(crate) fn names<'de, D: Deserializer<'de>>(
    d: D,
    twice: &'static str,
    empty: Option<&'static str>,
) -> Result<Vec<String>, D::Error> {
    let mut seen = Vec::new();
    list(d, |v| match (v, empty) {
        (toml::Value::String(n), Some(e)) if n.trim().is_empty() => Err(e.to_string()),
        (v, _) => match v {
            toml::Value::String(n) if seen.contains(&n) => Err(twice.replace("{name}", &n)),
            toml::Value::String(n) => {
                seen.push(n.clone());
                Ok(n)
            }
            _ => Err("elements of `{key}` in {what} must be strings, found {found}".into()),
        },
    })
}

impl Ctx<'_> {
    /// Post-pass of a list of tenant names (already read as strings, each once): the list
    /// must not be empty (`empty` says why); names the file does not declare are kept for
    /// the check against the store's registry.
    pub fn declared_tenants(
        &mut self,
        s: &Sec,
        value: &Spanned<DeValue<'_>>,
        key: &str,
        declared: &std::collections::BTreeSet<String>,
        empty: &str,
    ) -> bool {
        let DeValue::Table(t) = value.get_ref() else {
            return true;
        };
        let Some(list) = t.get(key) else { return true };
        let DeValue::Array(items) = list.get_ref() else {
            return true;
        };
        let what = &s.what;
        if items.is_empty() {
            self.error_at(&list.span(), format!("`{key}` in {what} is empty, {empty}"));
            return false;
        }
        for item in items {
            let Some(name) = item.get_ref().as_str() else {
                continue;
            };
            if !declared.contains(name) {
                // It may be a tenant of the store's registry (`sebridge tenants add`):
                // checked once the store is open (`Config::check_tenants`).
                self.defer_tenant(name, &item.span(), what);
            }
        }
        true
    }
}

/// Functions returning a value, for `#[serde(default = "…")]`: one line each.
macro_rules! defaults {
    ($($name:ident: $t:ty = $v:expr;)*) => { $(fn $name() -> $t { $v })* };
}
pub(crate) use defaults;

/// A key read by another struct: only its presence is known here.
pub(crate) fn later<'de, D: Deserializer<'de>, T: Default>(d: D) -> Result<T, D::Error> {
    serde::de::IgnoredAny::deserialize(d)?;
    Ok(T::default())
}

/// A visitor of one kind of value: `.0` is the "must be …" text.
struct V<T>(&'static str, PhantomData<T>);

/// A value of kind `T` (string, boolean or integer), then `check`ed. The field's span is
/// added to the error by `toml`.
fn read<'de, D: Deserializer<'de>, T, U>(
    d: D,
    expecting: &'static str,
    check: impl FnOnce(T) -> Result<U, String>,
) -> Result<U, D::Error>
where
    V<T>: Visitor<'de, Value = T>,
{
    check(d.deserialize_any(V::<T>(expecting, PhantomData))?).map_err(D::Error::custom)
}

macro_rules! visit {
    ($t:ty, $m:ident, $a:ty) => {
        impl<'de> Visitor<'de> for V<$t> {
            type Value = $t;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(self.0)
            }
            fn $m<E: Error>(self, v: $a) -> Result<$t, E> {
                Ok(v.into())
            }
        }
    };
}
visit!(String, visit_str, &str);
visit!(bool, visit_bool, bool);
visit!(i64, visit_i64, i64);

/// A string, trimmed, that must not be empty.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    read(d, "a string", |v: String| match v.trim() {
        "" => Err("is empty".to_string()),
        t => Ok(t.to_string()),
    })
}

pub(crate) fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    text(d).map(Some)
}

/// A path, resolved against the config's directory afterwards ([`Ctx::file_at`]).
pub(crate) fn opt_path<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::path::PathBuf>, D::Error> {
    text(d).map(|t| Some(t.into()))
}

/// A secret: never shown. Surrounding whitespace is refused because it is almost always a
/// paste accident, and would otherwise surface much later as an authentication failure.
pub(crate) fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    read(d, "a string", |v: String| {
        if v.trim().is_empty() {
            Err("is empty".to_string())
        } else if v.trim() != v {
            Err("has leading or trailing whitespace".to_string())
        } else {
            Ok(Secret(SecretString::from(v)))
        }
    })
}

pub(crate) fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    secret(d).map(Some)
}

/// A postgres:// URL; it may carry a password, so it is never echoed.
pub(crate) fn postgres_url<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    let url = secret(d)?;
    match url.expose() {
        u if u.starts_with("postgres://") || u.starts_with("postgresql://") => Ok(url),
        // An unset variable left for a command that does not connect (env.rs).
        u if super::env::unset_reference(u).is_some() => Ok(url),
        _ => Err(D::Error::custom(
            "must start with postgres:// or postgresql://",
        )),
    }
}

pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    read(d, "a boolean (true or false)", Ok::<bool, String>)
}

/// An integer in `MIN..=MAX` (`MAX` = `i64::MAX`: no upper bound).
pub(crate) fn int<'de, const MIN: i64, const MAX: i64, T: TryFrom<i64>, D: Deserializer<'de>>(
    d: D,
) -> Result<T, D::Error> {
    read(d, "an integer", |i: i64| {
        T::try_from(i)
            .ok()
            .filter(|_| (MIN..=MAX).contains(&i))
            .ok_or_else(|| match MAX {
                i64::MAX => format!("must be at least {MIN}, found {i}"),
                _ => format!("must be between {MIN} and {MAX}, found {i}"),
            })
    })
}

fn duration_of(text: String, allow_zero: bool) -> Result<Duration, String> {
    super::values::parse_duration(&text, allow_zero)
}

/// A duration greater than zero, written as a humantime string ("60s", "5m", "1h 30m").
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    read(d, DURATION, |v| duration_of(v, false))
}

/// A duration that may be zero.
pub(crate) fn duration0<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    read(d, DURATION, |v| duration_of(v, true))
}

/// A string that must be one of `choices`.
pub(crate) fn choice<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    choices: &[(&str, T)],
) -> Result<T, D::Error> {
    read(d, "a string", |v: String| {
        choices
            .iter()
            .find(|(n, _)| *n == v.trim())
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                format!("must be one of {}, found \"{v}\"", names.join(", "))
            })
    })
}

/// `compression = "gzip" | "none"` of the HTTP sinks: whether bodies are gzipped.
pub(crate) fn compression<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    choice(d, &[("gzip", true), ("none", false)])
}

/// `min_severity` and the like: low, medium, high or critical.
pub(crate) fn severity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Severity>, D::Error> {
    read(d, "a string", |v: String| {
        Severity::parse(&v)
            .map(Some)
            .ok_or_else(|| format!("must be one of low, medium, high, critical, found \"{v}\""))
    })
}

/// An http(s) URL with a host and without credentials (`use_instead` says where they
/// belong); `example` is shown in messages.
pub(crate) fn http_url<'de, D: Deserializer<'de>>(
    d: D,
    example: &str,
    use_instead: &str,
) -> Result<Url, D::Error> {
    url_of(d, example, use_instead, true)
}

/// [`http_url`]; `query` allows a query string and fragment.
pub(crate) fn url_of<'de, D: Deserializer<'de>>(
    d: D,
    example: &str,
    use_instead: &str,
    query: bool,
) -> Result<Url, D::Error> {
    read(d, "a string", |v: String| {
        let problem = match Url::parse(v.trim()) {
            _ if v.trim().is_empty() => return Err("is empty".to_string()),
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
            Ok(u) => return Ok(u),
        };
        Err(format!("{problem} (e.g. \"{example}\")"))
    })
}

/// A list whose elements are read by `each`. Every wrong element is reported: its error is
/// a whole message, with `{key}`, `{what}` and `{found}` placeholders, and the errors of a
/// list travel as one, each with its element's span (see [`Ctx::de_partial`]).
pub(crate) fn list<'de, D: Deserializer<'de>, T>(
    d: D,
    mut each: impl FnMut(toml::Value) -> Result<T, String>,
) -> Result<Vec<T>, D::Error> {
    struct L;
    impl<'de> Visitor<'de> for L {
        type Value = Vec<Field<toml::Value>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    let (mut out, mut errors) = (Vec::new(), String::new());
    for item in d.deserialize_seq(L)? {
        match item.value.map_err(|e| e.to_string()).and_then(&mut each) {
            Ok(v) => out.push(v),
            Err(e) => {
                let r = item.span;
                errors.push_str(&format!("{LIST}{}:{}:{e}", r.start, r.end));
            }
        }
    }
    match errors.is_empty() {
        true => Ok(out),
        false => Err(D::Error::custom(errors)),
    }
}

/// Starts each element's error in the error of a [`list`].
const LIST: char = '\u{1}';

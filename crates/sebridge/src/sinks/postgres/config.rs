//! `[sinks.<name>] type = "postgres"`: an events table in the user's PostgreSQL.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::de;
use crate::config::reader::{Ctx, Sec};
use crate::sinks::util::config::{defaults, yes, Secret, SinkCommon};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PostgresSinkConfig {
    #[serde(skip, default = "SinkCommon::unset")]
    pub common: SinkCommon,
    #[serde(deserialize_with = "de::postgres_url")]
    pub url: Secret,
    /// `table` or `schema.table`.
    #[serde(default = "table", deserialize_with = "table_name")]
    pub table: String,
    /// Create the table and its indexes when missing.
    #[serde(default = "yes", deserialize_with = "de::boolean")]
    pub create_table: bool,
}

pub(crate) const BATCHES: (usize, Duration) = defaults::BATCHES;
pub const PG_TABLE: &str = "sebridge_events";

de::defaults! {
    table: String = PG_TABLE.to_string();
}

fn table_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let t = de::text(d)?;
    if is_table_name(&t) {
        return Ok(t);
    }
    Err(serde::de::Error::custom(
        "@must be `name` or `schema.name` of a-z, 0-9 and `_` (not starting with a digit, ≤ 63 characters each)",
    ))
}

pub(crate) fn postgres(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
) -> Option<PostgresSinkConfig> {
    let hint = "a postgres:// URL (e.g. url = \"${EVENTS_DATABASE_URL}\")";
    cx.de(s, value, &[("url", hint)])
}

/// Lowercase identifiers only: they are interpolated into SQL (quoted), never user data.
pub fn is_table_name(t: &str) -> bool {
    let ident = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && !p.as_bytes()[0].is_ascii_digit()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    match t.split_once('.') {
        Some((schema, name)) => ident(schema) && ident(name),
        None => ident(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(is_table_name("sebridge_events"));
        assert!(is_table_name("siem.events_2"));
        assert!(!is_table_name("Events"));
        assert!(!is_table_name("a;drop"));
        assert!(!is_table_name("1x"));
        assert!(!is_table_name("a.b.c"));
    }
}

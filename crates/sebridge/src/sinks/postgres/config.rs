//! `[sinks.<name>] type = "postgres"`: an events table in the user's PostgreSQL.

use std::time::Duration;

use serde::Deserialize;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::{Bool, Str};
use crate::sinks::util::config::{defaults, Secret, SinkCommon};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSinkConfig {
    pub common: SinkCommon,
    pub url: Secret,
    /// `table` or `schema.table`.
    pub table: String,
    /// Create the table and its indexes when missing.
    pub create_table: bool,
}

pub(crate) const BATCHES: (usize, Duration) = defaults::BATCHES;
pub const PG_TABLE: &str = "sebridge_events";

#[derive(Deserialize)]
pub(crate) struct PostgresRaw {
    url: Str,
    table: Str,
    create_table: Bool,
}

pub(crate) fn postgres(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: PostgresRaw,
    common: Option<SinkCommon>,
) -> Option<PostgresSinkConfig> {
    let hint = "a postgres:// URL (e.g. url = \"${EVENTS_DATABASE_URL}\")";
    let url = cx.postgres_url(s, "url", raw.url, hint);
    let table = match cx.opt_string(s, "table", raw.table) {
        Some(Some(t)) if !is_table_name(&t) => {
            cx.error(
                &s.key("table"),
                format!(
                    "`table` in {} must be `name` or `schema.name` of a-z, 0-9 and `_` (not starting with a digit, ≤ 63 characters each)",
                    s.what
                ),
            );
            None
        }
        other => other.map(|t| t.unwrap_or_else(|| PG_TABLE.to_string())),
    };
    let create_table = cx.bool_or(s, "create_table", raw.create_table, true);
    Some(PostgresSinkConfig {
        common: common?,
        url: Secret(url?),
        table: table?,
        create_table: create_table?,
    })
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

//! `[journal]`: retention of journal rows every consumer has passed.

use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::de::DeTable;

use super::de;
use super::reader::{fields, Ctx};

/// `[journal]`: retention of journal rows every consumer has passed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct JournalConfig {
    /// Delete rows older than this (once every consumer has passed them); "0s": no limit.
    #[serde(deserialize_with = "max_age")]
    pub max_age: Option<Duration>,
    /// Keep at most this many rows (same rule).
    #[serde(deserialize_with = "max_rows")]
    pub max_rows: Option<u64>,
    /// What to do when a lagging consumer still needs rows past a limit.
    #[serde(deserialize_with = "policy")]
    pub on_lagging_consumer: LaggingPolicy,
    /// Warn when a lagging consumer holds rows beyond this percentage of a limit.
    #[serde(deserialize_with = "de::int::<1, 100, u8, _>")]
    pub warn_at_percent: u8,
    #[serde(deserialize_with = "de::duration")]
    pub check_interval: Duration,
}

fn max_age<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de::duration0(d).map(|d| Some(d).filter(|d| !d.is_zero()))
}
fn max_rows<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de::int::<1000, { i64::MAX }, u64, D>(d).map(Some)
}
fn policy<'de, D: Deserializer<'de>>(d: D) -> Result<LaggingPolicy, D::Error> {
    de::choice(
        d,
        &[("keep", LaggingPolicy::Keep), ("drop", LaggingPolicy::Drop)],
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaggingPolicy {
    /// Never delete a row a consumer still needs: alarm, and let the journal grow.
    Keep,
    /// Enforce the limit anyway; the lagging consumer loses those rows (alarmed first, and
    /// every dropped row is counted and logged).
    Drop,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            max_age: Some(defaults::JOURNAL_MAX_AGE),
            max_rows: None,
            on_lagging_consumer: LaggingPolicy::Keep,
            warn_at_percent: defaults::JOURNAL_WARN_AT_PERCENT,
            check_interval: defaults::JOURNAL_CHECK_INTERVAL,
        }
    }
}

pub mod defaults {
    use std::time::Duration;
    pub const JOURNAL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
    pub const JOURNAL_WARN_AT_PERCENT: u8 = 80;
    pub const JOURNAL_CHECK_INTERVAL: Duration = Duration::from_secs(60);
}

pub(crate) fn journal(cx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<JournalConfig> {
    let keys = fields::<JournalConfig>();
    match cx.sub_table(root, "journal", "the top level", "[journal]", keys)? {
        Some((s, value)) => cx.de(&s, value, &[]),
        None => Some(JournalConfig::default()),
    }
}

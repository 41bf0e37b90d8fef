//! `[journal]`: retention of journal rows every consumer has passed.

use std::time::Duration;

use serde::Deserialize;
use toml::de::DeTable;

use super::reader::Ctx;
use super::values::{Int, Str};

/// `[journal]`: retention of journal rows every consumer has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// Delete rows older than this (once every consumer has passed them).
    pub max_age: Option<Duration>,
    /// Keep at most this many rows (same rule).
    pub max_rows: Option<u64>,
    /// What to do when a lagging consumer still needs rows past a limit.
    pub on_lagging_consumer: LaggingPolicy,
    /// Warn when a lagging consumer holds rows beyond this percentage of a limit.
    pub warn_at_percent: u8,
    pub check_interval: Duration,
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

#[derive(Deserialize)]
struct JournalRaw {
    max_age: Str,
    max_rows: Int,
    on_lagging_consumer: Str,
    warn_at_percent: Int,
    check_interval: Str,
}

pub(crate) fn journal(cx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<JournalConfig> {
    let Some((raw, s)) = cx.sub::<JournalRaw>(root, "journal", "the top level", "[journal]")?
    else {
        return Some(JournalConfig::default());
    };
    // `max_age = "0s"`: no age limit.
    let max_age = match cx.duration_opt(&s, "max_age", raw.max_age, true) {
        Some(Some(d)) if d.is_zero() => Some(None),
        Some(Some(d)) => Some(Some(d)),
        Some(None) => Some(Some(defaults::JOURNAL_MAX_AGE)),
        None => None,
    };
    let max_rows = cx.int_opt::<u64>(&s, "max_rows", raw.max_rows, 1000..=i64::MAX);
    let policies = [("keep", LaggingPolicy::Keep), ("drop", LaggingPolicy::Drop)];
    let on_lagging_consumer = cx.choice(
        &s,
        "on_lagging_consumer",
        raw.on_lagging_consumer,
        &policies,
        LaggingPolicy::Keep,
    );
    let warn = defaults::JOURNAL_WARN_AT_PERCENT;
    let warn_at_percent = cx.int_or(&s, "warn_at_percent", raw.warn_at_percent, 1..=100, warn);
    let check_interval = cx.duration_or(
        &s,
        "check_interval",
        raw.check_interval,
        false,
        defaults::JOURNAL_CHECK_INTERVAL,
    );
    Some(JournalConfig {
        max_age: max_age?,
        max_rows: max_rows?,
        on_lagging_consumer: on_lagging_consumer?,
        warn_at_percent: warn_at_percent?,
        check_interval: check_interval?,
    })
}

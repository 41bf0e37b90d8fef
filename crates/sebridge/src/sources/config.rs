//! `[sources.<name>]`, tagged by `type`: where events come from.

pub use crate::sources::poll::config as poll;
pub use crate::sources::stream::config as stream;

use std::collections::BTreeSet;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::config::reader::{fields, with_type, Ctx, Sec, Span};
pub use poll::{EventTypeRef, PollSourceConfig};
pub use stream::StreamSourceConfig;

/// `[sources.<name>]`, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    /// `type = "poll"`: REST polling of `GET /v1/events`.
    Poll(PollSourceConfig),
    /// `type = "stream"`: Event Streams (AMQP push) with the credentials stored by
    /// `sebridge streams create`.
    Stream(StreamSourceConfig),
}

impl SourceConfig {
    /// The `type` as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Poll(_) => "poll",
            SourceConfig::Stream(_) => "stream",
        }
    }

    /// The tenant subset of the source; `None` for every tenant.
    pub fn tenants(&self) -> &Option<Vec<String>> {
        match self {
            SourceConfig::Poll(p) => &p.tenants,
            SourceConfig::Stream(s) => &s.tenants,
        }
    }
}

const TYPES: &[&str] = &["poll", "stream"];

/// One `[sources.<name>]` table; `declared` are the tenants its `tenants` may name.
pub(crate) fn source(
    cx: &mut Ctx<'_>,
    name: &str,
    key_span: Span,
    table: &DeTable<'_>,
    value: &Spanned<DeValue<'_>>,
    declared: &BTreeSet<String>,
) -> Option<SourceConfig> {
    let s = Sec::new(format!("source `{name}`"), key_span, table);
    match cx.kind(&s, table, TYPES, "source")?.as_str() {
        "poll" => {
            cx.check_keys(&s, &with_type(fields::<PollSourceConfig>()));
            poll::poll(cx, &s, value, declared).map(SourceConfig::Poll)
        }
        _ => {
            cx.check_keys(&s, &with_type(fields::<StreamSourceConfig>()));
            stream::stream(cx, &s, value, declared).map(SourceConfig::Stream)
        }
    }
}

//! Event Streams on a real RabbitMQ broker.
//!
//! Each stream is a durable queue `event_stream_<id>` bound to the topic exchange
//! `events_api_stream` (reference §7.2). Every event a tenant gets (generated, inserted,
//! replayed) is published once to that exchange as the real service does: routing key
//! `<org>.<connector_guid>.<event_type_id>`, header `CC: ["<routing key>.<group_guid>", ...]`,
//! `content_type = application/octet-stream`, `delivery_mode = 2`, `priority = 0`, body = the
//! same JSON text as the `/v1/events` item. RabbitMQ treats `CC` as extra routing keys
//! (sender-selected distribution), so a stream's filters are plain topic bindings:
//! `<org>.#` (everything), `<org>.*.<type>` (event types), `<org>.*.*.<group>` (groups),
//! `<org>.*.<type>.<group>` (both). The broker does the filtering and delivers a message
//! once per queue however many bindings match.
//!
//! Stream ids start at a random number per simulator, so `event_stream_<id>` keeps the real
//! name and stays unique among simulators sharing one broker (parallel tests); an id whose
//! queue already exists is skipped.
//!
//! Credentials: each stream gets its own broker user `<id>-<20 hex>` with a 40-hex password,
//! allowed to read its queue only (configure and write denied; a passive declare needs no
//! permission). Users are made with `rabbitmqctl` (password on stdin, never on a command
//! line). Where that is impossible ([`StreamUsers::Shared`]) the simulator hands out its own
//! broker login instead: a documented deviation for machines without broker admin rights.
//! Streams, queues and users are removed on `DELETE` and on [`crate::SimHandle::shutdown`].

mod broker;
mod publish;
mod users;

pub(crate) use publish::TenantStreams;
pub use users::{AmqpConfig, StreamUsers};

pub(crate) use broker::Broker;

/// The exchange real streams are fed from.
pub const EXCHANGE: &str = "events_api_stream";
/// "max 5 event streams per organization" (reference §7.1).
pub const MAX_STREAMS_PER_ORG: usize = 5;
/// Events live 10 days in a stream's queue (reference §7.1).
const MESSAGE_TTL_MS: i64 = 10 * 24 * 3600 * 1000;
/// Messages published per confirm round.
const PUBLISH_BATCH: usize = 500;

/// A stream as the simulator keeps it.
#[derive(Debug, Clone)]
pub(crate) struct StreamRec {
    pub id: u64,
    pub name: String,
    pub event_types: Vec<u64>,
    pub group_guids: Vec<String>,
    pub user_name: String,
    pub queue_name: String,
}

/// What the API answers for a stream (the password only at creation).
pub(crate) struct Credentials {
    pub user_name: String,
    pub password: Option<String>,
    pub queue_name: String,
    pub host: String,
    pub port: String,
    pub proto: String,
}

#[derive(Debug)]
pub(crate) enum StreamError {
    /// 400 with these details.
    Invalid(Vec<String>),
    /// 400 "Event stream not found".
    NotFound,
    /// 503: the broker could not do it.
    Broker(String),
}

fn amqp_err(what: &str, e: impl std::fmt::Display) -> StreamError {
    StreamError::Broker(format!("{what}: {e}"))
}

/// Topic binding keys for a stream's filters (see the module docs).
pub(crate) fn binding_keys(org: &str, types: &[u64], groups: &[String]) -> Vec<String> {
    let mut keys = Vec::new();
    match (types.is_empty(), groups.is_empty()) {
        (true, true) => keys.push(format!("{org}.#")),
        (false, true) => keys.extend(types.iter().map(|t| format!("{org}.*.{t}"))),
        (true, false) => keys.extend(groups.iter().map(|g| format!("{org}.*.*.{g}"))),
        (false, false) => {
            for t in types {
                for g in groups {
                    keys.push(format!("{org}.*.{t}.{g}"));
                }
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_follow_the_filters() {
        assert_eq!(binding_keys("o", &[], &[]), vec!["o.#"]);
        assert_eq!(binding_keys("o", &[1, 2], &[]), vec!["o.*.1", "o.*.2"]);
        assert_eq!(binding_keys("o", &[], &["g".into()]), vec!["o.*.*.g"]);
        assert_eq!(
            binding_keys("o", &[1], &["g".into(), "h".into()]),
            vec!["o.*.1.g", "o.*.1.h"]
        );
    }
}

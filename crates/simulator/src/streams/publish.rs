//! Publishing every event a tenant gets to the streams exchange: the per-tenant tap, and
//! the publisher task (batches with confirms, reconnecting and resending on failure).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::events::StoredEvent;

use super::broker::Broker;
use super::{EXCHANGE, PUBLISH_BATCH};

/// A message for the publisher task.
pub(super) struct Outgoing {
    routing_key: String,
    cc: Vec<String>,
    body: Vec<u8>,
}

/// One tenant's hook into the broker: cheap when the tenant has no stream.
#[derive(Default)]
pub(crate) struct TenantStreams {
    pub(crate) active: AtomicUsize,
    pub(crate) tap: Mutex<Option<(String, Arc<Broker>)>>,
}

impl TenantStreams {
    /// Queues every event for publishing when the tenant has a stream. Called with the
    /// events about to be stored, so whatever `/v1/events` serves is also streamed.
    pub fn publish(&self, events: &[StoredEvent]) {
        if self.active.load(Ordering::Acquire) == 0 || events.is_empty() {
            return;
        }
        let Some((org, broker)) = self.tap.lock().clone() else {
            return;
        };
        for e in events {
            let routing_key = format!(
                "{org}.{}.{}",
                e.connector.as_deref().unwrap_or(""),
                e.type_id.map(|t| t.to_string()).unwrap_or_default()
            );
            let cc = e
                .groups
                .iter()
                .map(|g| format!("{routing_key}.{g}"))
                .collect();
            broker.enqueue(Outgoing {
                routing_key,
                cc,
                body: e.text.to_text().into_bytes(),
            });
        }
    }
}

/// Counters shared with the publisher task.
pub(super) struct PublishState {
    pub(crate) enqueued: AtomicU64,
    pub(crate) confirmed: AtomicU64,
    pub(crate) progress: Notify,
}

pub(super) async fn declare_exchange(ch: &Channel) -> lapin::Result<()> {
    ch.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

fn properties(cc: &[String]) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_content_type(ShortString::from("application/octet-stream"))
        .with_delivery_mode(2)
        .with_priority(0);
    if !cc.is_empty() {
        let mut headers = FieldTable::default();
        let list: Vec<AMQPValue> = cc
            .iter()
            .map(|k| AMQPValue::LongString(LongString::from(k.as_str())))
            .collect();
        headers.insert("CC".into(), AMQPValue::FieldArray(FieldArray::from(list)));
        props = props.with_headers(headers);
    }
    props
}

/// Publishes queued events with confirms, in batches; on a broker failure reconnects (with
/// backoff) and publishes the unconfirmed batch again: at least once, as a real service
/// would, and the consumer's journal folds repeats away.
pub(super) async fn publisher_loop(
    url: String,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    state: Arc<PublishState>,
) {
    let mut batch: Vec<Outgoing> = Vec::new();
    let mut chan: Option<(Connection, Channel)> = None;
    let mut failures = 0u32;
    loop {
        if batch.is_empty() {
            match rx.recv().await {
                Some(m) => batch.push(m),
                None => return,
            }
            while batch.len() < PUBLISH_BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
        }
        if chan
            .as_ref()
            .is_none_or(|(c, ch)| !c.status().connected() || !ch.status().connected())
        {
            chan = match connect_publisher(&url).await {
                Ok(c) => Some(c),
                Err(e) => {
                    failures += 1;
                    let delay = Duration::from_millis(200 * u64::from(failures.min(10)));
                    tracing::warn!(error = %e, retry_in = ?delay, "stream publisher cannot connect");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
        }
        let Some((_, ch)) = chan.as_ref() else {
            continue;
        };
        match publish_batch(ch, &batch).await {
            Ok(()) => {
                failures = 0;
                state
                    .confirmed
                    .fetch_add(batch.len() as u64, Ordering::AcqRel);
                state.progress.notify_waiters();
                batch.clear();
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "stream publish failed; republishing the batch after reconnecting");
                chan = None;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
            }
        }
    }
}

async fn connect_publisher(url: &str) -> lapin::Result<(Connection, Channel)> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    declare_exchange(&ch).await?;
    Ok((conn, ch))
}

async fn publish_batch(ch: &Channel, batch: &[Outgoing]) -> Result<(), String> {
    let mut confirms = Vec::with_capacity(batch.len());
    for m in batch {
        let c = ch
            .basic_publish(
                EXCHANGE.into(),
                m.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &m.body,
                properties(&m.cc),
            )
            .await
            .map_err(|e| e.to_string())?;
        confirms.push(c);
    }
    for c in join_all(confirms).await {
        match c {
            Ok(conf) if conf.is_nack() => return Err("broker nacked a message".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

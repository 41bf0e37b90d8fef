//! What every sink shares: the contract a sink implements ([`Sink`], with its context
//! [`SinkCtx`] and error [`SinkError`]) and the machinery that drives it.
//!
//! - [`runner`]: [`runner::run_sink`], the loop that reads, delivers and commits;
//! - [`batch`]: the runner's settings, the per-sink filter and the journal read-ahead;
//! - [`retry`]: backoff with jitter, and the position commit's own retries;
//! - [`render`]: JSON lines and the time formats the encoders share;
//! - [`view`]: a typed view of the vendor fields the SIEM formats need;
//! - [`http`]: the client and response handling of the HTTP sinks;
//! - [`ocsf`]: the OCSF events of `format = "ocsf"`.
//!
//! Nothing here knows a particular sink: the sinks depend on this module, never the reverse.

pub mod batch;
pub mod config;
pub mod http;
pub mod ocsf;
pub mod render;
pub mod retry;
pub mod runner;
pub mod view;
#[cfg(test)]
mod view_props;

use crate::status::StatusBoard;
use crate::store::{JournalEntry, Store};
use std::future::Future;
use tracing::error;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// A destination for journal entries.
pub trait Sink: Send + 'static {
    /// A short type name ("file", "stdout").
    fn kind(&self) -> &'static str;

    /// Prepares the output from the state committed with the sink's position (`None` on the
    /// first run), e.g. dropping output written after the last commit by a crashed process.
    /// Sinks without state or set-up need nothing here.
    fn open(&mut self, state: Option<&str>) -> impl Future<Output = Result<(), SinkError>> + Send {
        let _ = state;
        async { Ok(()) }
    }

    /// Delivers a batch durably (or, for events the target refuses for good, dead-letters
    /// them through [`SinkCtx`]). Returns the state to commit with the new position. An error
    /// means "try the same batch again later".
    fn write(
        &mut self,
        batch: &[JournalEntry],
    ) -> impl Future<Output = Result<Option<String>, SinkError>> + Send;

    /// Called once when the runner stops (e.g. to send TLS close_notify).
    fn close(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What a sink may need from its surroundings: its name, the store (dead letters) and the
/// status board.
#[derive(Clone)]
pub struct SinkCtx {
    pub name: String,
    pub store: Store,
    pub status: StatusBoard,
}

impl SinkCtx {
    /// Keeps an event the target refused for good (e.g. a mapping error) in `dead_letters`
    /// with the reason, so it is not retried forever and not lost either.
    pub async fn dead_letter(&self, entry: &JournalEntry, reason: &str) -> Result<(), SinkError> {
        let source = format!("sink:{}", self.name);
        self.store
            .dead_letter(&entry.tenant, &source, reason, &entry.raw)
            .await
            .map_err(|e| SinkError::Other(format!("cannot store a dead letter: {e}")))?;
        error!(sink = %self.name, tenant = %entry.tenant, event_id = entry.event_id, seq = entry.seq, reason,
            "event refused by the target for good; kept in dead_letters");
        metrics::counter!("sebridge_sink_dead_letters_total", "sink" => self.name.clone())
            .increment(1);
        self.status
            .update_sink(&self.name, |s| s.events_dead_lettered += 1);
        Ok(())
    }
}

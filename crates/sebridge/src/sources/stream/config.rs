//! `[sources.<name>] type = "stream"`: Event Streams consumption.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::{Bool, Int, List, Str};
use crate::sources::config::poll::NO_TENANT;

/// Defaults, as documented in `config/example.toml`.
pub mod defaults {
    use std::time::Duration;
    pub const STREAM_PREFETCH: u16 = 2000;
    pub const STREAM_BATCH_SIZE: usize = 1000;
    /// The broker's delivery rate falls with the time acks take (BENCHMARKS.md, "Event
    /// Streams"), so deliveries do not wait for a batch to fill.
    pub const STREAM_BATCH_WAIT: Duration = Duration::ZERO;
    pub const STREAM_HEARTBEAT: Duration = Duration::from_secs(30);
    pub const STREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
    pub const STREAM_MAX_BACKOFF: Duration = Duration::from_secs(60);
}
use defaults::*;

/// `[sources.<name>] type = "stream"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSourceConfig {
    /// Names of the tenants' stored streams to consume; empty = every stored stream.
    pub streams: Vec<String>,
    /// Optional subset of tenants; `None` = every enabled tenant that has a stored stream.
    pub tenants: Option<Vec<String>>,
    /// Unacknowledged deliveries the broker may send ahead (default 2000, ≥ `batch_size`).
    pub prefetch: u16,
    /// Deliveries per journal commit at most (default 1000).
    pub batch_size: usize,
    /// How long a partial batch waits for more deliveries before it is committed (default 0:
    /// a commit takes what arrived while the previous one ran, so batches grow with the load
    /// and every delivery is acked about one commit after it came).
    pub batch_wait: Duration,
    /// AMQP heartbeat (default 30s; "0s" disables).
    pub heartbeat: Duration,
    /// TCP + TLS + login timeout (default 15s).
    pub connect_timeout: Duration,
    /// Longest pause between reconnection attempts (default 60s).
    pub max_backoff: Duration,
    /// PEM file of the CA(s) that sign the broker's certificate, instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any broker certificate. Off by default; warned about on every connection.
    pub insecure: bool,
}

/// The table as written.
#[derive(Deserialize)]
pub(crate) struct StreamRaw {
    streams: List<String>,
    tenants: List<String>,
    prefetch: Int,
    batch_size: Int,
    batch_wait: Str,
    heartbeat: Str,
    connect_timeout: Str,
    max_backoff: Str,
    ca_file: Str,
    insecure: Bool,
}

pub(crate) fn stream(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: StreamRaw,
    declared: &BTreeSet<String>,
) -> Option<StreamSourceConfig> {
    let batch_span = raw.batch_size.as_ref().map(|f| f.span.clone());
    let insecure_span = raw.insecure.as_ref().map(|f| f.span.clone());
    let what = s.what.clone();
    let streams = cx.list(
        s,
        "streams",
        raw.streams,
        |cx, name, span, out: &mut Vec<String>| {
            let problem = if name.trim().is_empty() {
                format!("empty stream name in `streams` of {what}")
            } else if out.contains(&name) {
                format!("{what} lists stream `{name}` twice")
            } else {
                out.push(name);
                return true;
            };
            cx.error_at(&span, problem);
            false
        },
        "strings",
    );
    let tenants = cx.tenant_refs(s, "tenants", raw.tenants, declared, NO_TENANT);
    let max = i64::from(u16::MAX);
    let prefetch = cx.int_or(s, "prefetch", raw.prefetch, 1..=max, STREAM_PREFETCH);
    let batch_size = cx.int_or(s, "batch_size", raw.batch_size, 1..=max, STREAM_BATCH_SIZE);
    let batch_wait = cx.duration_or(s, "batch_wait", raw.batch_wait, true, STREAM_BATCH_WAIT);
    let heartbeat = cx.duration_or(s, "heartbeat", raw.heartbeat, true, STREAM_HEARTBEAT);
    let connect_timeout = cx.duration_or(
        s,
        "connect_timeout",
        raw.connect_timeout,
        false,
        STREAM_CONNECT_TIMEOUT,
    );
    let max_backoff = cx.duration_or(s, "max_backoff", raw.max_backoff, false, STREAM_MAX_BACKOFF);
    let insecure = cx.bool_or(s, "insecure", raw.insecure, false);
    let ca_file = cx.opt_file(
        s,
        "ca_file",
        raw.ca_file,
        Some("a PEM file of the CA that signs the broker's certificate"),
    );
    if let (Some(p), Some(b)) = (prefetch, batch_size) {
        if b > usize::from(p) {
            cx.error(
                &batch_span,
                format!(
                    "`batch_size` ({b}) in {what} is larger than `prefetch` ({p}): the broker \
                     never sends more than `prefetch` unacknowledged deliveries, so a batch \
                     could never fill"
                ),
            );
            return None;
        }
    }
    if insecure == Some(true) && matches!(ca_file, Some(Some(_))) {
        cx.error(
            &insecure_span,
            format!(
                "{what} sets both `ca_file` and `insecure = true`; `insecure` turns certificate \
                 checks off, so the CA file would be ignored: keep only `ca_file`"
            ),
        );
        return None;
    }
    Some(StreamSourceConfig {
        streams: streams?.map(|(v, _)| v).unwrap_or_default(),
        tenants: tenants?,
        prefetch: prefetch?,
        batch_size: batch_size?,
        batch_wait: batch_wait?,
        heartbeat: heartbeat?,
        connect_timeout: connect_timeout?,
        max_backoff: max_backoff?,
        ca_file: ca_file?,
        insecure: insecure?,
    })
}

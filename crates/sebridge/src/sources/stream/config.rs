//! `[sources.<name>] type = "stream"`: Event Streams consumption.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::de;
use crate::config::reader::{Ctx, Sec};
use crate::sources::config::poll::{self, NO_TENANT};

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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamSourceConfig {
    /// Names of the tenants' stored streams to consume; empty = every stored stream.
    #[serde(default, deserialize_with = "streams")]
    pub streams: Vec<String>,
    /// Optional subset of tenants; `None` = every enabled tenant that has a stored stream.
    #[serde(default, deserialize_with = "poll::tenants")]
    pub tenants: Option<Vec<String>>,
    /// Unacknowledged deliveries the broker may send ahead (default 2000, ≥ `batch_size`).
    #[serde(default = "prefetch", deserialize_with = "de::int::<1, 65535, u16, _>")]
    pub prefetch: u16,
    /// Deliveries per journal commit at most (default 1000).
    #[serde(
        default = "batch_size",
        deserialize_with = "de::int::<1, 65535, usize, _>"
    )]
    pub batch_size: usize,
    /// How long a partial batch waits for more deliveries before it is committed (default 0:
    /// a commit takes what arrived while the previous one ran, so batches grow with the load
    /// and every delivery is acked about one commit after it came).
    #[serde(default = "batch_wait", deserialize_with = "de::duration0")]
    pub batch_wait: Duration,
    /// AMQP heartbeat (default 30s; "0s" disables).
    #[serde(default = "heartbeat", deserialize_with = "de::duration0")]
    pub heartbeat: Duration,
    /// TCP + TLS + login timeout (default 15s).
    #[serde(default = "connect_timeout", deserialize_with = "de::duration")]
    pub connect_timeout: Duration,
    /// Longest pause between reconnection attempts (default 60s).
    #[serde(default = "max_backoff", deserialize_with = "de::duration")]
    pub max_backoff: Duration,
    /// PEM file of the CA(s) that sign the broker's certificate, instead of the system roots.
    #[serde(default, deserialize_with = "de::opt_path")]
    pub ca_file: Option<PathBuf>,
    /// Accept any broker certificate. Off by default; warned about on every connection.
    #[serde(default, deserialize_with = "de::boolean")]
    pub insecure: bool,
}

impl StreamSourceConfig {
    /// Whether this source reads `tenant`'s streams (an enabled one).
    pub fn reads(&self, tenant: &str) -> bool {
        poll::selects(self.tenants.as_ref(), tenant)
    }
}

de::defaults! {
    prefetch: u16 = STREAM_PREFETCH;
    batch_size: usize = STREAM_BATCH_SIZE;
    batch_wait: Duration = STREAM_BATCH_WAIT;
    heartbeat: Duration = STREAM_HEARTBEAT;
    connect_timeout: Duration = STREAM_CONNECT_TIMEOUT;
    max_backoff: Duration = STREAM_MAX_BACKOFF;
}

fn streams<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let empty = Some("empty stream name in `streams` of {what}");
    de::names(d, "{what} lists stream `{name}` twice", empty)
}

pub(crate) fn stream(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    declared: &BTreeSet<String>,
) -> Option<StreamSourceConfig> {
    let what = &s.what;
    let (c, bad) = cx.de_partial::<StreamSourceConfig>(s, value, &[]);
    let read = |k: &str| !bad.iter().any(|b| b == k);
    let mut ok = !read("tenants") || cx.declared_tenants(s, value, "tenants", declared, NO_TENANT);
    let mut c = c?;
    if read("prefetch") && read("batch_size") && c.batch_size > usize::from(c.prefetch) {
        let (b, p) = (c.batch_size, c.prefetch);
        cx.error(
            &s.val("batch_size"),
            format!(
                "`batch_size` ({b}) in {what} is larger than `prefetch` ({p}): the broker \
                 never sends more than `prefetch` unacknowledged deliveries, so a batch \
                 could never fill"
            ),
        );
        return None;
    }
    let pem = Some("a PEM file of the CA that signs the broker's certificate");
    let file_ok = cx.file_at(s, "ca_file", &mut c.ca_file, pem);
    ok &= file_ok;
    if c.insecure && c.ca_file.is_some() && read("ca_file") && file_ok {
        cx.error(
            &s.val("insecure"),
            format!(
                "{what} sets both `ca_file` and `insecure = true`; `insecure` turns certificate \
                 checks off, so the CA file would be ignored: keep only `ca_file`"
            ),
        );
        return None;
    }
    (ok && bad.is_empty()).then_some(c)
}

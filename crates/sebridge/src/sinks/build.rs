//! Builds and spawns each configured sink (keeps the topology's sink arm one call).

use super::elasticsearch::ElasticsearchSink;
use super::file::FileSink;
use super::postgres::PostgresSink;
use super::sentinel::SentinelSink;
use super::splunk_hec::HecSink;
use super::stdout::StdoutSink;
use super::syslog::SyslogSink;
use super::util::batch::SinkOptions;
use super::util::runner::run_sink;
use super::util::{Sink, SinkCtx, SinkError};
use super::webhook::WebhookSink;
use crate::config::SinkConfig;
use crate::status::StatusBoard;
use crate::store::Store;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::error;

/// Spawns the sink `name` into `set`. A sink that cannot even be built (e.g. an unreadable
/// CA file) is reported in the status board and logs; it never stops the others.
pub fn spawn_sink(
    set: &mut JoinSet<()>,
    name: &str,
    config: &SinkConfig,
    store: &Store,
    status: &StatusBoard,
    shutdown: &CancellationToken,
) {
    let ctx = SinkCtx {
        name: name.to_string(),
        store: store.clone(),
        status: status.clone(),
    };
    let opts = SinkOptions::from(config.common());
    let (store, status, token) = (store.clone(), status.clone(), shutdown.clone());
    let name = name.to_string();
    let kind = config.kind();
    match config.clone() {
        SinkConfig::File(c) => {
            set.spawn(go(
                name,
                FileSink::new(c.path, c.wrap).with_format(c.format),
                opts,
                store,
                status,
                token,
            ));
        }
        SinkConfig::Stdout(c) => {
            set.spawn(go(
                name,
                StdoutSink::new(c.wrap),
                opts,
                store,
                status,
                token,
            ));
        }
        SinkConfig::Syslog(c) => match SyslogSink::new(c, ctx) {
            Ok(s) => {
                set.spawn(go(name, s, opts, store, status, token));
            }
            Err(e) => not_built(&name, kind, &status, e),
        },
        SinkConfig::SplunkHec(c) => match HecSink::new(c, ctx) {
            Ok(s) => {
                set.spawn(go(name, s, opts, store, status, token));
            }
            Err(e) => not_built(&name, kind, &status, e),
        },
        SinkConfig::Elasticsearch(c) => match ElasticsearchSink::new(c, ctx) {
            Ok(s) => {
                set.spawn(go(name, s, opts, store, status, token));
            }
            Err(e) => not_built(&name, kind, &status, e),
        },
        SinkConfig::Sentinel(c) => match SentinelSink::new(c, ctx) {
            Ok(s) => {
                // Its waits for Retry-After can be minutes: a stop ends them.
                let s = s.stop_on(token.clone());
                set.spawn(go(name, s, opts, store, status, token));
            }
            Err(e) => not_built(&name, kind, &status, e),
        },
        SinkConfig::Postgres(c) => {
            set.spawn(go(
                name,
                PostgresSink::new(c, ctx),
                opts,
                store,
                status,
                token,
            ));
        }
        SinkConfig::Webhook(c) => match WebhookSink::new(c, ctx) {
            Ok(s) => {
                set.spawn(go(name, s, opts, store, status, token));
            }
            Err(e) => not_built(&name, kind, &status, e),
        },
    }
}

fn not_built(name: &str, kind: &str, status: &StatusBoard, e: SinkError) {
    error!(sink = %name, error = %e, "sink cannot start");
    status.register_sink(name, kind, 0);
    let msg = format!("cannot start: {e}");
    status.update_sink(name, |s| {
        s.healthy = false;
        s.last_error = Some(msg);
    });
}

async fn go<S: Sink>(
    name: String,
    sink: S,
    opts: SinkOptions,
    store: Store,
    status: StatusBoard,
    token: CancellationToken,
) {
    let sink_name = name.clone();
    if let Err(e) = run_sink(name, sink, opts, store, status, token).await {
        error!(sink = %sink_name, error = %e, "sink stopped with an error");
    }
}

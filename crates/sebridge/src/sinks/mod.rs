//! Sinks: journal consumers that deliver events somewhere. Each owns a committed position
//! (and optional state) in the store: read after the position, deliver, then commit.
//!
//! Each sink kind lives in its own folder with its encoders beside it (`file`, `stdout`,
//! `syslog` with CEF/LEEF, `splunk_hec`, `elasticsearch` with the ECS mapper, `sentinel`
//! with the Sentinel table's encoder, `postgres`, `webhook`). What they share is in [`util`]: the [`Sink`] contract and the runner
//! ([`run_sink`]) that gives every sink the same batching, filters, retries of the *same*
//! batch with backoff (a batch is never skipped) and health/backlog reporting. [`build`]
//! makes each configured sink and spawns its runner.
//!
//! Each sink is its own task reading the journal on its own, so a sink that is down holds
//! back nobody: ingestion and the other sinks carry on, and the journal holds its backlog
//! (within the retention limits of [`retention`]).

pub mod build;
pub mod config;
pub mod elasticsearch;
pub mod file;
pub mod postgres;
pub mod retention;
pub mod sentinel;
pub mod splunk_hec;
pub mod stdout;
pub mod syslog;
pub mod util;
pub mod webhook;

// The names the rest of the crate (topology, tests, benchmarks) uses, at their old paths.
pub use util::batch::SinkOptions;
pub use util::render::render_line;
pub use util::runner::run_sink;
pub use util::{Sink, SinkCtx, SinkError};

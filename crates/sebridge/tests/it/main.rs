//! All integration tests of this crate in one binary: one link instead of one per file,
//! which is most of the test build's time.

#[path = "../common/mod.rs"]
mod common;
#[path = "../pki/mod.rs"]
mod pki;
#[path = "../stream_common/mod.rs"]
mod stream_common;
#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod cli;
mod cluster;
mod cluster_handover;
mod config_validate;
mod dashboard;
mod demo;
mod event_kinds;
mod exit_codes;
mod incidents;
mod incidents_cli;
mod incidents_engine;
mod incidents_env;
mod isolation;
mod ocsf;
mod ocsf_schema;
mod packaging;
mod poll;
mod progress;
mod read_only;
mod readme;
mod secrets_debug;
mod secrets_hygiene;
mod sinks_http;
mod sinks_pipeline;
mod sinks_sentinel;
mod sinks_syslog;
mod streams;
mod streams_gone;
mod tls_default;
mod xdr_rate_limit;

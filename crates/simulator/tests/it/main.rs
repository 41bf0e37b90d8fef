//! All integration tests of this crate in one binary: one link instead of one per file,
//! which is most of the test build's time.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod cli;
mod control;
mod integrations;
mod isolation;
mod read_only;
mod receivers;
mod receivers_sentinel;
mod shapes;
mod streams;
mod xdr_rate_limit;

//! All integration tests of this crate in one binary: one link instead of one per file,
//! which is most of the test build's time.

mod fixtures;
mod http;

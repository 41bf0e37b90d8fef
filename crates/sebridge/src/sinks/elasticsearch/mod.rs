//! The Elasticsearch sink and its encoder:
//! - [`sink`]: `_bulk` requests into a data stream, exactly once per `_id`;
//! - [`ecs`]: Secure Endpoint event → ECS document (Elastic's own integration's fields);
//! - `tree`: the borrowed JSON tree the mapper works on;
//! - `ecs_golden` (tests): the mapper against the golden files in `tests/golden/ecs/`.

pub mod config;
pub mod ecs;
#[cfg(test)]
mod ecs_golden;
pub mod sink;
mod tree;

pub use sink::ElasticsearchSink;

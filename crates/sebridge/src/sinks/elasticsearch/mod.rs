//! The Elasticsearch sink and its encoder:
//! - [`sink`]: `_bulk` requests into a data stream, exactly once per `_id`;
//! - [`ecs`]: Secure Endpoint event → ECS document (Elastic's own integration's fields);
//! - `tree`: the borrowed JSON tree the mapper works on.

pub mod ecs;
#[cfg(test)]
mod ecs_golden;
#[cfg(test)]
mod reference;
pub mod sink;
mod tree;

pub use sink::ElasticsearchSink;

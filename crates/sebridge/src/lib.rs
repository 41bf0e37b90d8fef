//! sebridge: Cisco Secure Endpoint events into a durable journal, then to SIEMs,
//! ServiceNow and Cisco XDR.
//!
//! Data flow (see ARCHITECTURE.md): `sources` (poll, stream) append to the `store` journal;
//! `sinks` and the incident engine read the journal from their own committed positions.
//! `topology` wires components from `config`.

pub mod cluster;
pub mod config;
pub mod incidents;
#[cfg(test)]
mod props;
pub mod secrets;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod status;
pub mod store;
pub mod tenants;
pub mod topology;

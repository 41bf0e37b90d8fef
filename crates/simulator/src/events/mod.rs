//! Event storage and generation.
//!
//! * [`EventStore`]: one tenant's events, kept sorted ascending by
//!   `(timestamp, timestamp_nanoseconds, insertion sequence)`. Pages are read from the end
//!   (newest first), so the unfiltered and `start_date`-only paths cost O(log n + page).
//!   Every event's JSON text is stored once, pre-serialized; generated events share the
//!   per-computer `computer` object and per-threat `file` objects between events.
//! * [`Generator`]: a per-tenant, seeded generator of realistic events whose shapes follow
//!   the captured payloads (see `fixtures/secure-endpoint`).

mod catalogue;
mod generator;
mod shapes;
mod store;
#[cfg(test)]
mod tests;

pub(crate) use generator::Generator;
pub(crate) use store::{EventStore, Filter, StoredEvent};

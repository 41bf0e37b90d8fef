//! Event storage and generation.
//!
//! * [`EventStore`]: one tenant's events, kept sorted ascending by
//!   `(timestamp, timestamp_nanoseconds, insertion sequence)`. Pages are read from the end
//!   (newest first), so the unfiltered and `start_date`-only paths cost O(log n + page).
//!   Every event's JSON text is stored once, pre-serialized; generated events share the
//!   per-computer `computer` object and per-threat `file` objects between events.
//! * [`Generator`]: a per-tenant, seeded generator of realistic events whose shapes follow
//!   the captured payloads (see `fixtures/secure-endpoint`) and the reference's field table:
//!   every type of the reference (`mix.rs`: shape, severity, weight in the live mix), shapes
//!   built in `shapes.rs` and `tails.rs` from the data in `catalogue*.rs`.
//! * [`sample_events`]: one event of every type, for tests of what consumes events.

mod catalogue;
mod catalogue_more;
mod generator;
#[cfg(test)]
mod kinds_tests;
mod mix;
mod shapes;
mod store;
mod tails;
#[cfg(test)]
mod tests;

pub(crate) use generator::Generator;
pub(crate) use store::{EventStore, Filter, StoredEvent};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::world;

/// One event of every type of [`EVENT_TYPES`](crate::EVENT_TYPES), in that order, as the
/// simulator generates them: a world of tenant `sample` (links to
/// `https://api.amp.cisco.com`) seeded with `seed`, every event in second `at` (epoch
/// seconds), 1 ms apart. Deterministic for a seed; no simulator needs to run. For tests of
/// what consumes events (encoders, templates, mappings).
pub fn sample_events(seed: u64, at: i64) -> Vec<String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let world = world::World::generate(&mut rng, "sample", "https://api.amp.cisco.com", at);
    let mut gen = Generator::new(SmallRng::seed_from_u64(seed ^ 0x5a5a_5a5a));
    let mut out = Vec::with_capacity(crate::EVENT_TYPES.len());
    for (i, t) in crate::EVENT_TYPES.iter().enumerate() {
        let ns = u32::try_from(i).unwrap_or(0) * 1_000_000;
        let made = gen.generate_type(&world, t.id, None, at, ns, &mut out);
        debug_assert!(made, "every type of the table can be generated: {}", t.id);
    }
    out.iter().map(|e| e.text.to_text()).collect()
}

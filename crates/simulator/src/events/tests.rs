//! Unit tests: generated events are valid JSON that reads back the same, and the store keeps
//! its order and pages newest first.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde_json::Value;

use super::store::EventText;
use super::{EventStore, Filter, Generator, StoredEvent};
use crate::world::World;

fn world() -> World {
    let mut rng = SmallRng::seed_from_u64(7);
    World::generate(&mut rng, "t", "http://127.0.0.1:1", 1_700_000_000)
}

#[test]
fn generated_events_are_valid_json() {
    let w = world();
    let mut g = Generator::new(SmallRng::seed_from_u64(1));
    let times = g.spread_times(5000, 1_700_000_000_000_000_000, 1_700_000_360_000_000_000);
    let mut out = Vec::new();
    g.generate(&w, &times, &mut out);
    assert_eq!(out.len(), 5000);
    let mut seen = std::collections::HashSet::new();
    for e in &out {
        let text = e.text.to_text();
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(err) => panic!("{err}: {text}"),
        };
        let back = StoredEvent::from_value(&v, EventText::Raw(Arc::from(""))).unwrap();
        assert_eq!(back.ts, e.ts);
        assert_eq!(back.ns, e.ns);
        assert_eq!(back.id, e.id);
        assert_eq!(back.type_id, e.type_id);
        assert_eq!(back.connector, e.connector);
        assert_eq!(back.groups, e.groups);
        assert_eq!(back.det_sha, e.det_sha);
        assert_eq!(back.app_sha, e.app_sha);
        if let Some(id) = e.id {
            assert!(id > 1 << 62);
            assert!(seen.insert(id), "duplicate id");
        }
    }
}

#[test]
fn store_orders_and_pages() {
    let w = world();
    let mut g = Generator::new(SmallRng::seed_from_u64(2));
    let mut store = EventStore::default();
    for _ in 0..3 {
        let times = g.spread_times(100, 0, 100_000_000_000);
        let mut out = Vec::new();
        g.generate(&w, &times, &mut out);
        store.insert_many(out);
    }
    // a few single inserts in the middle
    let mut out = Vec::new();
    g.generate(&w, &[(50, 5), (10, 1)], &mut out);
    store.insert_many(out);
    assert_eq!(store.len(), 302);
    for i in 1..store.len() {
        assert!(store.get(i - 1).key() <= store.get(i).key());
    }
    let (total, idx) = store.select(&Filter::default(), 0, 10);
    assert_eq!(total, 302);
    assert_eq!(idx, (292..302).rev().collect::<Vec<_>>());
    let f = Filter {
        start: Some(50),
        ..Filter::default()
    };
    let (total, _) = store.select(&f, 0, 500);
    assert_eq!(total, store.events.iter().filter(|e| e.ts >= 50).count());
    let (_, idx) = store.select(&f, total, 10);
    assert!(idx.is_empty());
}

//! Any bytes as an events page, an event, and a journaled event read by the sinks: a typed
//! view or a reason (the dead letter), never a panic. The same entry points as
//! `crates/secure-endpoint/src/event_props.rs` and `crates/sebridge/src/sinks/util/view_props.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sebridge::sinks::elasticsearch::ecs::write_ecs;
use sebridge::sinks::syslog::{cef, leef};
use sebridge::sinks::util::view::EventView;
use sebridge::store::JournalEntry;
use secure_endpoint::{Event, EventsPage};

fuzz_target!(|data: &[u8]| {
    // The poll source: a whole `/v1/events` body; each item an event or a rejection.
    if let Ok(page) = EventsPage::from_body(data) {
        assert!(page.rejected.iter().all(|r| !r.reason.is_empty()));
    }
    // The stream source: one delivery's body (not UTF-8 is a dead letter by itself).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let entry = match Event::from_json(text) {
        Ok(e) => {
            assert_eq!(e.raw(), text.trim());
            JournalEntry {
                tenant: "fuzz".into(),
                event_id: e.id,
                event_type_id: e.event_type_id,
                event_time: e.timestamp,
                severity: e.severity,
                connector_guid: e.connector_guid.clone(),
                raw: e.shared_raw(),
                ..Default::default()
            }
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            // The sinks still see rows of any shape (journaled by older versions, say).
            JournalEntry {
                tenant: "fuzz".into(),
                event_time: data.len() as i64 * 1_000_000_007,
                raw: text.into(),
                ..Default::default()
            }
        }
    };
    // The sinks: the view falls back, every encoder renders one line.
    let view = EventView::parse(&entry.raw);
    let mut out = String::new();
    cef::render(&entry, &view, &mut out);
    leef::render(&entry, &view, '^', &mut out);
    assert!(!out.contains(['\n', '\r']));
    let mut doc = Vec::new();
    let _ = write_ecs(&entry.raw, &entry.tenant, "logs-fuzz", &mut doc);
});

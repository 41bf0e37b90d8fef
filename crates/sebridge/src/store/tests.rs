//! The store's behaviour, on both backends: each test runs on a fresh SQLite file and on a
//! fresh schema of the machine's PostgreSQL (`SEBRIDGE_TEST_POSTGRES_URL`).

use super::postgres::testing;
use super::sqlite::test_event as ev;
use super::{Cursor, JournalEntry, Position, RegisteredTenant, Store};
use std::future::Future;

/// Where a test's store lives; `open` opens another handle on the same one (a second
/// process, or a second replica).
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Place {
    async fn new(postgres: bool) -> Place {
        match postgres {
            false => Place::Sqlite(tempfile::tempdir().unwrap()),
            true => Place::Postgres(testing::schema()),
        }
    }

    async fn open(&self) -> Store {
        match self {
            Place::Sqlite(dir) => Store::open_sqlite(&dir.path().join("j.db")).await.unwrap(),
            Place::Postgres(schema) => Store::open_postgres(&testing::url(), Some(schema))
                .await
                .unwrap(),
        }
    }

    async fn drop(self) {
        if let Place::Postgres(schema) = self {
            testing::drop_schema(&schema).await;
        }
    }
}

/// Runs `test` on both backends.
async fn both<F, Fut>(test: F)
where
    F: Fn(Place) -> Fut,
    Fut: Future<Output = Place>,
{
    for postgres in [false, true] {
        let place = test(Place::new(postgres).await).await;
        place.drop().await;
    }
}

#[tokio::test]
async fn append_dedups_and_commits_cursor_atomically() {
    both(|place| async move {
        let store = place.open().await;
        let big = 6_533_241_145_273_614_339u64;
        let c1 = Cursor {
            time: 10,
            seen_ids: vec![big],
        };
        let out = store
            .append("acme", "poll", &[ev(1, 9), ev(big, 10)], Some(&c1))
            .await
            .unwrap();
        assert_eq!((out.inserted, out.duplicates), (2, 0));
        assert_eq!(out.head, store.head());
        // Same events again, one new, another tenant with the same id.
        let out = store
            .append("acme", "poll", &[ev(big, 10), ev(3, 11)], None)
            .await
            .unwrap();
        assert_eq!((out.inserted, out.duplicates), (1, 1));
        store
            .append("globex", "poll", &[ev(big, 10)], None)
            .await
            .unwrap();
        // A batch holding one event twice stores it once.
        let out = store
            .append("globex", "poll", &[ev(7, 12), ev(7, 12)], None)
            .await
            .unwrap();
        assert_eq!((out.inserted, out.duplicates), (1, 1));
        let rows = store.read_after(0, 10).await.unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[1].event_id, big);
        assert_eq!(
            rows.iter()
                .map(|r| (r.tenant.as_str(), r.event_id))
                .collect::<Vec<_>>(),
            [
                ("acme", 1),
                ("acme", big),
                ("acme", 3),
                ("globex", big),
                ("globex", 7)
            ]
        );
        assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(store.cursor("acme", "poll").await.unwrap(), Some(c1));
        assert_eq!(store.head(), rows[4].seq);
        assert_eq!(store.head_from_db().await.unwrap(), rows[4].seq);
        // Derived ids (bit 63 set) round-trip too.
        let derived = u64::MAX - 5;
        store
            .append("acme", "poll", &[ev(derived, 12)], None)
            .await
            .unwrap();
        let last = store.read_after(rows[4].seq, 10).await.unwrap();
        assert_eq!(last[0].event_id, derived);
        assert_eq!(
            (
                last[0].event_type_id,
                last[0].event_time,
                last[0].source.as_str()
            ),
            (1090519054, 12, "poll")
        );
        assert_eq!(store.count().await.unwrap(), 6);
        assert_eq!(
            store.counts_by_tenant().await.unwrap(),
            [("acme".to_string(), 4), ("globex".to_string(), 2)]
        );
        assert_eq!(store.count_after(rows[2].seq).await.unwrap(), 3);
        assert_eq!(store.read_after(0, 2).await.unwrap().len(), 2);
        store.close().await;
        place
    })
    .await;
}

/// Every field comes back exactly as it went in, whatever the text holds: backslashes (a
/// Windows path), whitespace the COPY format escapes (tab, newline, carriage return outside
/// strings), non-ASCII, a severity and a connector GUID or none.
#[tokio::test]
async fn awkward_text_round_trips() {
    both(|place| async move {
        let store = place.open().await;
        let raws = [
            "{\"id\":1,\"event_type_id\":1090519054,\"timestamp\":5,\"severity\":\"High\",\
             \"computer\":{\"connector_guid\":\"g-1\"},\"file\":{\"file_path\":\"C:\\\\Users\\\\x\\\\a.exe\"}}",
            "{\t\"id\" :\r\n 2,\n\"event_type_id\":1090519054,\"timestamp\":6,\"note\":\"caf\u{e9} \\\\N \\t \u{1F600}\"}",
        ];
        let events: Vec<secure_endpoint::Event> = raws
            .iter()
            .map(|r| secure_endpoint::Event::from_json(r).unwrap())
            .collect();
        store
            .append("t\\x", "poll", &events, None)
            .await
            .unwrap();
        let rows = store.read_after(0, 10).await.unwrap();
        assert_eq!(rows.len(), 2);
        for (row, e) in rows.iter().zip(&events) {
            assert_eq!(&*row.raw, e.raw());
            assert_eq!(row.tenant, "t\\x");
            assert_eq!((row.event_id, row.event_time), (e.id, e.timestamp));
            assert_eq!(row.severity, e.severity);
            assert_eq!(row.connector_guid, e.connector_guid);
        }
        assert_eq!(rows[0].connector_guid.as_deref(), Some("g-1"));
        assert_eq!(rows[1].connector_guid, None);
        store.close().await;
        place
    })
    .await;
}

#[tokio::test]
async fn re_read_events_cost_no_sequence_numbers() {
    both(|place| async move {
        let store = place.open().await;
        store
            .append("a", "poll", &[ev(1, 1), ev(2, 2), ev(3, 3)], None)
            .await
            .unwrap();
        let head = store.head();
        for _ in 0..5 {
            let out = store
                .append_new("a", "poll", &[ev(1, 1), ev(2, 2), ev(3, 3)], None)
                .await
                .unwrap();
            assert_eq!((out.inserted, out.duplicates), (0, 3));
        }
        let out = store
            .append_new("a", "poll", &[ev(2, 2), ev(4, 4)], None)
            .await
            .unwrap();
        assert_eq!((out.inserted, out.duplicates), (1, 1));
        assert_eq!(store.head(), head + 1, "no number was used up by re-reads");
        store.close().await;
        place
    })
    .await;
}

/// Two handles on one store (two processes; on PostgreSQL, two replicas) appending the same
/// events at the same time: each event is journaled once, and a reader following along
/// never sees a smaller sequence number appear after a larger one (no gap filled later,
/// which would make a consumer that moved past it miss the event).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_journal_each_event_once_in_commit_order() {
    both(|place| async move {
        let a = place.open().await;
        let b = place.open().await;
        const N: u64 = 600;
        let writer = |s: Store, offset: u64| {
            tokio::spawn(async move {
                // Overlapping batches: each writer covers every id, in its own batching.
                let ids: Vec<u64> = (0..N).map(|i| (i + offset) % N + 1).collect();
                for chunk in ids.chunks(7 + offset as usize % 5) {
                    let events: Vec<_> = chunk.iter().map(|&i| ev(i, i as i64)).collect();
                    s.append("t", "poll", &events, None).await.unwrap();
                }
            })
        };
        let reader = {
            let r = place.open().await;
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut pos = 0;
                while seen.len() < N as usize {
                    let rows = r.read_after(pos, 50).await.unwrap();
                    if rows.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    }
                    for row in rows {
                        pos = row.seq;
                        seen.push(row.event_id);
                    }
                }
                r.close().await;
                seen
            })
        };
        let (wa, wb) = (writer(a.clone(), 0), writer(b.clone(), N / 2));
        wa.await.unwrap();
        wb.await.unwrap();
        let mut seen = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
            .await
            .expect("the reader saw every event")
            .unwrap();
        assert_eq!(a.count().await.unwrap(), N as i64);
        let all: Vec<JournalEntry> = a.read_after(0, 10_000).await.unwrap();
        let mut ids: Vec<u64> = all.iter().map(|r| r.event_id).collect();
        assert_eq!(ids, seen, "the follower read exactly the journal, in order");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), N as usize);
        seen.sort_unstable();
        assert_eq!(seen, ids);
        a.close().await;
        b.close().await;
        place
    })
    .await;
}

#[tokio::test]
async fn positions_cursors_registry_and_dead_letters_survive_reopen() {
    both(|place| async move {
        {
            let store = place.open().await;
            store
                .append("a", "poll", &[ev(1, 1), ev(2, 2)], None)
                .await
                .unwrap();
            let p = Position {
                seq: store.head(),
                state: Some("{\"len\":10}".into()),
            };
            store.commit_position("file", &p).await.unwrap();
            store.commit_position("gone", &p).await.unwrap();
            assert!(store.forget_position("gone").await.unwrap());
            assert!(!store.forget_position("gone").await.unwrap());
            let c = Cursor {
                time: 5,
                seen_ids: vec![1, 2],
            };
            store.append("a", "poll", &[], Some(&c)).await.unwrap();
            store.append("b", "poll", &[], Some(&c)).await.unwrap();
            store.delete_cursor("b", "poll").await.unwrap();
            let t = RegisteredTenant {
                name: "acme".into(),
                region: Some("eu".into()),
                base_url: None,
                client_id: "cid".into(),
                sealed_api_key: vec![0, 1, 2, 255],
                created_at: 42,
            };
            assert!(store.register_tenant(&t).await.unwrap());
            assert!(!store.register_tenant(&t).await.unwrap(), "once");
            for _ in 0..2 {
                store
                    .dead_letter("a", "poll", "not JSON", "{oops")
                    .await
                    .unwrap();
            }
            store.close().await;
        }
        let store = place.open().await;
        assert_eq!(store.head(), store.head_from_db().await.unwrap());
        let p = store.position("file").await.unwrap().unwrap();
        assert_eq!(
            (p.seq, p.state.as_deref()),
            (store.head(), Some("{\"len\":10}"))
        );
        assert_eq!(store.positions().await.unwrap().len(), 1);
        assert_eq!(
            store.cursor("a", "poll").await.unwrap().unwrap().seen_ids,
            [1, 2]
        );
        assert_eq!(store.cursor("b", "poll").await.unwrap(), None);
        let t = store.registered_tenants().await.unwrap();
        assert_eq!(
            (t.len(), t[0].sealed_api_key.as_slice()),
            (1, &[0u8, 1, 2, 255][..])
        );
        assert!(store.remove_tenant("acme").await.unwrap());
        let d = store.dead_letters(10).await.unwrap();
        assert_eq!(d.len(), 1, "the same item read twice is one dead letter");
        assert_eq!(
            (d[0].reason.as_str(), d[0].raw.as_str()),
            ("not JSON", "{oops")
        );
        store.close().await;
        place
    })
    .await;
}

#[tokio::test]
async fn retention_bounds_and_deletes() {
    both(|place| async move {
        let store = place.open().await;
        for i in 0..10 {
            store
                .append("a", "poll", &[ev(i, i as i64)], None)
                .await
                .unwrap();
        }
        let rows = store.read_after(0, 100).await.unwrap();
        let (first, last) = (rows[0].seq, rows[9].seq);
        assert_eq!(store.oldest().await.unwrap().map(|o| o.0), Some(first));
        assert_eq!(
            store.seq_keeping_newest(3).await.unwrap(),
            Some(rows[6].seq)
        );
        assert_eq!(store.seq_keeping_newest(30).await.unwrap(), None);
        let future = super::now_millis() + 60_000;
        assert_eq!(
            store.last_seq_received_before(future).await.unwrap(),
            Some(last)
        );
        assert_eq!(store.last_seq_received_before(0).await.unwrap(), None);
        assert_eq!(
            store
                .first_seq_received_since(rows[0].received_at)
                .await
                .unwrap(),
            Some(first)
        );
        store.close().await;
        place
    })
    .await;
}

/// PostgreSQL: retention drops whole day partitions once every row in one is consumed, and
/// their dedup keys with them; today's partition is never dropped.
#[tokio::test]
async fn postgres_retention_drops_whole_partitions() {
    let schema = testing::schema();
    let store = Store::open_postgres(&testing::url(), Some(&schema))
        .await
        .unwrap();
    let events: Vec<_> = (1..=6).map(|i| ev(i, i as i64)).collect();
    store.append("a", "poll", &events[..4], None).await.unwrap();
    store.append("a", "poll", &events[4..], None).await.unwrap();
    let rows = store.read_after(0, 100).await.unwrap();
    // The first four were received yesterday (moved into that day's partition).
    let pool = match store.db() {
        super::Db::Postgres(p) => p.clone(),
        super::Db::Sqlite { .. } => unreachable!(),
    };
    sqlx::query("UPDATE journal SET received_at = received_at - 86400000 WHERE seq <= $1")
        .bind(rows[3].seq)
        .execute(&pool)
        .await
        .unwrap();
    // Not all of that partition is consumed: nothing goes.
    assert_eq!(store.delete_through(rows[2].seq, 1000).await.unwrap(), 0);
    assert_eq!(store.count().await.unwrap(), 6);
    // All of it is: the partition goes whole, today's rows stay although consumed.
    assert_eq!(store.delete_through(rows[5].seq, 1000).await.unwrap(), 4);
    assert_eq!(store.count().await.unwrap(), 2);
    assert_eq!(
        store.oldest().await.unwrap().map(|o| o.0),
        Some(rows[4].seq)
    );
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM journal_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(keys, 2, "the dropped rows' dedup keys went with them");
    // Rows outside every day partition (default partition) are deleted row by row.
    sqlx::query("UPDATE journal SET received_at = 0 WHERE seq = $1")
        .bind(rows[4].seq)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(store.delete_through(rows[5].seq, 1000).await.unwrap(), 1);
    assert_eq!(store.count().await.unwrap(), 1);
    store.close().await;
    testing::drop_schema(&schema).await;
}

/// PostgreSQL: a second replica starting on a migrated store migrates nothing and finds the
/// partitions there; both see one journal.
#[tokio::test]
async fn postgres_replicas_share_one_schema() {
    let schema = testing::schema();
    let url = testing::url();
    let (a, b) = tokio::join!(
        Store::open_postgres(&url, Some(&schema)),
        Store::open_postgres(&url, Some(&schema)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    a.append("t", "poll", &[ev(1, 1)], None).await.unwrap();
    b.append("t", "stream", &[ev(1, 1), ev(2, 2)], None)
        .await
        .unwrap();
    assert_eq!(a.count().await.unwrap(), 2);
    assert_eq!(b.read_after(0, 10).await.unwrap()[0].source, "poll");
    a.close().await;
    b.close().await;
    testing::drop_schema(&schema).await;
}

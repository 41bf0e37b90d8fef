//! The client against the simulator over real HTTP on loopback.

use secure_endpoint::{
    Client, ComputersQuery, Credentials, Error, EventsQuery, IsolationStatus, NewEventStream,
};
use simulator::{Faults, SimConfig, SimHandle};
use std::time::Duration;

async fn setup(history: usize) -> (SimHandle, Client) {
    let sim = simulator::start(SimConfig {
        tenants: 2,
        rate: 0.0,
        history,
        seed: 3,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let t = sim.tenant("tenant-1").unwrap();
    let client =
        Client::builder_with_base_url(&sim.base_url(), Credentials::new(t.client_id, t.api_key))
            .unwrap()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
    (sim, client)
}

#[tokio::test]
async fn pager_follows_next_links_to_the_last_page() {
    let (sim, client) = setup(1234).await;
    let mut pager = client.events_pager(EventsQuery {
        limit: Some(500),
        ..EventsQuery::default()
    });
    let mut ids = Vec::new();
    let mut pages = 0;
    while let Some(page) = pager.next_page().await {
        let page = page.unwrap();
        pages += 1;
        assert_eq!(page.data.total, Some(1234));
        assert!(page.rate_limit.as_ref().and_then(|r| r.remaining).is_some());
        // Threat-hunting events come without an id; the client derives one (bit 63 set).
        ids.extend(
            page.data
                .events
                .iter()
                .filter(|e| !e.id_is_derived())
                .map(|e| e.id),
        );
    }
    assert_eq!(pages, 3);
    let expected: Vec<u64> = sim
        .all_event_ids("tenant-1")
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ids.len(), expected.len());
    assert_eq!(ids, expected, "newest first, every id exact");
}

#[tokio::test]
async fn filters_become_the_api_parameters() {
    let (sim, client) = setup(400).await;
    let t = sim.tenant("tenant-1").unwrap();
    let group = &t.groups[0].guid;
    let q = EventsQuery {
        event_types: vec![1090519054, 553648143],
        group_guids: vec![group.clone()],
        start_date: Some(time::OffsetDateTime::now_utc() - Duration::from_secs(7200)),
        limit: Some(100),
        ..EventsQuery::default()
    };
    let url = client.events_url(&q).unwrap();
    assert!(
        url.as_str()
            .contains("event_type%5B%5D=1090519054&event_type%5B%5D=553648143"),
        "{url}"
    );
    assert!(
        url.as_str().contains("start_date=") && url.as_str().contains("%2B00%3A00"),
        "{url}"
    );
    let page = client.events(&q).await.unwrap().data;
    assert!(!page.events.is_empty());
    for e in &page.events {
        assert!([1090519054, 553648143].contains(&e.event_type_id));
        assert!(e.group_guids.contains(group));
    }
    let err = client
        .events(&EventsQuery {
            limit: Some(501),
            ..EventsQuery::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
}

#[tokio::test]
async fn errors_are_typed_from_the_envelope() {
    let (sim, _) = setup(0).await;
    let bad = Client::builder_with_base_url(
        &sim.base_url(),
        Credentials::new("0123456789abcdef0123", "nope"),
    )
    .unwrap()
    .build()
    .unwrap();
    match bad.version().await.unwrap_err() {
        Error::Unauthorized { details } => assert!(
            details.contains("Unknown API key or Client ID"),
            "{details}"
        ),
        other => panic!("{other:?}"),
    }
    let (sim2, client) = setup(10).await;
    sim2.set_faults(
        Some("tenant-1"),
        Faults {
            error_rate: 1.0,
            ..Faults::NONE
        },
    )
    .unwrap();
    let e = client.version().await.unwrap_err();
    assert!(matches!(e, Error::Server { .. }) && e.is_retryable(), "{e}");
    sim2.set_faults(
        Some("tenant-1"),
        Faults {
            malformed_rate: 1.0,
            rate_limited_rate: 0.0,
            ..Faults::NONE
        },
    )
    .unwrap();
    let e = client.events(&EventsQuery::default()).await.unwrap_err();
    assert!(
        matches!(e, Error::Malformed { .. }) && e.is_retryable(),
        "{e}"
    );
    sim2.set_faults(
        Some("tenant-1"),
        Faults {
            drop_rate: 1.0,
            ..Faults::NONE
        },
    )
    .unwrap();
    let e = client.events(&EventsQuery::default()).await.unwrap_err();
    assert!(
        matches!(e, Error::Transport { .. } | Error::Malformed { .. }) && e.is_retryable(),
        "{e}"
    );
    sim2.clear_faults();
    sim2.set_rate_limit(Some("tenant-1"), 1, Duration::from_secs(30))
        .unwrap();
    client.version().await.unwrap();
    match client.version().await.unwrap_err() {
        Error::RateLimited {
            retry_after,
            rate_limit,
        } => {
            assert!(
                retry_after > Duration::from_secs(20) && retry_after <= Duration::from_secs(31),
                "{retry_after:?}"
            );
            assert_eq!(rate_limit.and_then(|r| r.remaining), Some(0));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn computers_groups_move_and_isolation() {
    let (sim, client) = setup(0).await;
    let t = sim.tenant("tenant-1").unwrap();
    let computers = client
        .computers(&ComputersQuery::default())
        .await
        .unwrap()
        .data;
    assert_eq!(computers.len(), t.computers.len());
    let c = &t.computers[0];
    let one = client.computer(&c.guid).await.unwrap().data;
    assert_eq!(one.hostname.as_deref(), Some(c.hostname.as_str()));
    let groups = client.groups(None).await.unwrap().data;
    let target = groups.iter().find(|g| g.guid != c.group_guid).unwrap();
    let by_name = client.groups(Some(&target.name)).await.unwrap().data;
    assert_eq!(by_name.len(), 1);
    let moved = client
        .move_computer(&c.guid, &target.guid)
        .await
        .unwrap()
        .data;
    assert_eq!(moved.group_guid.as_deref(), Some(target.guid.as_str()));
    let err = client
        .move_computer(&c.guid, "00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(!err.is_retryable());
    // Its message says "group ... not found", but the computer is there: a bad request,
    // not the computer gone (only the Event Streams routes answer "not found" as a 400).
    assert!(matches!(err, Error::BadRequest { .. }), "{err:?}");

    let iso = client
        .start_isolation(&c.guid, "sebridge test", Some("unlock123"))
        .await
        .unwrap()
        .data;
    assert!(iso.status.is_isolating());
    // Isolating twice is a 409: callers treat it as "already done".
    assert!(matches!(
        client.start_isolation(&c.guid, "again", None).await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(
        client.isolation(&c.guid).await.unwrap().data.status,
        IsolationStatus::Isolated
    );
    let stopped = client.stop_isolation(&c.guid, "done").await.unwrap().data;
    assert!(!stopped.status.is_isolating());
    // Ids that would change the request path are refused before anything is sent.
    assert!(matches!(
        client.computer("../groups").await,
        Err(Error::InvalidRequest(_))
    ));
}

/// A client of `sim`'s tenant-1 with `api_key` (default: the right one) and `prefix`
/// appended to the base URL.
fn tenant_1_client(sim: &SimHandle, prefix: &str, api_key: Option<&str>) -> Client {
    let t = sim.tenant("tenant-1").unwrap();
    let key = api_key.map_or(t.api_key, str::to_string);
    let base = format!("{}{prefix}", sim.base_url().trim_end_matches('/'));
    Client::builder_with_base_url(&base, Credentials::new(t.client_id, key))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A simulator with Event Streams on the local RabbitMQ, and a client of its tenant-1.
async fn streams_setup() -> (SimHandle, Client) {
    let url = std::env::var("SEBRIDGE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let sim = simulator::start(SimConfig {
        tenants: 1,
        rate: 0.0,
        amqp: Some(simulator::AmqpConfig {
            users: simulator::StreamUsers::detect().await,
            ..simulator::AmqpConfig::local(url)
        }),
        ..SimConfig::default()
    })
    .await
    .expect("the simulator's Event Streams need RabbitMQ (scripts/test readies it)");
    let client = tenant_1_client(&sim, "", None);
    (sim, client)
}

#[tokio::test]
async fn an_unknown_event_stream_is_not_found_though_answered_400() {
    let (sim, client) = streams_setup().await;
    // The API answers an unknown stream id with a 400 "Event stream not found".
    let err = client.event_stream(987_654).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { status: 400, .. }),
        "{err:?}"
    );
    let err = client.delete_event_stream(987_654).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { status: 400, .. }),
        "{err:?}"
    );
    sim.shutdown().await;
}

/// `find_event_stream` says "gone" only when the API does (not found by id, and not listed);
/// whatever cannot tell (401, 5xx, a 404 for every path) is an error to retry, not "gone".
#[tokio::test]
async fn find_event_stream_says_gone_only_when_the_api_does() {
    let (sim, client) = streams_setup().await;
    let created = client
        .create_event_stream(&NewEventStream {
            name: "siem".into(),
            ..NewEventStream::default()
        })
        .await
        .unwrap()
        .data;
    let found = client.find_event_stream(created.id).await.unwrap();
    assert_eq!(found.map(|s| s.name), Some("siem".to_string()));
    // Cannot tell: the answer is an error, never `None`.
    let wrong_key = tenant_1_client(&sim, "", Some("not-the-key"));
    let err = wrong_key.find_event_stream(created.id).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let wrong_path = tenant_1_client(&sim, "/not-the-api", None);
    let err = wrong_path.find_event_stream(created.id).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound { status: 404, .. }),
        "{err:?}"
    );
    sim.set_faults(
        Some("tenant-1"),
        Faults {
            error_rate: 1.0,
            ..Faults::NONE
        },
    )
    .unwrap();
    let err = client.find_event_stream(created.id).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    sim.clear_faults();
    // Deleted: the API answers 400 "Event stream not found" and no longer lists it.
    client.delete_event_stream(created.id).await.unwrap();
    assert!(client
        .find_event_stream(created.id)
        .await
        .unwrap()
        .is_none());
    assert!(client.find_event_stream(987_654).await.unwrap().is_none());
    sim.shutdown().await;
}

/// A "Read-only" API key: reads work, every write is [`Error::Forbidden`], which no retry
/// can fix.
#[tokio::test]
async fn a_read_only_key_gets_forbidden_on_writes() {
    let (sim, client) = setup(0).await;
    sim.set_read_only("tenant-1", true).unwrap();
    let t = sim.tenant("tenant-1").unwrap();
    let c = &t.computers[0];
    client.computer(&c.guid).await.unwrap();
    client.isolation(&c.guid).await.unwrap();
    let other = t.groups.iter().find(|g| g.guid != c.group_guid).unwrap();
    let errors = [
        client
            .move_computer(&c.guid, &other.guid)
            .await
            .unwrap_err(),
        client
            .start_isolation(&c.guid, "sebridge test", None)
            .await
            .unwrap_err(),
        client.stop_isolation(&c.guid, "done").await.unwrap_err(),
        client.delete_event_stream(1).await.unwrap_err(),
    ];
    for e in errors {
        match &e {
            Error::Forbidden { details } => assert!(details.contains("Read-only"), "{details}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.kind(), "forbidden");
        assert!(!e.is_retryable() && e.retry_after().is_none(), "{e}");
    }
    let now = sim.tenant("tenant-1").unwrap();
    assert_eq!(now.computers[0].group_guid, c.group_guid);
    assert!(!now.computers[0].isolated);
}

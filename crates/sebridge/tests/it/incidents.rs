//! Incidents and the closed loop, end to end over real HTTP: the simulator serves the Secure
//! Endpoint API, ServiceNow (whose business rule calls our webhook) and XDR; sebridge polls,
//! journals, opens incidents, contains hosts and undoes it all when the ticket is closed.

use crate::incidents_env::*;
use sebridge::config::Config;
use simulator::{SimConfig, SnowFaults};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_loop_tickets_containment_then_close_in_servicenow_undoes_it() {
    full_loop(start(Knobs::default()).await).await;
}

/// The same loop with every table on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_loop_on_postgres() {
    let schema = crate::support::pg_schema("incidents");
    full_loop(
        start(Knobs {
            postgres: Some(schema.clone()),
            ..Knobs::default()
        })
        .await,
    )
    .await;
    crate::support::pg_drop_schema(&schema).await;
}

async fn full_loop(env: Env) {
    let (computer, triage) = env.computer(0);
    let sha = "a".repeat(64);
    env.insert(vec![threat(&computer, 7001, now(), &sha, "High")]);
    let inc = wait_contained(&env).await;

    // ServiceNow: one ticket carrying our correlation id, texts with console links.
    let number = inc.snow_number.clone().expect("ticket");
    let ticket = env.sim.snow_record(&number).expect("ticket in ServiceNow");
    assert_eq!(ticket.get("correlation_id"), inc.correlation_id);
    assert_eq!(inc.correlation_id, "sebridge:tenant-1:amp-event:7001");
    assert!(ticket.get("short_description").contains(&computer.hostname));
    assert!(ticket
        .get("description")
        .contains(&format!("/computers/{}/trajectory2", computer.guid)));
    assert!(ticket
        .get("description")
        .contains(&format!("/file/trajectory/{sha}")));
    assert_eq!(ticket.get("urgency"), "1", "High → urgency 1");
    // XDR: one incident with our external id and the trajectory reference.
    let xdr = env.sim.xdr_incidents();
    assert_eq!(xdr.len(), 1);
    assert_eq!(xdr[0]["external_ids"][0], inc.correlation_id.as_str());
    assert_eq!(xdr[0]["status"], "New");
    assert_eq!(xdr[0]["severity"], "High");
    // The host is isolated (by us) and in Triage.
    let host = |env: &Env| {
        env.tenant()
            .computers
            .into_iter()
            .find(|c| c.guid == computer.guid)
            .expect("computer")
    };
    assert!(host(&env).isolated);
    assert_eq!(host(&env).group_guid, triage);
    assert_eq!(
        inc.original_group.as_deref(),
        Some(computer.group_guid.as_str())
    );

    // The analyst closes the ticket; the business rule calls our webhook.
    env.sim
        .snow_close(&number, None, Some("False Positive"))
        .expect("ticket closed");
    until(Duration::from_secs(20), "incident closed", || async {
        incidents(&env).await[0].status == "closed"
    })
    .await;
    let closed = only_incident(&env).await;
    assert_eq!(closed.close_source.as_deref(), Some("webhook"));
    assert!(closed.isolation_released && closed.group_restored);
    let h = host(&env);
    assert!(!h.isolated, "our isolation is stopped");
    assert_eq!(
        h.group_guid, computer.group_guid,
        "back in its original group"
    );
    let x = &env.sim.xdr_incidents()[0];
    assert_eq!(x["status"], "Closed: False Positive");
    assert!(x["incident_time"]["closed"].is_string());
    let refs: Vec<&str> = x["external_references"]
        .as_array()
        .expect("refs")
        .iter()
        .filter_map(|r| r["source_name"].as_str())
        .collect();
    assert!(refs.contains(&"ServiceNow"), "{refs:?}");
    assert!(
        refs.contains(&"Cisco Secure Endpoint"),
        "existing references kept: {refs:?}"
    );
    assert!(x["external_references"]
        .as_array()
        .expect("refs")
        .iter()
        .any(|r| r["url"]
            .as_str()
            .is_some_and(|u| u.contains(&ticket.get("sys_id").to_string()))));
    let actions = audit_actions(&env, inc.id).await;
    for step in [
        "opened",
        "snow_created",
        "xdr_created",
        "isolated",
        "moved",
        "close_requested",
        "xdr_closed",
        "unisolated",
        "group_restored",
        "closed",
    ] {
        assert!(
            actions.iter().any(|a| a == step),
            "audit lacks {step}: {actions:?}"
        );
    }
    assert_eq!(env.sim.snow_webhook_deliveries()[0].status, Some(200));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_answering_slowly_after_creating_still_makes_one_ticket() {
    let env = start(Knobs {
        snow_timeout: "1s",
        rules: "",
        ..Knobs::default()
    })
    .await;
    // The ticket is stored, then the answer takes longer than our timeout: lost.
    env.sim.set_snow_faults(SnowFaults {
        create_delay: Duration::from_secs(3),
        ..Default::default()
    });
    let (computer, _) = env.computer(0);
    env.insert(vec![threat(
        &computer,
        7101,
        now(),
        &"b".repeat(64),
        "Medium",
    )]);
    until(
        Duration::from_secs(20),
        "the ticket number recorded",
        || async {
            incidents(&env)
                .await
                .first()
                .is_some_and(|i| i.snow_number.is_some())
        },
    )
    .await;
    let inc = only_incident(&env).await;
    let tickets: Vec<_> = env
        .sim
        .snow_records()
        .into_iter()
        .filter(|r| r.get("correlation_id") == inc.correlation_id)
        .collect();
    assert_eq!(tickets.len(), 1, "one ticket despite the lost answer");
    assert_eq!(Some(tickets[0].get("number")), inc.snow_number.as_deref());
    let actions = audit_actions(&env, inc.id).await;
    assert!(
        actions.iter().any(|a| a == "snow_create_retry"),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "snow_adopted"), "{actions:?}");
    assert_eq!(env.sim.snow_records().len(), 1);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_note_whose_answer_was_lost_is_written_once() {
    let env = start(Knobs {
        snow_timeout: "1s",
        rules: "",
        ..Knobs::default()
    })
    .await;
    let (computer, _) = env.computer(0);
    let sha = "d".repeat(64);
    env.insert(vec![threat(&computer, 7301, now(), &sha, "Medium")]);
    until(Duration::from_secs(20), "the ticket", || async {
        incidents(&env)
            .await
            .first()
            .is_some_and(|i| i.snow_number.is_some())
    })
    .await;
    // The note is appended, then the answer takes longer than our timeout: lost. Sending
    // it again would append it twice (a PATCH of a journal field is not idempotent).
    env.sim.set_snow_faults(SnowFaults {
        update_delay: Duration::from_secs(3),
        ..Default::default()
    });
    env.insert(vec![threat(&computer, 7302, now(), &sha, "Medium")]);
    let inc = only_incident(&env).await;
    until(Duration::from_secs(30), "the note recorded", || async {
        audit_actions(&env, inc.id)
            .await
            .iter()
            .any(|a| a == "work_note_found")
    })
    .await;
    env.sim.set_snow_faults(SnowFaults::default());
    let number = inc.snow_number.clone().expect("ticket");
    let notes = env
        .sim
        .snow_record(&number)
        .expect("ticket")
        .work_notes()
        .len();
    assert_eq!(notes, 1, "the note is in the ticket once");
    let actions = audit_actions(&env, inc.id).await;
    assert!(!actions.iter().any(|a| a == "work_note"), "{actions:?}");
    // The events it listed count as noted: a third event gets a note of its own only.
    env.insert(vec![threat(&computer, 7303, now(), &sha, "Medium")]);
    until(Duration::from_secs(20), "the next note", || async {
        env.sim
            .snow_record(&number)
            .is_some_and(|r| r.work_notes().len() == 2)
    })
    .await;
    let last = env.sim.snow_record(&number).expect("ticket").work_notes()[1].to_string();
    assert!(last.starts_with("1 more event(s)"), "{last}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_webhook_delivered_twice_changes_nothing_the_second_time() {
    let env = start(Knobs::default()).await;
    let (computer, _) = env.computer(0);
    env.insert(vec![threat(
        &computer,
        7201,
        now(),
        &"c".repeat(64),
        "High",
    )]);
    let inc = wait_contained(&env).await;
    let number = inc.snow_number.clone().expect("ticket");
    // Closed in ServiceNow with the rule off, then the notice delivered by hand, twice.
    env.sim.set_snow_webhook_enabled(false);
    let rec = env
        .sim
        .snow_close(&number, Some("6"), None)
        .expect("resolved");
    let body = serde_json::json!({
        "table": "incident", "sys_id": rec.get("sys_id"), "number": number, "state": "6",
        "correlation_id": inc.correlation_id,
    })
    .to_string();
    let ts = now().to_string();
    let headers = [
        ("x-sebridge-timestamp", ts.clone()),
        ("x-sebridge-signature", sign(&ts, &body, SECRET)),
    ];
    let (status, text) = post_hook(&env, &body, &headers).await;
    assert_eq!((status, text.contains("closing")), (200, true), "{text}");
    until(Duration::from_secs(20), "incident closed", || async {
        incidents(&env).await[0].status == "closed"
    })
    .await;
    let ops_before = env.store().ops(inc.id).await.expect("ops").len();
    let host_before = env.tenant().computers;
    let (status, text) = post_hook(&env, &body, &headers).await;
    assert_eq!(status, 200);
    assert!(text.contains("already closed"), "{text}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.store().ops(inc.id).await.expect("ops").len(),
        ops_before,
        "nothing queued"
    );
    assert_eq!(env.tenant().computers, host_before, "hosts untouched");
    let actions = audit_actions(&env, inc.id).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "close_requested").count(),
        1
    );
    assert!(actions.iter().any(|a| a == "close_ignored"), "{actions:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_wrongly_signed_webhooks_are_refused_and_change_nothing() {
    let env = start(Knobs::default()).await;
    let (computer, _) = env.computer(0);
    env.insert(vec![threat(
        &computer,
        7301,
        now(),
        &"d".repeat(64),
        "High",
    )]);
    let inc = wait_contained(&env).await;
    let number = inc.snow_number.clone().expect("ticket");
    env.sim.set_snow_webhook_enabled(false);
    let rec = env.sim.snow_close(&number, None, None).expect("closed");
    let body = serde_json::json!({"sys_id": rec.get("sys_id"), "number": number}).to_string();
    let ts = now().to_string();
    let stale = (now() - 3600).to_string();
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no authentication", vec![]),
        (
            "wrong secret",
            vec![
                ("x-sebridge-timestamp", ts.clone()),
                (
                    "x-sebridge-signature",
                    sign(&ts, &body, "not-the-secret-at-all-123"),
                ),
            ],
        ),
        (
            "signature of another body",
            vec![
                ("x-sebridge-timestamp", ts.clone()),
                ("x-sebridge-signature", sign(&ts, "{}", SECRET)),
            ],
        ),
        (
            "stale timestamp (replay)",
            vec![
                ("x-sebridge-timestamp", stale.clone()),
                ("x-sebridge-signature", sign(&stale, &body, SECRET)),
            ],
        ),
        (
            "garbage signature",
            vec![
                ("x-sebridge-timestamp", ts.clone()),
                ("x-sebridge-signature", "sha256=zz".into()),
            ],
        ),
        (
            "wrong bearer",
            vec![("authorization", "Bearer not-the-token-0123456789".into())],
        ),
        (
            "basic instead of bearer",
            vec![("authorization", format!("Basic {BEARER}"))],
        ),
    ];
    for (what, headers) in &cases {
        let (status, _) = post_hook(&env, &body, headers).await;
        assert_eq!(status, 401, "{what}");
    }
    // A body over the limit (64 KiB) is refused unread, even correctly signed: 413.
    let big =
        serde_json::json!({"sys_id": rec.get("sys_id"), "pad": "x".repeat(70 * 1024)}).to_string();
    let (status, _) = post_hook(
        &env,
        &big,
        &[
            ("x-sebridge-timestamp", ts.clone()),
            ("x-sebridge-signature", sign(&ts, &big, SECRET)),
        ],
    )
    .await;
    assert_eq!(status, 413, "oversized body");
    // Authentic but not JSON (or JSON without sys_id / correlation_id): 400.
    for bad in ["{\"sys_id\": ", "not json at all", "[1, 2]", "{}"] {
        let (status, _) = post_hook(
            &env,
            bad,
            &[
                ("x-sebridge-timestamp", ts.clone()),
                ("x-sebridge-signature", sign(&ts, bad, SECRET)),
            ],
        )
        .await;
        assert_eq!(status, 400, "signed body {bad:?}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let i = only_incident(&env).await;
    assert_eq!(i.status, "open", "nothing happened");
    let actions = audit_actions(&env, inc.id).await;
    assert!(
        !actions
            .iter()
            .any(|a| a.starts_with("close") || a.ends_with("closed")),
        "no close was recorded: {actions:?}"
    );
    assert!(env
        .store()
        .ops(inc.id)
        .await
        .expect("ops")
        .iter()
        .all(|o| o.kind != "xdr_close"));
    assert!(env
        .tenant()
        .computers
        .iter()
        .any(|c| c.guid == computer.guid && c.isolated));
    // The right bearer token is accepted (and the close then verified with ServiceNow).
    let (status, text) = post_hook(
        &env,
        &body,
        &[("authorization", format!("Bearer {BEARER}"))],
    )
    .await;
    assert_eq!((status, text.contains("closing")), (200, true), "{text}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authentic_notice_for_an_open_ticket_is_checked_and_ignored() {
    let env = start(Knobs::default()).await;
    let (computer, _) = env.computer(0);
    env.insert(vec![threat(
        &computer,
        7351,
        now(),
        &"e".repeat(64),
        "High",
    )]);
    let inc = wait_contained(&env).await;
    let ticket = env
        .sim
        .snow_record(inc.snow_number.as_deref().expect("n"))
        .expect("ticket");
    let body = serde_json::json!({"sys_id": ticket.get("sys_id")}).to_string();
    let (status, text) = post_hook(
        &env,
        &body,
        &[("authorization", format!("Bearer {BEARER}"))],
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("ignored"), "{text}");
    assert_eq!(only_incident(&env).await.status, "open");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_closes_the_loop_when_the_webhook_is_switched_off() {
    let env = start(Knobs {
        reconcile: "300ms",
        ..Knobs::default()
    })
    .await;
    env.sim.set_snow_webhook_enabled(false);
    let (computer, _) = env.computer(0);
    env.insert(vec![threat(
        &computer,
        7401,
        now(),
        &"f".repeat(64),
        "Critical",
    )]);
    let inc = wait_contained(&env).await;
    env.sim
        .snow_close(inc.snow_number.as_deref().expect("ticket"), None, None)
        .expect("closed");
    until(
        Duration::from_secs(20),
        "incident closed by the reconciler",
        || async { incidents(&env).await[0].status == "closed" },
    )
    .await;
    let i = only_incident(&env).await;
    assert_eq!(i.close_source.as_deref(), Some("reconciler"));
    assert!(
        env.sim.snow_webhook_deliveries().is_empty(),
        "no webhook was sent"
    );
    assert_eq!(env.sim.xdr_incidents()[0]["status"], "Closed");
    assert!(env
        .tenant()
        .computers
        .iter()
        .any(|c| c.guid == computer.guid && !c.isolated && c.group_guid == computer.group_guid));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_for_one_host_make_one_incident_and_few_work_notes() {
    let env = start(Knobs {
        rules: "",
        note_interval: "1s",
        ..Knobs::default()
    })
    .await;
    let (computer, _) = env.computer(0);
    let sha = "1".repeat(64);
    let t0 = now();
    let started = Instant::now();
    // 1,000 detections of one file on one host, arriving over about three seconds; one
    // of them Critical (raises the severity).
    for chunk in 0..10u64 {
        let events = (0..100u64)
            .map(|k| {
                let n = chunk * 100 + k;
                threat(
                    &computer,
                    8000 + n,
                    t0,
                    &sha,
                    if n == 500 { "Critical" } else { "Medium" },
                )
            })
            .collect();
        env.insert(events);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    until(Duration::from_secs(30), "every event noted", || async {
        let Some(i) = incidents(&env).await.into_iter().next() else {
            return false;
        };
        let Some(n) = i.snow_number else { return false };
        let noted: usize = env
            .sim
            .snow_record(&n)
            .map(|r| {
                r.work_notes()
                    .iter()
                    .filter_map(|w| w.split(' ').next()?.parse::<usize>().ok())
                    .sum()
            })
            .unwrap_or(0);
        i.event_count == 1000 && noted == 999
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let inc = only_incident(&env).await;
    assert_eq!(inc.severity, "Critical", "raised by the Critical event");
    assert_eq!(env.sim.snow_records().len(), 1, "one ticket");
    assert_eq!(env.sim.xdr_incidents().len(), 1, "one XDR incident");
    let notes = env
        .sim
        .snow_record(inc.snow_number.as_deref().expect("n"))
        .expect("ticket")
        .work_notes()
        .len();
    // At most one note per second (the interval), plus the severity note.
    let bound = elapsed.ceil() as usize + 2;
    assert!(
        notes >= 1 && notes <= bound,
        "{notes} notes in {elapsed:.1}s (bound {bound})"
    );
    // The XDR severity patch is its own outbox operation, possibly a moment after the notes.
    until(Duration::from_secs(20), "XDR severity raised", || async {
        env.sim.xdr_incidents()[0]["severity"] == "Critical"
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xdr_tokens_expiring_mid_run_are_renewed_without_losing_an_incident() {
    let env = start(Knobs {
        rules: "",
        ..Knobs::default()
    })
    .await;
    let (a, _) = env.computer(0);
    let (b, _) = env.computer(1);
    env.insert(vec![threat(&a, 7501, now(), &"2".repeat(64), "High")]);
    until(Duration::from_secs(20), "first XDR incident", || async {
        env.sim.xdr_incidents().len() == 1
    })
    .await;
    let (tokens_before, _) = env.sim.xdr_token_counters();
    // Every token stops working (expired before the client's clock says so).
    env.sim.expire_xdr_tokens();
    env.insert(vec![threat(&b, 7502, now(), &"3".repeat(64), "High")]);
    until(Duration::from_secs(20), "second XDR incident", || async {
        env.sim.xdr_incidents().len() == 2
    })
    .await;
    // The executor records the XDR id after the create answer, a moment after the
    // simulator stored the incident.
    until(Duration::from_secs(20), "both XDR ids recorded", || async {
        let all = incidents(&env).await;
        all.len() == 2 && all.iter().all(|i| i.xdr_id.is_some())
    })
    .await;
    let (tokens_after, refused) = env.sim.xdr_token_counters();
    assert_eq!(tokens_after, tokens_before + 1, "one new token");
    assert!(refused >= 1, "the stale token was refused once");
    for i in incidents(&env).await {
        assert!(i.xdr_id.is_some());
        let ops = env.store().ops(i.id).await.expect("ops");
        assert!(ops.iter().all(|o| o.status != "failed"), "{ops:?}");
    }
    env.stop().await;
}

/// A crash right after the side effects happened but before they were recorded: the
/// operations run again after their lease and adopt what exists instead of repeating it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_calls_but_before_recording_them_makes_no_second_ticket() {
    let sim = simulator::start(SimConfig {
        tenants: 1,
        rate: 0.0,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("sebridge.toml");
    sim.write_config(&path).expect("config");
    let i = sim.integrations();
    let mut text = std::fs::read_to_string(&path).expect("config");
    text.push_str(&format!(
        r#"
[incidents.servicenow]
instance_url = "{base}"
username = "{u}"
password = "{p}"

[incidents.xdr]
base_url = "{base}"
client_id = "{xid}"
client_password = "{xpw}"

[incidents.rules.contain]
event_types = [1090519054]
isolate = true
triage_group = "Triage"
"#,
        base = i.servicenow.instance_url,
        u = i.servicenow.username,
        p = i.servicenow.password,
        xid = i.xdr.client_id,
        xpw = i.xdr.client_password,
    ));
    std::fs::write(&path, text).expect("config");
    let config = Config::load(&path).expect("valid");
    let store = sebridge::store::Store::open_sqlite(&dir.path().join("sebridge.db"))
        .await
        .expect("store");
    let tenants = sebridge::tenants::resolve_all(&config, &store)
        .await
        .expect("tenants");
    let service = sebridge::incidents::IncidentService::new(
        config.incidents.as_ref().expect("[incidents]"),
        &store,
        &tenants,
    )
    .expect("service");
    let t = sim.tenant("tenant-1").expect("tenant");
    let triage = t
        .groups
        .iter()
        .find(|g| g.name == "Triage")
        .expect("Triage")
        .guid
        .clone();
    let computer = t
        .computers
        .iter()
        .find(|c| c.group_guid != triage)
        .expect("computer")
        .clone();
    let event = secure_endpoint::Event::from_json(
        &threat(&computer, 7601, now(), &"4".repeat(64), "High").to_string(),
    )
    .expect("event");
    store
        .append("tenant-1", "poll", &[event], None)
        .await
        .expect("journaled");
    let batch = store.read_after(0, 10).await.expect("read");
    let outcome = service.process_batch(&batch).await.expect("engine");
    assert_eq!(outcome.opened, 1);
    let inc = store.incidents();
    let now_ms = sebridge::store::now_millis();
    // Round 1: every due call is made ... and the process dies before recording any outcome.
    // Round 2, after the lease: a restarted executor does them again, and records them.
    // Rounds 3 and 4: the same for the move (it runs after the isolation in its lane).
    let mut at = now_ms;
    for expected in [3usize, 1] {
        let ops = inc.claim_due(at, 60_000, 10, None).await.expect("claim");
        assert_eq!(ops.len(), expected, "{ops:?}");
        for op in ops {
            let _lost = sebridge::incidents::executor::perform(&service.ctx, op).await;
        }
        assert!(
            inc.claim_due(at + 1_000, 60_000, 10, None)
                .await
                .expect("claim")
                .is_empty(),
            "still leased"
        );
        at += 61_000;
        let again = inc.claim_due(at, 60_000, 10, None).await.expect("claim");
        assert_eq!(again.len(), expected);
        let mut finished = Vec::new();
        for op in again {
            finished.push(
                sebridge::incidents::executor::perform(&service.ctx, op)
                    .await
                    .expect("performed"),
            );
        }
        inc.complete_many(&finished, 1000).await.expect("recorded");
        at += 1_000;
    }
    assert_eq!(sim.snow_records().len(), 1);
    assert_eq!(sim.xdr_incidents().len(), 1);
    assert_eq!(sim.snow_records().len(), 1, "no second ticket");
    assert_eq!(sim.xdr_incidents().len(), 1, "no second XDR incident");
    let row = inc.list(None, None, 10).await.expect("list").remove(0);
    assert!(row.snow_number.is_some() && row.xdr_id.is_some());
    assert!(row.isolated_by_us, "the isolation is recognised as ours");
    assert!(row.moved_by_us, "the move is recognised as ours");
    assert_eq!(
        row.original_group.as_deref(),
        Some(computer.group_guid.as_str())
    );
    let host = sim
        .tenant("tenant-1")
        .expect("tenant")
        .computers
        .into_iter()
        .find(|c| c.guid == computer.guid)
        .expect("host");
    assert!(host.isolated && host.group_guid == triage);
    let mut actions: Vec<String> = inc
        .audit(Some(row.id), 100)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    actions.sort();
    for a in ["snow_adopted", "xdr_adopted", "isolated", "moved"] {
        assert!(actions.iter().any(|x| x == a), "{actions:?}");
    }
    store.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_incident_response_tickets_close_on_their_own_state_model() {
    let env = start(Knobs {
        table: "sn_si_incident",
        ..Knobs::default()
    })
    .await;
    let (computer, _) = env.computer(0);
    env.insert(vec![threat(
        &computer,
        7701,
        now(),
        &"5".repeat(64),
        "High",
    )]);
    let inc = wait_contained(&env).await;
    let number = inc.snow_number.clone().expect("ticket");
    assert!(number.starts_with("SIR"), "{number}");
    let new = env.sim.snow_record(&number).expect("record");
    assert_eq!(new.get("state"), "10", "a new security incident is Draft");
    assert_eq!(new.get("active"), "true");
    // SIR's Closed is 3 (the incident table's 3 is On Hold): the analyst closes, the loop runs.
    let rec = env.sim.snow_close(&number, None, None).expect("closed");
    assert_eq!(rec.get("state"), "3");
    until(Duration::from_secs(20), "incident closed", || async {
        incidents(&env).await[0].status == "closed"
    })
    .await;
    assert_eq!(env.sim.xdr_incidents()[0]["status"], "Closed");
    assert!(env
        .tenant()
        .computers
        .iter()
        .any(|c| c.guid == computer.guid && !c.isolated));
    env.stop().await;
}

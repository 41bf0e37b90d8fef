//! Isolation as the real API has it: a start or stop stays pending until the host's
//! connector checks in, the API refuses requests (409) meanwhile and where isolation is not
//! available, and someone else may isolate the host. sebridge records a release only once
//! the host reads `not_isolated`, shows a host stuck pending, and never lifts an isolation
//! that is not its own.

use crate::incidents_env::*;
use serde_json::Value;
use simulator::ConsoleAction;
use std::process::Command;
use std::time::Duration;

fn computer_state(env: &Env, guid: &str) -> simulator::ComputerInfo {
    env.tenant()
        .computers
        .into_iter()
        .find(|c| c.guid == guid)
        .expect("computer")
}

fn console(env: &Env, guid: &str, action: ConsoleAction) {
    env.sim
        .console("tenant-1", guid, action)
        .expect("console action");
}

/// The host's connector goes offline (its isolation requests stay pending) or checks in.
fn set_online(env: &Env, guid: &str, online: bool) {
    console(
        env,
        guid,
        ConsoleAction {
            online: Some(online),
            ..ConsoleAction::default()
        },
    );
}

async fn dashboard_incident(env: &Env) -> Value {
    let addr = env.topo().http_addr.expect("server");
    let v: Value = reqwest::get(format!("http://{addr}/incidents.json"))
        .await
        .expect("incidents.json")
        .json()
        .await
        .expect("JSON");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_closed_while_the_host_is_pending_start_is_released_only_once_the_host_has_checked_in(
) {
    let mut env = start(Knobs::default()).await;
    env.sim.set_isolation_delay(Duration::from_millis(500));
    let (computer, _) = env.computer(0);
    // The laptop is offline: our isolation request stays pending_start.
    set_online(&env, &computer.guid, false);
    env.insert(vec![threat(
        &computer,
        7801,
        now(),
        &"e".repeat(64),
        "High",
    )]);
    until(Duration::from_secs(20), "isolation pending", || async {
        incidents(&env).await.first().is_some_and(|i| {
            i.snow_number.is_some() && i.isolation_pending().map(|p| p.0) == Some("pending_start")
        })
    })
    .await;
    assert_eq!(
        computer_state(&env, &computer.guid).isolation_status,
        "pending_start"
    );
    // The dashboard's data shows it.
    let d = dashboard_incident(&env).await;
    assert_eq!(d["summary"]["isolation_pending"], 1, "{d}");
    assert_eq!(
        d["incidents"][0]["isolation_pending"]["state"], "pending_start",
        "{d}"
    );

    // The analyst closes the ticket while the host has not checked in.
    let inc = only_incident(&env).await;
    let number = inc.snow_number.clone().expect("ticket");
    env.sim
        .snow_close(&number, None, Some("Solved (Permanently)"))
        .expect("ticket closed");
    until(Duration::from_secs(20), "incident closing", || async {
        incidents(&env).await[0].status == "closing"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let row = only_incident(&env).await;
    assert_eq!(
        row.status, "closing",
        "not closed while the host is pending"
    );
    assert!(!row.isolation_released, "nothing released yet: {row:?}");
    assert_eq!(
        computer_state(&env, &computer.guid).isolation_status,
        "pending_start"
    );

    // `incidents show` says so (sebridge stopped: the SQLite store has one process).
    env.topology.take().expect("running").stop().await;
    let out = Command::new(env!("CARGO_BIN_EXE_sebridge"))
        .env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "warn")
        .args(["incidents", "show", &row.id.to_string(), "-c"])
        .arg(env.config_path())
        .output()
        .expect("runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("ISOLATION PENDING"), "{shown}");
    assert!(shown.contains("pending_start since"), "{shown}");
    assert!(shown.contains("waiting: "), "{shown}");

    // The host checks in; sebridge (restarted) sees the isolation, then stops it.
    env.restart().await;
    set_online(&env, &computer.guid, true);
    until(Duration::from_secs(40), "incident closed", || async {
        incidents(&env).await[0].status == "closed"
    })
    .await;
    let closed = only_incident(&env).await;
    assert!(closed.isolation_released);
    assert_eq!(closed.isolation_state.as_deref(), Some("not_isolated"));
    assert_eq!(
        computer_state(&env, &computer.guid).isolation_status,
        "not_isolated",
        "the host is really released"
    );
    let actions = audit_actions(&env, closed.id).await;
    let pos = |a: &str| {
        actions
            .iter()
            .position(|x| x == a)
            .unwrap_or_else(|| panic!("audit lacks {a}: {actions:?}"))
    };
    assert!(pos("isolation_pending") < pos("close_requested"));
    assert!(pos("close_requested") < pos("isolated"), "{actions:?}");
    assert!(pos("isolated") < pos("unisolated"), "{actions:?}");
    assert_eq!(
        actions.iter().filter(|a| *a == "isolation_pending").count(),
        1,
        "a wait is audited once, not once per look: {actions:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_stays_pending_is_not_taken_for_a_release() {
    let env = start(Knobs::default()).await;
    let (computer, _) = env.computer(0);
    env.insert(vec![threat(
        &computer,
        7811,
        now(),
        &"f".repeat(64),
        "High",
    )]);
    let inc = wait_contained(&env).await;
    // The host goes offline after it was isolated: the stop will stay pending_stop.
    set_online(&env, &computer.guid, false);
    env.sim
        .snow_close(inc.snow_number.as_deref().expect("ticket"), None, None)
        .expect("closed");
    until(Duration::from_secs(20), "stop pending", || async {
        incidents(&env).await[0].isolation_pending().map(|p| p.0) == Some("pending_stop")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let row = only_incident(&env).await;
    assert_eq!(row.status, "closing");
    assert!(!row.isolation_released);
    assert_eq!(
        computer_state(&env, &computer.guid).isolation_status,
        "pending_stop"
    );
    set_online(&env, &computer.guid, true);
    until(Duration::from_secs(40), "incident closed", || async {
        incidents(&env).await[0].status == "closed"
    })
    .await;
    assert!(only_incident(&env).await.isolation_released);
    assert!(!computer_state(&env, &computer.guid).isolated);
    let actions = audit_actions(&env, inc.id).await;
    assert!(
        actions.iter().any(|a| a == "unisolate_pending"),
        "{actions:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_where_isolation_is_unavailable_is_reported_and_still_moved() {
    let env = start(Knobs::default()).await;
    let (computer, triage) = env.computer(0);
    console(
        &env,
        &computer.guid,
        ConsoleAction {
            isolation_available: Some(false),
            ..ConsoleAction::default()
        },
    );
    env.insert(vec![threat(
        &computer,
        7821,
        now(),
        &"1".repeat(64),
        "High",
    )]);
    until(Duration::from_secs(20), "moved", || async {
        incidents(&env).await.first().is_some_and(|i| i.moved_by_us)
    })
    .await;
    let inc = only_incident(&env).await;
    assert!(!inc.isolated_by_us);
    let actions = audit_actions(&env, inc.id).await;
    assert!(
        actions.iter().any(|a| a == "isolation_unavailable"),
        "{actions:?}"
    );
    let host = computer_state(&env, &computer.guid);
    assert!(!host.isolated && host.group_guid == triage);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolations_of_someone_else_are_left_alone_before_and_after_ours() {
    let env = start(Knobs::default()).await;
    // Host A: an analyst isolated it before the detection.
    let (a, _) = env.computer(0);
    console(
        &env,
        &a.guid,
        ConsoleAction {
            isolate: Some("analyst: keep isolated".into()),
            user: Some("jane@example.com".into()),
            ..ConsoleAction::default()
        },
    );
    env.insert(vec![threat(&a, 7831, now(), &"2".repeat(64), "High")]);
    until(Duration::from_secs(20), "incident on A moved", || async {
        incidents(&env).await.first().is_some_and(|i| i.moved_by_us)
    })
    .await;
    let ia = only_incident(&env).await;
    assert!(!ia.isolated_by_us, "not ours");
    assert!(audit_actions(&env, ia.id)
        .await
        .iter()
        .any(|x| x == "isolation_skipped"));

    // Host B: isolated by us, then an analyst stopped ours and isolated it themselves.
    let (b, _) = env.computer(1);
    env.insert(vec![threat(&b, 7832, now(), &"3".repeat(64), "High")]);
    until(
        Duration::from_secs(20),
        "incident on B contained",
        || async {
            incidents(&env)
                .await
                .iter()
                .any(|i| i.connector_guid.as_deref() == Some(&b.guid) && i.isolated_by_us)
        },
    )
    .await;
    console(
        &env,
        &b.guid,
        ConsoleAction {
            unisolate: true,
            ..ConsoleAction::default()
        },
    );
    console(
        &env,
        &b.guid,
        ConsoleAction {
            isolate: Some("IR team: forensic hold".into()),
            user: Some("ir@example.com".into()),
            ..ConsoleAction::default()
        },
    );
    for i in incidents(&env).await {
        env.sim
            .snow_close(i.snow_number.as_deref().expect("ticket"), None, None)
            .expect("closed");
    }
    until(Duration::from_secs(30), "both closed", || async {
        incidents(&env).await.iter().all(|i| i.status == "closed")
    })
    .await;
    assert!(
        computer_state(&env, &a.guid).isolated,
        "A is still isolated"
    );
    assert!(
        computer_state(&env, &b.guid).isolated,
        "B is still isolated"
    );
    let ib = incidents(&env)
        .await
        .into_iter()
        .find(|i| i.connector_guid.as_deref() == Some(&b.guid))
        .expect("incident on B");
    let actions = audit_actions(&env, ib.id).await;
    assert!(
        actions.iter().any(|x| x == "unisolate_skipped"),
        "{actions:?}"
    );
    assert!(!actions.iter().any(|x| x == "unisolated"), "{actions:?}");
    env.stop().await;
}

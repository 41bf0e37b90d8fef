//! Isolation's transitional states: a request is pending until the connector carries it
//! out (or, offline, until it checks in); the API refuses requests meanwhile (409), and
//! where isolation is not available.

use crate::common::*;
use reqwest::Method;
use simulator::{ConsoleAction, SimConfig};
use std::time::Duration;

#[tokio::test]
async fn requests_stay_pending_until_the_connector_carries_them_out() {
    let sim = start(SimConfig {
        isolation_delay: Duration::from_millis(300),
        ..quiet(1)
    })
    .await;
    let t = sim.tenants()[0].clone();
    let c = t.computers[0].clone();
    let path = format!("/v1/computers/{}/isolation", c.guid);
    let body = r#"{"comment":"suspicious"}"#;

    let r = call(&sim, Some(&t), Method::PUT, &path, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "pending_start");
    let v = get(&sim, &t, &format!("/v1/computers/{}", c.guid))
        .await
        .json();
    assert_eq!(v["data"]["isolation"]["status"], "pending_start");
    // Nothing can be asked while it is pending.
    let r = call(&sim, Some(&t), Method::OPTIONS, &path, None).await;
    assert_eq!(r.header("allow").as_deref(), Some("OPTIONS, GET"));
    let r = call(&sim, Some(&t), Method::DELETE, &path, None).await;
    let details = assert_error_envelope(&r, 409, "Conflict");
    assert!(details[0].contains("pending_start"), "{details:?}");
    let r = call(&sim, Some(&t), Method::PUT, &path, Some(body)).await;
    assert_error_envelope(&r, 409, "Conflict");

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        get(&sim, &t, &path).await.json()["data"]["status"],
        "isolated"
    );
    let r = call(&sim, Some(&t), Method::DELETE, &path, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "pending_stop");
    assert_eq!(
        get(&sim, &t, &path).await.json()["data"]["comment"],
        "suspicious",
        "the isolation's comment stays until it has stopped"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let v = get(&sim, &t, &path).await.json();
    assert_eq!(v["data"]["status"], "not_isolated");
    assert!(v["data"].get("comment").is_none());
}

#[tokio::test]
async fn an_offline_computer_stays_pending_until_it_checks_in() {
    let sim = start(quiet(1)).await;
    let t = sim.tenants()[0].clone();
    let c = t.computers[0].clone();
    let path = format!("/v1/computers/{}/isolation", c.guid);
    let offline = ConsoleAction {
        online: Some(false),
        ..ConsoleAction::default()
    };
    sim.console(&t.name, &c.guid, offline).expect("offline");
    let r = call(&sim, Some(&t), Method::PUT, &path, Some("{}")).await;
    assert_eq!(r.json()["data"]["status"], "pending_start");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info = sim.tenant(&t.name).expect("tenant");
    assert_eq!(info.computers[0].isolation_status, "pending_start");
    assert!(!info.computers[0].online);
    let online = ConsoleAction {
        online: Some(true),
        ..ConsoleAction::default()
    };
    sim.console(&t.name, &c.guid, online).expect("online");
    assert_eq!(
        get(&sim, &t, &path).await.json()["data"]["status"],
        "isolated"
    );
}

#[tokio::test]
async fn unavailable_isolation_is_refused_and_console_isolations_say_who() {
    let sim = start(quiet(1)).await;
    let t = sim.tenants()[0].clone();
    let (a, b) = (t.computers[0].clone(), t.computers[1].clone());
    let off = ConsoleAction {
        isolation_available: Some(false),
        ..ConsoleAction::default()
    };
    sim.console(&t.name, &a.guid, off).expect("policy");
    let path = format!("/v1/computers/{}/isolation", a.guid);
    let v = get(&sim, &t, &path).await.json();
    assert_eq!(v["data"]["available"], false);
    let r = call(&sim, Some(&t), Method::OPTIONS, &path, None).await;
    assert_eq!(r.header("allow").as_deref(), Some("OPTIONS, GET"));
    let r = call(&sim, Some(&t), Method::PUT, &path, Some("{}")).await;
    let details = assert_error_envelope(&r, 409, "Conflict");
    assert!(details[0].contains("not available"), "{details:?}");

    let by_hand = ConsoleAction {
        isolate: Some("analyst hold".into()),
        user: Some("jane@example.com".into()),
        ..ConsoleAction::default()
    };
    sim.console(&t.name, &b.guid, by_hand)
        .expect("isolated by hand");
    let v = get(&sim, &t, &format!("/v1/computers/{}/isolation", b.guid))
        .await
        .json();
    assert_eq!(v["data"]["status"], "isolated");
    assert_eq!(v["data"]["comment"], "analyst hold");
    assert_eq!(v["data"]["isolated_by"], "jane@example.com");
    // The control route does the same for scripts.
    let r = reqwest::Client::new()
        .put(format!(
            "{}/_sim/tenants/{}/computers/{}",
            sim.base_url(),
            t.name,
            b.guid
        ))
        .body(r#"{"unisolate": true}"#)
        .send()
        .await
        .expect("control route");
    assert_eq!(r.status(), 200);
    let v = get(&sim, &t, &format!("/v1/computers/{}/isolation", b.guid))
        .await
        .json();
    assert_eq!(v["data"]["status"], "not_isolated");
}

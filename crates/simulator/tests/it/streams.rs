//! Event Streams against the real RabbitMQ on this machine: the REST shapes and limits, and
//! the messages a stream's own broker user receives (exchange, routing key, CC header,
//! properties, body byte-identical to the `/v1/events` item).

use std::time::Duration;

use crate::common::*;
use futures::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use simulator::{AmqpConfig, SimConfig, SimHandle, TenantInfo};

fn amqp_url() -> String {
    std::env::var("SEBRIDGE_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

async fn sim_with_streams(tenants: usize) -> SimHandle {
    simulator::start(SimConfig {
        amqp: Some(AmqpConfig::local(amqp_url())),
        ..quiet(tenants)
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "simulator with event streams needs RabbitMQ at {} and rabbitmqctl (root): {e}",
            amqp_url()
        )
    })
}

async fn create(sim: &SimHandle, t: &TenantInfo, body: Value) -> Resp {
    call(
        sim,
        Some(t),
        Method::POST,
        "/v1/event_streams",
        Some(&body.to_string()),
    )
    .await
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Consumes up to `n` messages as the stream's own user, acking them.
async fn consume(creds: &Value, n: usize, limit: Duration) -> Vec<lapin::message::Delivery> {
    let url = format!(
        "amqp://{}:{}@{}:{}/%2f",
        creds["user_name"].as_str().unwrap(),
        creds["password"].as_str().unwrap(),
        creds["host"].as_str().unwrap(),
        creds["port"].as_str().unwrap()
    );
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("the stream user can log in");
    let ch = conn.create_channel().await.unwrap();
    let queue = creds["queue_name"].as_str().unwrap();
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            passive: true,
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("passive declare of its own queue");
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("the stream user may consume its queue");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(d))) => {
                ch.basic_ack(d.delivery_tag, BasicAckOptions::default())
                    .await
                    .unwrap();
                out.push(d);
            }
            _ => break,
        }
    }
    let _ = conn.close(200, "bye".into()).await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_lifecycle_has_the_real_shapes_and_limits() {
    let sim = sim_with_streams(1).await;
    let t = sim.tenants().remove(0);
    let r = create(&sim, &t, serde_json::json!({"name": "siem"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let v = r.json();
    let data = &v["data"];
    let id = data["id"].as_u64().unwrap();
    let c = &data["amqp_credentials"];
    assert_eq!(data["name"], "siem");
    assert_eq!(c["queue_name"], format!("event_stream_{id}"));
    let user = c["user_name"].as_str().unwrap();
    let (uid, hex) = user.split_once('-').unwrap();
    assert_eq!(uid, id.to_string());
    assert!(is_hex(hex, 20), "{user}");
    assert!(is_hex(c["password"].as_str().unwrap(), 40));
    assert!(
        c["port"].is_string(),
        "port is a string, as the API sends it"
    );
    assert_eq!(v["version"], "v1.2.0");

    // GET: no password; plural filter names.
    let list = call(&sim, Some(&t), Method::GET, "/v1/event_streams", None)
        .await
        .json();
    let item = &list["data"][0];
    assert_eq!(item["id"], id);
    assert!(item["amqp_credentials"].get("password").is_none());
    assert_eq!(item["event_types"], serde_json::json!([]));
    assert_eq!(item["group_guids"], serde_json::json!([]));
    let one = call(
        &sim,
        Some(&t),
        Method::GET,
        &format!("/v1/event_streams/{id}"),
        None,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);

    // PATCH the filters.
    let r = call(
        &sim,
        Some(&t),
        Method::PATCH,
        &format!("/v1/event_streams/{id}"),
        Some(r#"{"name":"threats","event_type":[1090519054]}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.json()["data"]["event_types"],
        serde_json::json!([1090519054])
    );

    // Four more fit; the sixth is refused with the error envelope.
    for i in 0..4 {
        let r = create(&sim, &t, serde_json::json!({"name": format!("s{i}")})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = create(&sim, &t, serde_json::json!({"name": "sixth"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let details = r.json()["errors"][0]["details"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(details.contains("at most 5"), "{details}");
    assert_eq!(sim.event_streams().len(), 5);

    // Bad input is a 400 naming the problem.
    let r = create(
        &sim,
        &t,
        serde_json::json!({"name": "x", "event_type": [42]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("not a known event type"), "{}", r.text);

    // DELETE; then the id is "not found" as a 400, like the real API.
    let r = call(
        &sim,
        Some(&t),
        Method::DELETE,
        &format!("/v1/event_streams/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = call(
        &sim,
        Some(&t),
        Method::GET,
        &format!("/v1/event_streams/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["errors"][0]["details"][0],
        "Event stream not found"
    );
    // The queue is gone from the broker.
    let conn = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let gone = ch
        .queue_declare(
            format!("event_stream_{id}").as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await;
    assert!(gone.is_err(), "queue of a deleted stream still exists");
    // Stream calls are counted apart (tests bound how often a consumer asks about its stream).
    let stats = sim.stats();
    let by_path = &stats.tenant(&t.name).unwrap().by_path;
    assert_eq!(by_path["event_streams"], 12, "{by_path:?}");
    assert_eq!(by_path["other"], 0, "{by_path:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_messages_match_the_real_deliveries_and_filters() {
    let sim = sim_with_streams(2).await;
    let t = sim.tenant("tenant-1").unwrap();
    let all = create(&sim, &t, serde_json::json!({"name": "all"}))
        .await
        .json();
    let group = t.groups[0].guid.clone();
    let filtered = create(
        &sim,
        &t,
        serde_json::json!({"name": "f", "event_type": [1090519054], "group_guid": [group]}),
    )
    .await
    .json();
    // Events of another tenant never reach this tenant's streams.
    sim.generate_events("tenant-2", 20, None).unwrap();
    let made = sim.generate_events("tenant-1", 300, None).unwrap();
    assert!(sim.flush_streams(Duration::from_secs(20)).await);

    let got = consume(
        &all["data"]["amqp_credentials"],
        400,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(got.len(), made.len(), "every event of the tenant, once");
    let texts = sim.all_event_texts("tenant-1").unwrap();
    let org = t.org_guid.clone();
    for d in &got {
        let body = std::str::from_utf8(&d.data).unwrap();
        assert!(
            texts.iter().any(|x| x == body),
            "body is byte-identical to a /v1/events item"
        );
        let ev: Value = serde_json::from_str(body).unwrap();
        let rk = format!(
            "{org}.{}.{}",
            ev["computer"]["connector_guid"].as_str().unwrap(),
            ev["event_type_id"]
        );
        assert_eq!(d.exchange.as_str(), "events_api_stream");
        assert_eq!(d.routing_key.as_str(), rk);
        let p = &d.properties;
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/octet-stream")
        );
        assert_eq!(*p.delivery_mode(), Some(2));
        assert_eq!(*p.priority(), Some(0));
        let cc = p
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("CC").cloned())
            .expect("CC header");
        let AMQPValue::FieldArray(cc) = cc else {
            panic!("CC is an array")
        };
        let g = ev["group_guids"][0].as_str().unwrap();
        assert!(
            matches!(&cc.as_slice()[0], AMQPValue::LongString(s) if s.to_string() == format!("{rk}.{g}"))
        );
    }
    let expected = made
        .iter()
        .filter(|e| {
            e["event_type_id"] == 1090519054
                && e["group_guids"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == group.as_str()))
        })
        .count();
    let got = consume(
        &filtered["data"]["amqp_credentials"],
        400,
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(
        got.len(),
        expected,
        "the filtered stream carries only its type and group"
    );
    for d in &got {
        let ev: Value = serde_json::from_slice(&d.data).unwrap();
        assert_eq!(ev["event_type_id"], 1090519054);
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_user_can_read_only_its_own_queue() {
    let sim = sim_with_streams(1).await;
    let t = sim.tenants().remove(0);
    let a = create(&sim, &t, serde_json::json!({"name": "a"}))
        .await
        .json();
    let b = create(&sim, &t, serde_json::json!({"name": "b"}))
        .await
        .json();
    let ca = &a["data"]["amqp_credentials"];
    let url = format!(
        "amqp://{}:{}@127.0.0.1:{}/%2f",
        ca["user_name"].as_str().unwrap(),
        ca["password"].as_str().unwrap(),
        ca["port"].as_str().unwrap()
    );
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let other = b["data"]["amqp_credentials"]["queue_name"]
        .as_str()
        .unwrap();
    let refused = ch
        .basic_consume(
            other.into(),
            "x".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    assert!(
        refused.is_err(),
        "stream A's user consumed stream B's queue"
    );
    // A wrong password is refused at login.
    let bad = url.replace(ca["password"].as_str().unwrap(), "0000");
    assert!(Connection::connect(&bad, ConnectionProperties::default())
        .await
        .is_err());
    let _ = conn.close(200, "bye".into()).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_created_from_form_data_too() {
    let sim = sim_with_streams(1).await;
    let t = sim.tenants().remove(0);
    let group = t.groups[0].guid.clone();
    // As curl -d sends it: repeated `event_type[]`, a group, the name.
    let body = format!(
        "name=form+stream&event_type%5B%5D=1090519054&event_type[]=553648147&group_guid[]={group}"
    );
    let resp = http()
        .post(format!("{}/v1/event_streams", sim.base_url()))
        .basic_auth(&t.client_id, Some(&t.api_key))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.expect("JSON");
    let id = created["data"]["id"].as_u64().expect("id");
    assert_eq!(created["data"]["name"], "form stream");
    let one = call(
        &sim,
        Some(&t),
        Method::GET,
        &format!("/v1/event_streams/{id}"),
        None,
    )
    .await
    .json();
    assert_eq!(
        one["data"]["event_types"],
        serde_json::json!([1090519054, 553648147])
    );
    assert_eq!(one["data"]["group_guids"], serde_json::json!([group]));
    // A form value that is not an event type id is refused as in JSON.
    let bad = http()
        .post(format!("{}/v1/event_streams", sim.base_url()))
        .basic_auth(&t.client_id, Some(&t.api_key))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=x&event_type[]=threats")
        .send()
        .await
        .expect("request sent");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let text = bad.text().await.unwrap_or_default();
    assert!(text.contains("not a known event type id"), "{text}");
    sim.shutdown().await;
}

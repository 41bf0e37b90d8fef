//! The SIEM receivers answer as the real services do (status codes and bodies from the
//! protocol facts), independently of sebridge's clients.

use serde_json::{json, Value};
use simulator::receivers::{elastic, hec};
use std::io::Write as _;

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

async fn post(url: &str, auth: Option<&str>, body: Vec<u8>, gzip: bool) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url).body(body);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn hec_auth_batches_codes_and_acks() {
    let r = hec::start(hec::HecConfig {
        ack: true,
        allowed_indexes: vec!["main".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("{}/services/collector/event", r.url());
    let token = format!("Splunk {}", r.token());
    let body = b"{\"event\":{\"a\":1}}{\"event\":\"two\",\"index\":\"main\"}".to_vec();
    assert_eq!(
        post(&url, None, body.clone(), false).await,
        (401, json!({"text":"Token is required","code":2}))
    );
    assert_eq!(
        post(&url, Some("Bearer x"), body.clone(), false).await.1["code"],
        3
    );
    assert_eq!(
        post(&url, Some("Splunk nope"), body.clone(), false).await,
        (403, json!({"text":"Invalid token","code":4}))
    );
    // Ack on: a channel is required.
    assert_eq!(
        post(&url, Some(&token), body.clone(), false).await.1["code"],
        10
    );
    let client = reqwest::Client::new();
    let send = |b: Vec<u8>, gzip: bool| {
        let mut req = client
            .post(&url)
            .header("Authorization", &token)
            .header(
                "X-Splunk-Request-Channel",
                "3b7c5a2e-0000-4000-8000-000000000001",
            )
            .body(b);
        if gzip {
            req = req.header("Content-Encoding", "gzip");
        }
        req.send()
    };
    let resp = send(gz(&body), true).await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["code"].clone(), v["ackId"].clone()),
        (json!(0), json!(0))
    );
    let bad = send(b"{\"event\":1}{\"nope\":".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await.unwrap(),
        json!({"text":"Invalid data format","code":6,"invalid-event-number":1})
    );
    let idx = send(b"{\"event\":1,\"index\":\"other\"}".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(idx.json::<Value>().await.unwrap()["code"], 7);
    let blank = send(b"{\"event\":\"\"}".to_vec(), false).await.unwrap();
    assert_eq!(blank.json::<Value>().await.unwrap()["code"], 13);
    // Ack status: true once, then forgotten.
    let ack = |ids: &str| {
        client
            .post(format!("{}/services/collector/ack", r.url()))
            .header("Authorization", &token)
            .header(
                "X-Splunk-Request-Channel",
                "3b7c5a2e-0000-4000-8000-000000000001",
            )
            .body(ids.to_string())
            .send()
    };
    let v: Value = ack("{\"acks\":[0,7]}").await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"acks":{"0":true,"7":false}}));
    let v: Value = ack("{\"acks\":[0]}").await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"acks":{"0":false}}));
    r.fail_next(1, 503);
    let busy = send(body.clone(), false).await.unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.json::<Value>().await.unwrap()["code"], 9);
    let events = r.events();
    assert_eq!(events.len(), 2, "only the accepted request's events");
    assert_eq!(events[0].event, json!({"a":1}));
    assert_eq!(events[1].index.as_deref(), Some("main"));
    let s = r.stats();
    assert_eq!((s.events, s.gzip_requests, s.injected_failures), (2, 1, 1));
    r.shutdown().await;
}

#[tokio::test]
async fn bulk_items_statuses_auth_and_data_stream_rules() {
    let r = elastic::start(elastic::ElasticConfig::default())
        .await
        .unwrap();
    let key = format!(
        "ApiKey {}",
        elastic::ElasticConfig::default().api_key.unwrap()
    );
    let url = format!("{}/logs-x-default/_bulk", r.url());
    let body = b"{\"create\":{\"_id\":\"a\"}}\n{\"f\":1}\n{\"index\":{\"_id\":\"b\"}}\n{\"f\":2}\n{\"create\":{\"_id\":\"a\"}}\n{\"f\":3}\n".to_vec();
    let (status, v) = post(&url, None, body.clone(), false).await;
    assert_eq!(
        (status, v["error"]["type"].clone()),
        (401, json!("security_exception"))
    );
    let (status, v) = post(&url, Some(&key), gz(&body), true).await;
    assert_eq!(status, 200);
    assert_eq!(v["errors"], true);
    let items = v["items"].as_array().unwrap();
    assert_eq!(items[0]["create"]["status"], 201);
    assert_eq!(
        items[1]["index"]["status"], 400,
        "data streams take create ops only"
    );
    assert_eq!(items[2]["create"]["status"], 409);
    assert_eq!(
        items[2]["create"]["error"]["type"],
        "version_conflict_engine_exception"
    );
    r.fail_next_items(1, 429);
    r.fail_next_requests(1, 429);
    let (status, v) = post(
        &url,
        Some(&key),
        b"{\"create\":{\"_id\":\"c\"}}\n{}\n".to_vec(),
        false,
    )
    .await;
    assert_eq!(
        (status, v["error"]["type"].clone()),
        (429, json!("es_rejected_execution_exception"))
    );
    let (_, v) = post(
        &url,
        Some(&key),
        b"{\"create\":{\"_id\":\"c\"}}\n{}\n{\"create\":{\"_id\":\"d\"}}\n{}\n".to_vec(),
        false,
    )
    .await;
    assert_eq!(v["items"][0]["create"]["status"], 429);
    assert_eq!(v["items"][1]["create"]["status"], 201);
    assert_eq!(r.count("logs-x-default"), 2);
    assert_eq!(
        r.docs("logs-x-default")[0],
        ("a".to_string(), json!({"f":1}))
    );
    r.shutdown().await;
}

//! The Sentinel receiver answers as Microsoft Entra ID and the Logs Ingestion API do (status
//! codes and bodies from Microsoft's documentation), independently of sebridge's sink.

use serde_json::{json, Value};
use simulator::receivers::sentinel::{
    self, SentinelConfig, API_VERSION, CONNECTOR_STREAM, SCOPE, TABLE_STREAM,
};
use std::io::Write as _;
use std::time::Duration;

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

async fn token(r: &sentinel::SentinelReceiver, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(r.token_url())
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn grant<'a>(c: &'a SentinelConfig, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("scope", scope),
    ]
}

async fn ingest(
    r: &sentinel::SentinelReceiver,
    path: &str,
    bearer: Option<&str>,
    body: Vec<u8>,
    gzip: bool,
) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", r.url()))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, retry_after, v)
}

#[tokio::test]
async fn entra_token_endpoint_grants_and_refuses_like_entra() {
    let r = sentinel::start(Default::default()).await.unwrap();
    let c = r.config().clone();
    let (status, v) = token(&r, &grant(&c, SCOPE)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    assert!(v["access_token"].as_str().unwrap().len() > 20);
    // A wrong secret: 401 invalid_client, AADSTS7000215.
    let mut f = grant(&c, SCOPE);
    f[2].1 = "not-the-secret";
    let (status, v) = token(&r, &f).await;
    assert_eq!((status, v["error"].clone()), (401, json!("invalid_client")));
    assert_eq!(v["error_codes"], json!([7000215]));
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215: Invalid client secret provided."));
    // No secret, another grant, an unknown app, a scope without /.default, another tenant.
    f.remove(2);
    assert_eq!(token(&r, &f).await.1["error_codes"], json!([7000216]));
    let mut f = grant(&c, SCOPE);
    f[0].1 = "password";
    assert_eq!(token(&r, &f).await.1["error"], "unsupported_grant_type");
    let mut f = grant(&c, SCOPE);
    f[1].1 = "00000000-0000-0000-0000-000000000000";
    let (status, v) = token(&r, &f).await;
    assert_eq!(
        (status, v["error"].clone()),
        (400, json!("unauthorized_client"))
    );
    let (status, v) = token(&r, &grant(&c, "https://monitor.azure.com")).await;
    assert_eq!((status, v["error"].clone()), (400, json!("invalid_scope")));
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/contoso.onmicrosoft.com/oauth2/v2.0/token",
            r.url()
        ))
        .form(&grant(&c, SCOPE))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error_codes"], json!([90002]));
    let stats = r.stats();
    assert_eq!((stats.tokens_issued, stats.token_refusals), (1, 6));
    r.shutdown().await;
}

#[tokio::test]
async fn logs_ingestion_checks_the_call_and_keeps_declared_columns() {
    let r = sentinel::start(SentinelConfig {
        token_lifetime: Duration::from_secs(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = r.config().clone();
    let t = token(&r, &grant(&c, SCOPE)).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let path = |stream: &str| {
        format!(
            "/dataCollectionRules/{}/streams/{stream}?api-version={API_VERSION}",
            c.dcr_immutable_id
        )
    };
    let rows = json!([{"id": 1, "event_type": "Threat Detected", "computer": {"hostname": "h"}, "extra": 1}]);
    let body = serde_json::to_vec(&rows).unwrap();
    // Accepted, gzipped: 204 without a body; `extra` is not declared and is dropped.
    let (status, _, v) = ingest(&r, &path(CONNECTOR_STREAM), Some(&t), gz(&body), true).await;
    assert_eq!((status, v), (204, Value::Null));
    let kept = r.rows(CONNECTOR_STREAM);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["computer"]["hostname"], "h");
    assert!(!kept[0].contains_key("extra"));
    assert!(r.unknown_columns().contains("extra"));
    // The table's stream declares the table's columns.
    let table = serde_json::to_vec(&json!([{"Id": 2, "ComputerHostname": "h"}])).unwrap();
    assert_eq!(
        ingest(&r, &path(TABLE_STREAM), Some(&t), table, false)
            .await
            .0,
        204
    );
    // Refusals, with the API's error shape.
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or_default().to_string();
    let (s, _, v) = ingest(&r, &path(CONNECTOR_STREAM), None, body.clone(), false).await;
    assert_eq!((s, code(&v)), (401, "AuthenticationFailed".into()));
    let (s, _, v) = ingest(
        &r,
        &path(CONNECTOR_STREAM),
        Some("forged"),
        body.clone(),
        false,
    )
    .await;
    assert_eq!((s, code(&v)), (401, "InvalidAuthenticationToken".into()));
    let bad_version = path(CONNECTOR_STREAM).replace(API_VERSION, "2020-01-01");
    let (s, _, v) = ingest(&r, &bad_version, Some(&t), body.clone(), false).await;
    assert_eq!((s, code(&v)), (400, "InvalidApiVersionParameter".into()));
    let other_dcr =
        path(CONNECTOR_STREAM).replace(&c.dcr_immutable_id, "dcr-00000000000000000000000000000000");
    let (s, _, v) = ingest(&r, &other_dcr, Some(&t), body.clone(), false).await;
    assert_eq!((s, code(&v)), (404, "NotFound".into()));
    let (s, _, v) = ingest(&r, &path("Custom-Other_CL"), Some(&t), body.clone(), false).await;
    assert_eq!((s, code(&v)), (400, "InvalidStream".into()));
    let (s, _, v) = ingest(
        &r,
        &path(CONNECTOR_STREAM),
        Some(&t),
        b"{\"a\":1}".to_vec(),
        false,
    )
    .await;
    assert_eq!((s, code(&v)), (400, "InvalidPayload".into()));
    // Over 1 MB uncompressed, even when the gzipped body is small.
    let big = format!("[{{\"detection\":\"{}\"}}]", "x".repeat(1_100_000));
    let (s, _, v) = ingest(
        &r,
        &path(CONNECTOR_STREAM),
        Some(&t),
        gz(big.as_bytes()),
        true,
    )
    .await;
    assert_eq!((s, code(&v)), (413, "ContentLengthLimitExceeded".into()));
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Maximum allowed content length: 1048576 bytes (1 MB)."));
    // Missing role, injected throttling with Retry-After.
    r.set_forbidden(true);
    let (s, _, v) = ingest(&r, &path(CONNECTOR_STREAM), Some(&t), body.clone(), false).await;
    assert_eq!((s, code(&v)), (403, "OperationFailed".into()));
    r.set_forbidden(false);
    r.fail_next(1, 429, Some(7));
    let (s, after, v) = ingest(&r, &path(CONNECTOR_STREAM), Some(&t), body.clone(), false).await;
    assert_eq!(
        (s, after.as_deref(), code(&v)),
        (429, Some("7"), "TooManyRequests".into())
    );
    // An expired token.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, _, v) = ingest(&r, &path(CONNECTOR_STREAM), Some(&t), body.clone(), false).await;
    assert_eq!(s, 401, "{v}");
    // A token for another resource is not one for this API.
    let other = token(&r, &grant(&c, "https://management.azure.com/.default"))
        .await
        .1;
    let (s, _, v) = ingest(
        &r,
        &path(CONNECTOR_STREAM),
        other["access_token"].as_str(),
        body,
        false,
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (401, "InvalidAuthenticationTokenAudience".into())
    );
    let stats = r.stats();
    assert_eq!(stats.rows, 2);
    assert_eq!(stats.accepted_requests, 2);
    assert_eq!(stats.gzip_requests, 2);
    assert_eq!(stats.dropped_columns, 1);
    r.shutdown().await;
}

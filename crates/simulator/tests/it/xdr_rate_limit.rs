//! XDR's per-organisation rate limit over raw HTTP: `X-Ratelimit-Org-Limit` on every
//! answer, 429 with `Retry-After` over the budget, nothing created by a refused request.

use crate::common::*;
use serde_json::Value;
use simulator::SimConfig;
use std::time::Duration;

#[tokio::test]
async fn over_the_organisation_budget_xdr_answers_429_with_retry_after() {
    let sim = start(SimConfig {
        xdr_rate_limit: 3,
        xdr_rate_limit_window: Duration::from_secs(2),
        ..quiet(1)
    })
    .await;
    let i = sim.integrations().xdr;
    let http = http();
    let token = |http: reqwest::Client| {
        let i = i.clone();
        async move {
            let v: Value = http
                .post(format!("{}/iroh/oauth2/token", i.base_url))
                .basic_auth(&i.client_id, Some(&i.client_password))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["access_token"].as_str().unwrap().to_string()
        }
    };
    let tok = token(http.clone()).await;
    let search = format!("{}/ctia/incident/search", i.base_url);
    for _ in 0..3 {
        let r = http.get(&search).bearer_auth(&tok).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ratelimit-org-limit"], "3");
        assert!(r.headers().get("retry-after").is_none());
    }
    // Tokens are IROH's, not counted; the fourth CTIA request is over the budget.
    let tok = token(http.clone()).await;
    let incident = serde_json::json!({
        "confidence": "High", "status": "New",
        "incident_time": {"opened": "2024-05-01T10:15:02.000Z"},
        "external_ids": ["rate-limited-1"],
    });
    let r = http
        .post(format!("{}/ctia/incident", i.base_url))
        .bearer_auth(&tok)
        .json(&incident)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-ratelimit-org-limit"], "3");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("Rate limit"),
        "{body}"
    );
    assert!(
        sim.xdr_incidents().is_empty(),
        "a refused create stores nothing"
    );

    // Once the announced wait has passed, the same request is accepted.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let r = http
        .post(format!("{}/ctia/incident", i.base_url))
        .bearer_auth(&tok)
        .json(&incident)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(sim.xdr_incidents().len(), 1);

    // The request log has every CTIA request, the 429 with its Retry-After.
    let log = sim.xdr_requests();
    assert_eq!(log.len(), 5, "{log:?}");
    assert_eq!(
        log.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 200, 200, 429, 201]
    );
    assert_eq!(log[3].retry_after, Some(retry));
    assert_eq!(
        (log[3].method.as_str(), log[3].path.as_str()),
        ("POST", "/ctia/incident")
    );
    assert!(log[4].at_ms >= log[3].at_ms + retry * 1000 - 50);

    // The budget can be changed by the control route; the window restarts empty.
    let r = http
        .put(format!("{}/_sim/xdr/rate_limit", sim.base_url()))
        .body(r#"{"limit": 8000, "window_secs": 3600}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(&search).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(r.headers()["x-ratelimit-org-limit"], "8000");
    let r = http
        .get(format!("{}/_sim/xdr/requests", sim.base_url()))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v.as_array().unwrap().len(), 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_documented_budget_is_the_default() {
    let sim = start(quiet(1)).await;
    let i = sim.integrations().xdr;
    // Even an unauthenticated CTIA answer says the organisation's limit.
    let r = http()
        .get(format!("{}/ctia/incident/search", i.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-ratelimit-org-limit"], "8000");
    assert!(sim.set_xdr_rate_limit(1, Duration::ZERO).is_err());
    sim.shutdown().await;
}

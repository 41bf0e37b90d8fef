//! The `/v1` API over real HTTP: paging, order, filters, errors, computers, groups,
//! isolation.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn paging_matches_the_real_api() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    sim.generate_events(&t.name, 1203, None).unwrap();
    let all = sim.all_event_ids(&t.name).unwrap();
    assert_eq!(all.len(), 1203);

    // Page 1: default limit 500, next present, prev absent.
    let r = get(&sim, t, "/v1/events").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
    let v = r.json();
    assert_eq!(v["version"], "v1.2.0");
    let base = sim.base_url();
    assert_eq!(v["metadata"]["links"]["self"], format!("{base}/v1/events"));
    assert_eq!(
        v["metadata"]["links"]["next"],
        format!("{base}/v1/events?limit=500&offset=500")
    );
    assert!(v["metadata"]["links"].get("prev").is_none());
    assert_eq!(
        v["metadata"]["results"],
        json!({"total":1203,"current_item_count":500,"index":0,"items_per_page":500})
    );
    let mut seen = page_ids(&v);

    // Follow `next` literally until it disappears.
    let mut next = v["metadata"]["links"]["next"].as_str().map(str::to_string);
    let mut pages = 1;
    let mut last = v;
    while let Some(url) = next {
        let r = get(&sim, t, &url).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["metadata"]["links"]["self"], url.as_str());
        assert!(v["metadata"]["links"]["prev"].is_string());
        seen.extend(page_ids(&v));
        next = v["metadata"]["links"]["next"].as_str().map(str::to_string);
        pages += 1;
        last = v;
    }
    assert_eq!(pages, 3);
    assert_eq!(
        last["metadata"]["results"],
        json!({"total":1203,"current_item_count":203,"index":1000,"items_per_page":500})
    );
    // The last page has no `next` key at all (not null).
    assert!(last["metadata"]["links"].get("next").is_none());
    assert_eq!(
        last["metadata"]["links"]["prev"],
        format!("{base}/v1/events?limit=500&offset=500")
    );
    assert_eq!(
        seen, all,
        "pages concatenate to the whole store, newest first"
    );

    // Past the end: empty data, total still reported, prev present.
    let v = get(&sim, t, "/v1/events?offset=5000&limit=10").await.json();
    assert_eq!(v["data"], json!([]));
    assert_eq!(v["metadata"]["results"]["total"], 1203);
    assert_eq!(v["metadata"]["results"]["current_item_count"], 0);
    assert!(v["metadata"]["links"].get("next").is_none());
    assert_eq!(
        v["metadata"]["links"]["prev"],
        format!("{base}/v1/events?limit=10&offset=4990")
    );

    // Links keep the caller's other parameters, as sent.
    let v = get(
        &sim,
        t,
        "/v1/events?event_type[]=553648130&limit=1&offset=1",
    )
    .await
    .json();
    let next = v["metadata"]["links"]["next"].as_str().unwrap_or_default();
    assert_eq!(
        next,
        format!("{base}/v1/events?event_type[]=553648130&limit=1&offset=2")
    );
    assert_eq!(
        v["metadata"]["links"]["prev"],
        format!("{base}/v1/events?event_type[]=553648130&limit=1&offset=0")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn empty_store_returns_empty_data() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    let v = get(&sim, t, "/v1/events?limit=100").await.json();
    assert_eq!(v["data"], json!([]));
    assert_eq!(
        v["metadata"]["results"],
        json!({"total":0,"current_item_count":0,"index":0,"items_per_page":100})
    );
    assert!(v["metadata"]["links"].get("next").is_none());
    assert!(v["metadata"]["links"].get("prev").is_none());
}

#[tokio::test]
async fn newest_first_with_ties_by_nanoseconds_then_insertion() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    sim.generate_events(&t.name, 40, Some(at)).unwrap();
    sim.generate_events(&t.name, 300, None).unwrap();
    // Two events with the same (timestamp, nanoseconds): the later insertion comes first.
    sim.insert_raw_events(
        &t.name,
        vec![
            raw_event(1 << 62, 1_600_000_000, 5, 553648130),
            raw_event((1 << 62) + 1, 1_600_000_000, 5, 553648130),
        ],
    )
    .unwrap();
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for off in (0..342).step_by(100) {
        let v = get(&sim, t, &format!("/v1/events?limit=100&offset={off}"))
            .await
            .json();
        keys.extend(page_keys(&v));
        ids.extend(page_ids(&v));
    }
    assert_eq!(keys.len(), 342);
    assert!(keys.windows(2).all(|w| w[0] >= w[1]), "non-increasing");
    assert_eq!(keys.iter().filter(|k| k.0 == 1_700_000_000).count(), 40);
    assert_eq!(ids[340], Some((1 << 62) + 1));
    assert_eq!(ids[341], Some(1 << 62));
}

#[tokio::test]
async fn start_date_is_inclusive_at_second_precision() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    let s = 1_610_618_799; // 2021-01-14T10:06:39Z
    sim.insert_raw_events(
        &t.name,
        vec![
            raw_event(1, s - 2, 0, 1),
            raw_event(2, s - 1, 999_999_999, 1),
            raw_event(3, s, 0, 1),
            raw_event(4, s, 5, 1),
            raw_event(5, s + 1, 0, 1),
        ],
    )
    .unwrap();
    let total = |v: &Value| v["metadata"]["results"]["total"].as_u64();
    for q in [
        // A literal `+` arrives as a space after form decoding and must still parse.
        "start_date=2021-01-14T10:06:39+00:00",
        "start_date=2021-01-14T10:06:39%2B00:00",
        "start_date=2021-01-14T10:06:39Z",
        "start_date=2021-01-14T10:06:39.750Z",
        "start_date=2021-01-14T11:06:39%2B01:00",
    ] {
        let v = get(&sim, t, &format!("/v1/events?{q}")).await.json();
        assert_eq!(total(&v), Some(3), "{q}");
        assert_eq!(page_ids(&v), vec![Some(5), Some(4), Some(3)], "{q}");
    }
    let v = get(&sim, t, "/v1/events?start_date=2030-01-01T00:00:00Z")
        .await
        .json();
    assert_eq!(v["data"], json!([]));
    // start_date combines with paging and keeps itself in the links.
    let v = get(
        &sim,
        t,
        "/v1/events?start_date=2021-01-14T10:06:38%2B00:00&limit=2",
    )
    .await
    .json();
    assert_eq!(total(&v), Some(4));
    assert_eq!(
        v["metadata"]["links"]["next"],
        format!(
            "{}/v1/events?start_date=2021-01-14T10:06:38%2B00:00&limit=2&offset=2",
            sim.base_url()
        )
    );
    let r = get(&sim, t, "/v1/events?start_date=yesterday").await;
    let details = assert_error_envelope(&r, 400, "Bad Request");
    assert!(
        details.iter().any(|d| d.contains("start_date")),
        "{details:?}"
    );
}

#[tokio::test]
async fn filters_are_or_within_and_across() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    let ev = |id: u64, ty: u32, conn: &str, group: &str, sha: &str, parent: &str| {
        format!(
            r#"{{"id":{id},"timestamp":{},"timestamp_nanoseconds":0,"event_type_id":{ty},"connector_guid":"{conn}","group_guids":["{group}"],"file":{{"identity":{{"sha256":"{sha}"}},"parent":{{"identity":{{"sha256":"{parent}"}}}}}}}}"#,
            1_700_000_000 + id as i64
        )
    };
    let (a, b) = ("a".repeat(64), "B".repeat(64));
    sim.insert_raw_events(
        &t.name,
        vec![
            ev(1, 100, "c-x", "g-1", &a, &b),
            ev(2, 200, "c-x", "g-2", &b, &a),
            ev(3, 300, "c-y", "g-1", &a, &a),
            ev(4, 100, "c-y", "g-2", &b, &b),
        ],
    )
    .unwrap();
    let ids = |q: String| query_ids(&sim, t, q);
    assert_eq!(ids("event_type[]=100".into()).await, vec![4, 1]);
    assert_eq!(
        ids("event_type[]=100&event_type[]=300".into()).await,
        vec![4, 3, 1]
    );
    assert_eq!(
        ids("event_type=200".into()).await,
        vec![2],
        "bare form accepted"
    );
    assert_eq!(
        ids("event_type[]=100&event_type[]=300&connector_guid[]=c-x".into()).await,
        vec![1]
    );
    assert_eq!(
        ids("connector_guid[]=c-x&connector_guid[]=c-y&group_guid[]=g-2".into()).await,
        vec![4, 2]
    );
    assert_eq!(ids(format!("detection_sha256={a}")).await, vec![3, 1]);
    assert_eq!(
        ids(format!("application_sha256={}", b.to_lowercase())).await,
        vec![4, 1],
        "hash match is case-insensitive"
    );
    assert!(ids(format!("detection_sha256={a}&group_guid[]=g-2"))
        .await
        .is_empty());
    assert_eq!(
        ids("start_date=2023-11-14T22:13:23Z&event_type[]=100".into()).await,
        vec![4],
        "filters combine with start_date"
    );
}

async fn query_ids(sim: &simulator::SimHandle, t: &simulator::TenantInfo, q: String) -> Vec<u64> {
    let r = get(sim, t, &format!("/v1/events?{q}")).await;
    assert_eq!(r.status, 200, "{q}: {}", r.text);
    let v = r.json();
    assert_eq!(
        v["metadata"]["results"]["total"].as_u64(),
        Some(v["data"].as_array().map(|a| a.len() as u64).unwrap_or(0))
    );
    page_ids(&v).into_iter().map(|i| i.unwrap_or(0)).collect()
}

#[tokio::test]
async fn limit_is_clamped_and_bad_parameters_are_400() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    sim.generate_events(&t.name, 600, None).unwrap();
    let v = get(&sim, t, "/v1/events?limit=1000").await.json();
    assert_eq!(v["metadata"]["results"]["items_per_page"], 500);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(500));

    for (q, name) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("event_type[]=abc", "event_type[]"),
        ("foo=bar", "foo"),
        ("limit=10&end_date=2021-01-01", "end_date"),
    ] {
        let r = get(&sim, t, &format!("/v1/events?{q}")).await;
        let details = assert_error_envelope(&r, 400, "Bad Request");
        assert!(details.iter().any(|d| d.contains(name)), "{q}: {details:?}");
        let v = r.json();
        assert_eq!(
            v["metadata"]["links"]["self"],
            format!("{}/v1/events?{q}", sim.base_url())
        );
    }
    for q in [
        "/v1/computers?bogus=1",
        "/v1/groups?limit=0",
        "/v1/event_types?limit=5",
        "/v1/version?x=1",
    ] {
        let r = get(&sim, t, q).await;
        assert_error_envelope(&r, 400, "Bad Request");
    }
}

#[tokio::test]
async fn unauthorized_requests_get_the_401_envelope() {
    let sim = start(quiet(2)).await;
    let ts = sim.tenants();
    let r = call(&sim, None, Method::GET, "/v1/events", None).await;
    let details = assert_error_envelope(&r, 401, "Unauthorized");
    assert_eq!(details, vec!["Unknown API key or Client ID".to_string()]);
    assert!(r.header("x-ratelimit-limit").is_some());

    // Right client id, other tenant's key.
    let mixed = simulator::TenantInfo {
        api_key: ts[1].api_key.clone(),
        ..ts[0].clone()
    };
    let r = get(&sim, &mixed, "/v1/version").await;
    assert_error_envelope(&r, 401, "Unauthorized");
    let r = http()
        .get(format!("{}/v1/version", sim.base_url()))
        .header("authorization", "Bearer abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let stats = sim.stats();
    assert_eq!(stats.unauthorized, 3);
    assert!(stats.tenants.iter().all(|t| t.requests == 0));
}

#[tokio::test]
async fn version_event_types_and_unknown_paths() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    let v = get(&sim, t, "/v1/version").await.json();
    assert_eq!(v["data"]["version"], "v1.2.0");
    assert_eq!(
        v["metadata"]["links"]["self"],
        format!("{}/v1/version", sim.base_url())
    );

    let v = get(&sim, t, "/v1/event_types").await.json();
    let data = v["data"].as_array().unwrap();
    assert_eq!(v["metadata"]["results"], json!({"total": data.len()}));
    assert_eq!(data.len(), simulator::EVENT_TYPES.len());
    assert!(data.len() > 100);
    let td = data.iter().find(|e| e["id"] == 1090519054).unwrap();
    assert_eq!(
        td,
        &json!({"id":1090519054,"name":"Threat Detected","description":"A threat was found on this system."})
    );
    assert!(data.iter().any(|e| e["id"] == 2164260880u64));

    let r = get(&sim, t, "/v1/nope").await;
    assert_error_envelope(&r, 404, "Not Found");
    let r = get(
        &sim,
        t,
        "/v1/computers/00000000-0000-0000-0000-000000000000",
    )
    .await;
    assert_error_envelope(&r, 404, "Not Found");
    let r = call(&sim, Some(t), Method::POST, "/v1/events", Some("{}")).await;
    assert_error_envelope(&r, 405, "Method Not Allowed");
}

#[tokio::test]
async fn ids_above_2_pow_53_survive_byte_for_byte() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    let big: u64 = 6_533_241_347_137_077_251; // not representable as f64
    sim.insert_raw_events(
        &t.name,
        vec![raw_event(big, 1_610_618_799, 657_000_000, 1090519054)],
    )
    .unwrap();
    sim.generate_events(&t.name, 50, None).unwrap();
    let r = get(&sim, t, "/v1/events?start_date=2021-01-01T00:00:00Z").await;
    assert!(r.text.contains(&format!("\"id\":{big},")));
    let items = page_item_texts(&r.text);
    let last = items.last().unwrap();
    assert!(last.starts_with(&format!("{{\"id\":{big},")), "{last}");
    let v = r.json();
    let ids = page_ids(&v);
    assert_eq!(ids.last().copied().flatten(), Some(big));
    assert!(ids.iter().all(|i| i.is_some_and(|i| i > 1 << 53)));
    assert_eq!(
        sim.all_event_ids(&t.name)
            .unwrap()
            .last()
            .copied()
            .flatten(),
        Some(big)
    );
}

#[tokio::test]
async fn computers_groups_and_event_consistency() {
    let sim = start(quiet(1)).await;
    let t = sim.tenants()[0].clone();
    assert!((5..=50).contains(&t.computers.len()));
    assert!((2..=4).contains(&t.groups.len()));

    let v = get(&sim, &t, "/v1/computers?limit=2").await.json();
    assert_eq!(v["metadata"]["results"]["total"], t.computers.len());
    assert_eq!(v["metadata"]["results"]["items_per_page"], 2);
    assert!(v["metadata"]["links"]["next"].is_string());
    let c0 = &v["data"][0];
    for k in [
        "connector_guid",
        "hostname",
        "windows_processor_id",
        "active",
        "links",
        "connector_version",
        "operating_system",
        "internal_ips",
        "external_ip",
        "group_guid",
        "install_date",
        "network_addresses",
        "policy",
        "last_seen",
        "faults",
        "isolation",
        "orbital",
    ] {
        assert!(c0.get(k).is_some(), "computer lacks {k}: {c0}");
    }
    assert!(c0["install_date"].as_str().unwrap().ends_with('Z'));

    let c = &t.computers[0];
    let v = get(
        &sim,
        &t,
        &format!("/v1/computers?hostname[]={}", c.hostname),
    )
    .await
    .json();
    assert_eq!(v["metadata"]["results"]["total"], 1);
    assert_eq!(v["data"][0]["connector_guid"], c.guid.as_str());
    let ip = v["data"][0]["internal_ips"][0]
        .as_str()
        .unwrap()
        .to_string();
    let v = get(&sim, &t, &format!("/v1/computers?internal_ip={ip}"))
        .await
        .json();
    assert_eq!(v["data"][0]["connector_guid"], c.guid.as_str());
    let v = get(
        &sim,
        &t,
        &format!("/v1/computers?group_guid[]={}", c.group_guid),
    )
    .await
    .json();
    let in_group = t
        .computers
        .iter()
        .filter(|x| x.group_guid == c.group_guid)
        .count();
    assert_eq!(v["metadata"]["results"]["total"], in_group);

    let v = get(&sim, &t, &format!("/v1/computers/{}", c.guid))
        .await
        .json();
    assert_eq!(v["data"]["hostname"], c.hostname.as_str());
    assert_eq!(v["data"]["group_guid"], c.group_guid.as_str());

    // Groups.
    let v = get(&sim, &t, "/v1/groups").await.json();
    assert_eq!(v["metadata"]["results"]["total"], t.groups.len());
    let g0 = &v["data"][0];
    assert_eq!(g0["source"], Value::Null);
    assert_eq!(
        g0["links"]["group"],
        format!(
            "{}/v1/groups/{}",
            sim.base_url(),
            g0["guid"].as_str().unwrap()
        )
    );
    let name = t.groups[1].name.to_lowercase();
    let v = get(&sim, &t, &format!("/v1/groups?name={name}"))
        .await
        .json();
    assert_eq!(v["metadata"]["results"]["total"], 1);
    assert_eq!(v["data"][0]["guid"], t.groups[1].guid.as_str());
    let v = get(&sim, &t, &format!("/v1/groups/{}", t.groups[0].guid))
        .await
        .json();
    assert_eq!(v["data"]["name"], t.groups[0].name.as_str());
    assert!(v["data"]["policies"][0]["guid"].is_string());

    // Events agree with the computers and groups of the tenant.
    let events = sim.generate_events(&t.name, 500, None).unwrap();
    for e in &events {
        let conn = e["connector_guid"].as_str().unwrap();
        let comp = t
            .computers
            .iter()
            .find(|c| c.guid == conn)
            .expect("known computer");
        assert_eq!(e["computer"]["connector_guid"], conn);
        assert_eq!(e["computer"]["hostname"], comp.hostname.as_str());
        assert!(e["computer"]["links"]["group"]
            .as_str()
            .unwrap()
            .ends_with(&comp.group_guid));
        assert!(e["computer"]["links"]["computer"]
            .as_str()
            .unwrap()
            .starts_with(&sim.base_url()));
        if let Some(groups) = e.get("group_guids") {
            assert_eq!(groups, &json!([comp.group_guid]));
        }
    }
}

#[tokio::test]
async fn move_group_changes_later_events() {
    let sim = start(quiet(1)).await;
    let t = sim.tenants()[0].clone();
    let c = &t.computers[0];
    let target = t.groups.iter().find(|g| g.guid != c.group_guid).unwrap();
    let body = json!({"group_guid": target.guid}).to_string();
    let r = call(
        &sim,
        Some(&t),
        Method::PATCH,
        &format!("/v1/computers/{}", c.guid),
        Some(&body),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["data"]["group_guid"], target.guid.as_str());
    assert_eq!(v["data"]["connector_guid"], c.guid.as_str());
    assert_eq!(
        v["data"]["links"]["group"],
        format!("{}/v1/groups/{}", sim.base_url(), target.guid)
    );
    assert_eq!(v["data"]["groups"][0]["name"], target.name.as_str());
    assert_eq!(
        sim.tenant(&t.name).unwrap().computers[0].group_guid,
        target.guid
    );

    let events = sim.generate_events(&t.name, 2000, None).unwrap();
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["connector_guid"] == c.guid.as_str())
        .collect();
    assert!(!mine.is_empty());
    for e in mine {
        if let Some(g) = e.get("group_guids") {
            assert_eq!(g, &json!([target.guid]));
        }
        assert!(e["computer"]["links"]["group"]
            .as_str()
            .unwrap()
            .ends_with(&target.guid));
    }

    let path = format!("/v1/computers/{}", c.guid);
    let r = call(
        &sim,
        Some(&t),
        Method::PATCH,
        &path,
        Some(r#"{"group_guid":"nope"}"#),
    )
    .await;
    assert_error_envelope(&r, 400, "Bad Request");
    let r = call(&sim, Some(&t), Method::PATCH, &path, Some("not json")).await;
    assert_error_envelope(&r, 400, "Bad Request");
    let r = call(
        &sim,
        Some(&t),
        Method::PATCH,
        &path,
        Some(r#"{"name":"x"}"#),
    )
    .await;
    assert_error_envelope(&r, 400, "Bad Request");
    let r = call(
        &sim,
        Some(&t),
        Method::PATCH,
        "/v1/computers/unknown",
        Some(&body),
    )
    .await;
    assert_error_envelope(&r, 404, "Not Found");
}

#[tokio::test]
async fn isolation_lifecycle_and_conflicts() {
    let sim = start(quiet(1)).await;
    let t = sim.tenants()[0].clone();
    let c = &t.computers[1];
    let path = format!("/v1/computers/{}/isolation", c.guid);

    let r = call(&sim, Some(&t), Method::OPTIONS, &path, None).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow").as_deref(), Some("OPTIONS, GET, PUT"));
    assert!(r.header("x-ratelimit-remaining").is_some());

    let v = get(&sim, &t, &path).await.json();
    assert_eq!(
        v["data"],
        json!({"available": true, "status": "not_isolated"})
    );

    let body = r#"{"comment":"suspicious","unlock_code":"unlockme"}"#;
    let r = call(&sim, Some(&t), Method::PUT, &path, Some(body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["data"]["status"], "isolated");
    assert_eq!(v["data"]["comment"], "suspicious");
    assert_eq!(v["data"]["unlock_code"], "unlockme");
    let v = get(&sim, &t, &path).await.json();
    assert_eq!(v["data"]["status"], "isolated");
    let v = get(&sim, &t, &format!("/v1/computers/{}", c.guid))
        .await
        .json();
    assert_eq!(v["data"]["isolation"]["status"], "isolated");
    assert!(sim.tenant(&t.name).unwrap().computers[1].isolated);

    let r = call(&sim, Some(&t), Method::PUT, &path, Some(body)).await;
    let details = assert_error_envelope(&r, 409, "Conflict");
    assert!(!details.is_empty());
    assert_eq!(
        r.json()["metadata"]["links"]["self"],
        format!("{}{path}", sim.base_url())
    );

    let r = call(&sim, Some(&t), Method::OPTIONS, &path, None).await;
    assert_eq!(r.header("allow").as_deref(), Some("OPTIONS, GET, DELETE"));

    let r = call(&sim, Some(&t), Method::DELETE, &path, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["status"], "not_isolated");
    let r = call(&sim, Some(&t), Method::DELETE, &path, None).await;
    assert_error_envelope(&r, 409, "Conflict");

    let r = call(
        &sim,
        Some(&t),
        Method::PUT,
        "/v1/computers/unknown/isolation",
        Some(body),
    )
    .await;
    assert_error_envelope(&r, 404, "Not Found");
    let stats = sim.stats();
    let s = stats.tenant(&t.name).unwrap();
    assert_eq!(s.by_path["isolation"], 9);
}

#[tokio::test]
async fn events_inserted_between_page_fetches_shift_offsets() {
    let sim = start(quiet(1)).await;
    let t = sim.tenants()[0].clone();
    let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    sim.generate_events(&t.name, 30, Some(at)).unwrap();
    // One newer event arrives right after the first /v1/events request is answered.
    sim.insert_after_requests(
        &t.name,
        1,
        vec![serde_json::from_str(&raw_event(1 << 62, 1_700_000_001, 0, 553648130)).unwrap()],
    )
    .unwrap();
    let p1 = get(&sim, &t, "/v1/events?limit=10").await.json();
    assert_eq!(p1["metadata"]["results"]["total"], 30);
    assert_eq!(sim.event_count(&t.name).unwrap(), 31);
    let p2 = get(&sim, &t, "/v1/events?limit=10&offset=10").await.json();
    assert_eq!(p2["metadata"]["results"]["total"], 31);
    // The last item of page 1 is served again as the first of page 2.
    assert_eq!(page_ids(&p1)[9], page_ids(&p2)[0]);
    assert_eq!(sim.stats().tenant(&t.name).unwrap().events_requests, 2);
}

#[tokio::test]
async fn the_trajectory_link_of_a_computer_is_served() {
    let sim = start(quiet(1)).await;
    let t = &sim.tenants()[0];
    sim.generate_events(&t.name, 300, None).unwrap();
    let events = get(&sim, t, "/v1/events?limit=500").await.json();
    let first = &events["data"][0];
    let guid = first["connector_guid"]
        .as_str()
        .expect("a computer")
        .to_string();
    let expected = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["connector_guid"] == guid.as_str())
        .count();
    // Follow the link the event carries, as a client would.
    let link = first["computer"]["links"]["trajectory"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(&sim, Some(t), Method::GET, &link, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["data"]["computer"]["connector_guid"], guid.as_str());
    let traj = v["data"]["events"].as_array().expect("events");
    assert_eq!(traj.len(), expected, "every event of that computer");
    for e in traj {
        for gone in ["id", "event_type_id", "computer"] {
            assert!(
                e.get(gone).is_none(),
                "trajectory events have no {gone}: {e}"
            );
        }
        assert_eq!(e["connector_guid"], guid.as_str());
    }
    // `limit` and `q` narrow it; an unknown computer is the 404 envelope.
    let one = call(&sim, Some(t), Method::GET, &format!("{link}?limit=1"), None)
        .await
        .json();
    assert_eq!(one["data"]["events"].as_array().map(Vec::len), Some(1));
    let none = call(
        &sim,
        Some(t),
        Method::GET,
        &format!("{link}?q=203.0.113.250"),
        None,
    )
    .await
    .json();
    assert_eq!(none["data"]["events"], json!([]));
    let r = get(
        &sim,
        t,
        "/v1/computers/00000000-0000-0000-0000-000000000000/trajectory",
    )
    .await;
    assert_eq!(r.status, 404);
}

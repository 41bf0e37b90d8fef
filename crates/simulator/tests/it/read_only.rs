//! Read-only API credentials: reads work, every write is refused with a 403 envelope before
//! anything is looked at, so a write that could not succeed anyway still tells the scope.

use crate::common::*;
use reqwest::Method;
use simulator::SimConfig;

const NIL: &str = "00000000-0000-0000-0000-000000000000";

#[tokio::test]
async fn a_read_only_key_reads_but_every_write_is_a_403_and_changes_nothing() {
    let sim = start(SimConfig {
        read_only_tenants: vec!["tenant-2".into()],
        ..quiet(2)
    })
    .await;
    let ro = sim.tenant("tenant-2").unwrap();
    let rw = sim.tenant("tenant-1").unwrap();
    let triage = ro.groups.iter().find(|g| g.name == "Triage").unwrap();
    let c = ro
        .computers
        .iter()
        .find(|c| c.group_guid != triage.guid && !c.isolated)
        .unwrap();

    // Reads work, and OPTIONS is not a write.
    assert_eq!(get(&sim, &ro, "/v1/computers").await.status, 200);
    assert_eq!(get(&sim, &ro, "/v1/events").await.status, 200);
    let iso = format!("/v1/computers/{}/isolation", c.guid);
    assert_eq!(get(&sim, &ro, &iso).await.status, 200);
    let r = call(&sim, Some(&ro), Method::OPTIONS, &iso, None).await;
    assert_eq!(r.status, 204);

    // Every write: 403 with the usual envelope, whatever the body.
    let move_body = format!(r#"{{"group_guid":"{}"}}"#, triage.guid);
    let writes: Vec<(Method, String, Option<&str>)> = vec![
        (
            Method::PATCH,
            format!("/v1/computers/{}", c.guid),
            Some(&move_body),
        ),
        (Method::PUT, iso.clone(), Some(r#"{"comment":"x"}"#)),
        (Method::DELETE, iso.clone(), None),
        (
            Method::POST,
            "/v1/event_streams".into(),
            Some(r#"{"name":"s"}"#),
        ),
        (Method::PATCH, "/v1/event_streams/1".into(), Some("{}")),
        (Method::DELETE, "/v1/event_streams/1".into(), None),
    ];
    for (method, path, body) in &writes {
        let r = call(&sim, Some(&ro), method.clone(), path, *body).await;
        let details = assert_error_envelope(&r, 403, "Forbidden");
        assert!(
            details[0].contains("Read-only") && details[0].contains("Read & Write"),
            "{method} {path}: {details:?}"
        );
        // Still rate limited and counted like any request.
        assert!(r.header("x-ratelimit-remaining").is_some());
    }
    let after = sim.tenant("tenant-2").unwrap();
    let same = after.computers.iter().find(|x| x.guid == c.guid).unwrap();
    assert_eq!(same.group_guid, c.group_guid, "not moved");
    assert!(!same.isolated, "not isolated");
    let stats = sim.stats();
    assert_eq!(
        stats.tenant("tenant-2").unwrap().forbidden,
        writes.len() as u64
    );
    assert_eq!(stats.tenant("tenant-1").unwrap().forbidden, 0);

    // The other tenant's key is read & write: its move works.
    let c1 = rw
        .computers
        .iter()
        .find(|x| {
            !rw.groups
                .iter()
                .any(|g| g.name == "Triage" && g.guid == x.group_guid)
        })
        .unwrap();
    let t1 = rw.groups.iter().find(|g| g.name == "Triage").unwrap();
    let r = call(
        &sim,
        Some(&rw),
        Method::PATCH,
        &format!("/v1/computers/{}", c1.guid),
        Some(&format!(r#"{{"group_guid":"{}"}}"#, t1.guid)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    sim.shutdown().await;
}

/// The scope probe `sebridge` uses: a move of a computer that does not exist. It cannot
/// change anything; read-only answers 403 before the lookup, read & write 404.
#[tokio::test]
async fn a_write_that_cannot_succeed_tells_the_scope_apart() {
    let sim = start(SimConfig {
        read_only_tenants: vec!["tenant-1".into()],
        ..quiet(2)
    })
    .await;
    let probe = |t: simulator::TenantInfo| {
        let sim = &sim;
        async move {
            call(
                sim,
                Some(&t),
                Method::PATCH,
                &format!("/v1/computers/{NIL}"),
                Some(&format!(r#"{{"group_guid":"{NIL}"}}"#)),
            )
            .await
        }
    };
    let r = probe(sim.tenant("tenant-1").unwrap()).await;
    assert_error_envelope(&r, 403, "Forbidden");
    let r = probe(sim.tenant("tenant-2").unwrap()).await;
    assert_error_envelope(&r, 404, "Not Found");

    // Switched at run time, by the handle and by the control route.
    sim.set_read_only("tenant-1", false).unwrap();
    let r = probe(sim.tenant("tenant-1").unwrap()).await;
    assert_eq!(r.status, 404);
    let r = http()
        .put(format!("{}/_sim/read_only", sim.base_url()))
        .body(r#"{"tenant":"tenant-2","read_only":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = probe(sim.tenant("tenant-2").unwrap()).await;
    assert_eq!(r.status, 403);
    assert!(sim.set_read_only("nobody", true).is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_read_only_tenant_is_a_config_error() {
    let err = simulator::start(SimConfig {
        read_only_tenants: vec!["tenant-9".into()],
        ..quiet(2)
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("tenant-9"), "{err}");
}

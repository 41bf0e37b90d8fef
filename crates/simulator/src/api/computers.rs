//! `/v1/computers`, `/v1/computers/{guid}` (GET, PATCH move), its trajectory, and isolation.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

use super::envelope::{
    error, is_array_key, ok, page_links, page_results, paging, self_link, unknown_param, Metadata,
};
use super::TenantCtx;
use crate::isolation::IsolationStatus;
use crate::sim::{now_ns, SimInner};
use crate::util::parse_query;
use crate::world::IsolationJson;
use std::time::Instant;

pub(crate) async fn list(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    uri: Uri,
) -> Response {
    let pairs = parse_query(uri.query());
    let mut errors = Vec::new();
    let (limit, offset) = paging(&pairs, &mut errors);
    let mut hostnames = Vec::new();
    let mut groups = Vec::new();
    let mut internal_ip = None;
    let mut external_ip = None;
    let mut seen_within: Option<i64> = None;
    let mut seen_over: Option<i64> = None;
    for p in &pairs {
        let k = p.key.as_str();
        match k {
            "limit" | "offset" => {}
            "internal_ip" => internal_ip = Some(p.value.trim().to_string()),
            "external_ip" => external_ip = Some(p.value.trim().to_string()),
            "last_seen_within" | "last_seen_over" => match p.value.trim().parse::<i64>() {
                Ok(d) if d >= 0 => {
                    if k == "last_seen_within" {
                        seen_within = Some(d)
                    } else {
                        seen_over = Some(d)
                    }
                }
                _ => errors.push(format!("{k}: {:?} is not a number of days", p.value)),
            },
            _ if is_array_key(k, "hostname") => hostnames.push(p.value.trim().to_string()),
            _ if is_array_key(k, "group_guid") => groups.push(p.value.trim().to_string()),
            _ => errors.push(unknown_param(k)),
        }
    }
    if !errors.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            self_link(&sim.base_url, &uri),
            errors,
        );
    }
    let now = (now_ns() / 1_000_000_000) as i64;
    let world = tenant.world.read();
    let matching: Vec<usize> = (0..world.computers.len())
        .filter(|&i| {
            let c = &world.computers[i];
            let g = &world.groups[c.group];
            (hostnames.is_empty()
                || hostnames
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&c.hostname)))
                && (groups.is_empty() || groups.iter().any(|x| x.eq_ignore_ascii_case(&g.guid)))
                && internal_ip.as_ref().is_none_or(|ip| *ip == c.internal_ip)
                && external_ip.as_ref().is_none_or(|ip| *ip == c.external_ip)
                && seen_within.is_none_or(|d| c.last_seen >= now - d * 86_400)
                && seen_over.is_none_or(|d| c.last_seen < now - d * 86_400)
        })
        .collect();
    let total = matching.len();
    let data: Vec<_> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&i| world.computer_json(i))
        .collect();
    let meta = Metadata {
        links: page_links(&sim.base_url, &uri, &pairs, limit, offset, total),
        results: Some(page_results(total, data.len(), limit, offset)),
    };
    ok(&meta, data)
}

fn computer_not_found(sim: &SimInner, uri: &Uri, guid: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        self_link(&sim.base_url, uri),
        vec![format!("Computer {guid} not found")],
    )
}

pub(crate) async fn get_one(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(guid): Path<String>,
    uri: Uri,
) -> Response {
    let world = tenant.world.read();
    match world.computer_index(&guid) {
        Some(i) => ok(
            &Metadata::self_only(self_link(&sim.base_url, &uri)),
            world.computer_json(i),
        ),
        None => computer_not_found(&sim, &uri, &guid),
    }
}

/// Events a trajectory shows at most (the API keeps about the last 500).
const TRAJECTORY_MAX: usize = 500;

/// `GET /v1/computers/{guid}/trajectory` (`q`: an IP, SHA-256 or URL the events must mention;
/// `limit`): `data: {computer, events}`, the computer's latest events, newest first, in the
/// event shape without `id`, `event_type_id` and `computer` (reference: trajectory events).
/// It is what the `trajectory` link of a computer points at.
pub(crate) async fn trajectory(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(guid): Path<String>,
    uri: Uri,
) -> Response {
    let computer = {
        let world = tenant.world.read();
        match world.computer_index(&guid) {
            Some(i) => world.computer_json(i),
            None => return computer_not_found(&sim, &uri, &guid),
        }
    };
    let (mut q, mut limit) = (None, TRAJECTORY_MAX);
    for p in parse_query(uri.query()) {
        match p.key.as_str() {
            "q" if !p.value.trim().is_empty() => q = Some(p.value.trim().to_ascii_lowercase()),
            "limit" => match p.value.trim().parse::<usize>() {
                Ok(n) if n > 0 => limit = n.min(TRAJECTORY_MAX),
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        self_link(&sim.base_url, &uri),
                        vec![format!("limit: {:?} is not a positive integer", p.value)],
                    )
                }
            },
            _ => {}
        }
    }
    let mut events = Vec::new();
    {
        let store = tenant.store.read();
        for i in (0..store.len()).rev() {
            if events.len() >= limit {
                break;
            }
            let e = store.get(i);
            if e.connector.as_deref() != Some(guid.as_str()) {
                continue;
            }
            let text = e.text.to_text();
            if q.as_ref()
                .is_some_and(|q| !text.to_ascii_lowercase().contains(q.as_str()))
            {
                continue;
            }
            if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&text) {
                for k in ["id", "event_type_id", "computer"] {
                    m.remove(k);
                }
                events.push(Value::Object(m));
            }
        }
    }
    ok(
        &Metadata::self_only(self_link(&sim.base_url, &uri)),
        serde_json::json!({ "computer": computer, "events": events }),
    )
}

/// Parses an optional JSON object body; `Ok(None)` for an empty body.
fn json_object(body: &Bytes) -> Result<Option<serde_json::Map<String, Value>>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err("request body must be a JSON object".into()),
        Err(e) => Err(format!("request body is not valid JSON: {e}")),
    }
}

/// `PATCH /v1/computers/{guid}` with `{"group_guid": "..."}`: moves the computer.
pub(crate) async fn patch(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(guid): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let this = self_link(&sim.base_url, &uri);
    let bad = |details: Vec<String>| error(StatusCode::BAD_REQUEST, this.clone(), details);
    let obj = match json_object(&body) {
        Ok(Some(m)) => m,
        Ok(None) => return bad(vec!["group_guid: is required".into()]),
        Err(e) => return bad(vec![e]),
    };
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| k.as_str() != "group_guid")
        .map(|k| unknown_param(k))
        .collect();
    if !unknown.is_empty() {
        return bad(unknown);
    }
    let Some(group_guid) = obj.get("group_guid").and_then(Value::as_str) else {
        return bad(vec!["group_guid: is required and must be a string".into()]);
    };
    let mut world = tenant.world.write();
    let Some(ci) = world.computer_index(&guid) else {
        drop(world);
        return computer_not_found(&sim, &uri, &guid);
    };
    let Some(gi) = world.group_index(group_guid) else {
        return bad(vec![format!("group_guid: group {group_guid} not found")]);
    };
    world.move_computer(ci, gi);
    ok(&Metadata::self_only(this), world.computer_json(ci))
}

pub(crate) async fn isolation_get(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(guid): Path<String>,
    uri: Uri,
) -> Response {
    let world = tenant.world.read();
    match world.computer_index(&guid) {
        Some(i) => ok(
            &Metadata::self_only(self_link(&sim.base_url, &uri)),
            IsolationJson::from(&world.computers[i].isolation.view(Instant::now())),
        ),
        None => computer_not_found(&sim, &uri, &guid),
    }
}

/// `PUT` asks for an isolation (`{"comment","unlock_code"}`); 409 if isolated, pending or
/// not available.
pub(crate) async fn isolation_put(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(guid): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let this = self_link(&sim.base_url, &uri);
    let obj = match json_object(&body) {
        Ok(m) => m.unwrap_or_default(),
        Err(e) => return error(StatusCode::BAD_REQUEST, this, vec![e]),
    };
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| !matches!(k.as_str(), "comment" | "unlock_code"))
        .map(|k| unknown_param(k))
        .collect();
    if !unknown.is_empty() {
        return error(StatusCode::BAD_REQUEST, this, unknown);
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let mut world = tenant.world.write();
    let Some(i) = world.computer_index(&guid) else {
        drop(world);
        return computer_not_found(&sim, &uri, &guid);
    };
    let check_in = sim.check_in(world.computers[i].online);
    let iso = &mut world.computers[i].isolation;
    let now = Instant::now();
    let by = format!("API client {}", tenant.client_id);
    if let Err(detail) = iso.start(now, check_in, text("comment"), text("unlock_code"), by) {
        return error(StatusCode::CONFLICT, this, vec![detail]);
    }
    ok(&Metadata::self_only(this), IsolationJson::from(&*iso))
}

/// `DELETE` asks for the isolation to stop; 409 if not isolated or pending.
pub(crate) async fn isolation_delete(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(guid): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let this = self_link(&sim.base_url, &uri);
    if let Err(e) = json_object(&body) {
        return error(StatusCode::BAD_REQUEST, this, vec![e]);
    }
    let mut world = tenant.world.write();
    let Some(i) = world.computer_index(&guid) else {
        drop(world);
        return computer_not_found(&sim, &uri, &guid);
    };
    let check_in = sim.check_in(world.computers[i].online);
    let iso = &mut world.computers[i].isolation;
    if let Err(detail) = iso.stop(Instant::now(), check_in) {
        return error(StatusCode::CONFLICT, this, vec![detail]);
    }
    ok(&Metadata::self_only(this), IsolationJson::from(&*iso))
}

/// `OPTIONS` → 204 with `allow` listing what is possible now.
pub(crate) async fn isolation_options(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(guid): Path<String>,
    uri: Uri,
) -> Response {
    let world = tenant.world.read();
    let Some(i) = world.computer_index(&guid) else {
        drop(world);
        return computer_not_found(&sim, &uri, &guid);
    };
    let iso = world.computers[i].isolation.view(Instant::now());
    let allow = match iso.status {
        IsolationStatus::Isolated => "OPTIONS, GET, DELETE",
        IsolationStatus::NotIsolated if iso.available => "OPTIONS, GET, PUT",
        // Transitional, or not available: nothing can be asked now.
        _ => "OPTIONS, GET",
    };
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

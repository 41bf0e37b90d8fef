//! `GET /v1/version`, `GET /v1/event_types`, `GET /v1/events`.

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;

use super::envelope::{
    error, is_array_key, json_response, ok, page_links, page_results, paging, self_link,
    unknown_param, Metadata, Results,
};
use super::TenantCtx;
use crate::event_types::EVENT_TYPES;
use crate::events::Filter;
use crate::sim::SimInner;
use crate::util::{parse_query, parse_start_date};
use crate::API_VERSION;

/// 400 naming every query parameter, for endpoints that take none.
fn reject_params(sim: &SimInner, uri: &Uri) -> Option<Response> {
    let pairs = parse_query(uri.query());
    (!pairs.is_empty()).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            self_link(&sim.base_url, uri),
            pairs.iter().map(|p| unknown_param(&p.key)).collect(),
        )
    })
}

pub(crate) async fn version(State(sim): State<Arc<SimInner>>, uri: Uri) -> Response {
    if let Some(r) = reject_params(&sim, &uri) {
        return r;
    }
    #[derive(Serialize)]
    struct Version {
        version: &'static str,
    }
    ok(
        &Metadata::self_only(self_link(&sim.base_url, &uri)),
        Version {
            version: API_VERSION,
        },
    )
}

pub(crate) async fn event_types(State(sim): State<Arc<SimInner>>, uri: Uri) -> Response {
    if let Some(r) = reject_params(&sim, &uri) {
        return r;
    }
    #[derive(Serialize)]
    struct Item {
        id: u32,
        name: &'static str,
        description: &'static str,
    }
    let data: Vec<Item> = EVENT_TYPES
        .iter()
        .map(|t| Item {
            id: t.id,
            name: t.name,
            description: t.description,
        })
        .collect();
    let meta = Metadata {
        results: Some(Results {
            total: data.len(),
            current_item_count: None,
            index: None,
            items_per_page: None,
        }),
        ..Metadata::self_only(self_link(&sim.base_url, &uri))
    };
    ok(&meta, data)
}

pub(crate) async fn list(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    uri: Uri,
) -> Response {
    let resp = list_page(&sim, &tenant, &uri);
    tenant.events_request_answered();
    resp
}

fn list_page(sim: &SimInner, tenant: &crate::sim::Tenant, uri: &Uri) -> Response {
    let pairs = parse_query(uri.query());
    let mut errors = Vec::new();
    let (limit, offset) = paging(&pairs, &mut errors);
    let mut f = Filter::default();
    for p in &pairs {
        let k = p.key.as_str();
        match k {
            "limit" | "offset" => {}
            "start_date" => match parse_start_date(&p.value) {
                Some(s) => f.start = Some(s),
                None => errors.push(format!(
                    "start_date: {:?} is not a valid ISO 8601 date",
                    p.value
                )),
            },
            "detection_sha256" => f.det_sha = Some(p.value.trim().to_string()),
            "application_sha256" => f.app_sha = Some(p.value.trim().to_string()),
            _ if is_array_key(k, "event_type") => match p.value.trim().parse::<u32>() {
                Ok(t) => f.types.push(t),
                Err(_) => errors.push(format!("{k}: {:?} is not a valid event type id", p.value)),
            },
            _ if is_array_key(k, "connector_guid") => f.connectors.push(p.value.trim().into()),
            _ if is_array_key(k, "group_guid") => f.groups.push(p.value.trim().into()),
            _ => errors.push(unknown_param(k)),
        }
    }
    if !errors.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            self_link(&sim.base_url, uri),
            errors,
        );
    }

    let store = tenant.store.read();
    let (total, idx) = store.select(&f, offset, limit);
    let meta = Metadata {
        links: page_links(&sim.base_url, uri, &pairs, limit, offset, total),
        results: Some(page_results(total, idx.len(), limit, offset)),
    };
    let meta_json = match serde_json::to_string(&meta) {
        Ok(m) => m,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                meta.links.this,
                vec![e.to_string()],
            )
        }
    };
    // Splice the stored texts: no re-serialization of events.
    let size: usize = idx.iter().map(|&i| store.get(i).text.len() + 1).sum();
    let mut body = String::with_capacity(size + meta_json.len() + 64);
    body.push_str("{\"version\":\"");
    body.push_str(API_VERSION);
    body.push_str("\",\"metadata\":");
    body.push_str(&meta_json);
    body.push_str(",\"data\":[");
    for (n, &i) in idx.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        store.get(i).text.push_to(&mut body);
    }
    body.push_str("]}");
    drop(store);
    json_response(StatusCode::OK, body)
}

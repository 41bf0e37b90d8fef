//! `GET /v1/groups` and `GET /v1/groups/{guid}`.

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::envelope::{
    error, ok, page_links, page_results, paging, self_link, unknown_param, Metadata,
};
use super::TenantCtx;
use crate::sim::SimInner;
use crate::util::parse_query;

pub(crate) async fn list(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    uri: Uri,
) -> Response {
    let pairs = parse_query(uri.query());
    let mut errors = Vec::new();
    let (limit, offset) = paging(&pairs, &mut errors);
    let mut name = None;
    for p in &pairs {
        match p.key.as_str() {
            "limit" | "offset" => {}
            "name" => name = Some(p.value.trim().to_string()),
            k => errors.push(unknown_param(k)),
        }
    }
    if !errors.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            self_link(&sim.base_url, &uri),
            errors,
        );
    }
    let world = tenant.world.read();
    // Name filter: case-insensitive exact match (the reference only shows `name=Audit`).
    let matching: Vec<usize> = (0..world.groups.len())
        .filter(|&i| {
            name.as_ref()
                .is_none_or(|n| n.eq_ignore_ascii_case(&world.groups[i].name))
        })
        .collect();
    let total = matching.len();
    let data: Vec<_> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|&i| world.group_list_json(i))
        .collect();
    let meta = Metadata {
        links: page_links(&sim.base_url, &uri, &pairs, limit, offset, total),
        results: Some(page_results(total, data.len(), limit, offset)),
    };
    ok(&meta, data)
}

pub(crate) async fn get_one(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(guid): Path<String>,
    uri: Uri,
) -> Response {
    let world = tenant.world.read();
    match world.group_index(&guid) {
        Some(i) => ok(
            &Metadata::self_only(self_link(&sim.base_url, &uri)),
            world.group_detail_json(i),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            self_link(&sim.base_url, &uri),
            vec![format!("Group {guid} not found")],
        ),
    }
}

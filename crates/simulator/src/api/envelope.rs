//! The response envelope, error objects, links and paging parameters shared by handlers.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;

use crate::util::QueryPair;
use crate::API_VERSION;

pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Largest page the API serves ("current limit of 500 results"); larger limits are clamped.
pub(crate) const MAX_LIMIT: usize = 500;

#[derive(Debug, Serialize)]
pub(crate) struct Links {
    #[serde(rename = "self")]
    pub this: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Results {
    pub total: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_item_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_per_page: Option<usize>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Metadata {
    pub links: Links,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Results>,
}

impl Metadata {
    pub fn self_only(this: String) -> Metadata {
        Metadata {
            links: Links {
                this,
                next: None,
                prev: None,
            },
            results: None,
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    version: &'static str,
    metadata: &'a Metadata,
    data: T,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct ErrorObj<'a> {
    error_code: u16,
    description: &'a str,
    details: &'a [String],
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    version: &'static str,
    metadata: Metadata,
    data: Empty,
    errors: [ErrorObj<'a>; 1],
}

/// `self` link: our base URL, the request path and the query exactly as sent.
pub(crate) fn self_link(base: &str, uri: &Uri) -> String {
    match uri.query() {
        Some(q) if !q.is_empty() => format!("{base}{}?{q}", uri.path()),
        _ => format!("{base}{}", uri.path()),
    }
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    resp
}

/// 200 with `{"version","metadata","data"}`.
pub(crate) fn ok<T: Serialize>(meta: &Metadata, data: T) -> Response {
    let env = Envelope {
        version: API_VERSION,
        metadata: meta,
        data,
    };
    match serde_json::to_string(&env) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            meta.links.this.clone(),
            vec![format!("serialization failed: {e}")],
        ),
    }
}

/// An error answer: `data: {}` and one error object with the status code, its reason
/// phrase and the details.
pub(crate) fn error(status: StatusCode, this: String, details: Vec<String>) -> Response {
    let env = ErrorEnvelope {
        version: API_VERSION,
        metadata: Metadata::self_only(this),
        data: Empty {},
        errors: [ErrorObj {
            error_code: status.as_u16(),
            description: status.canonical_reason().unwrap_or("Error"),
            details: &details,
        }],
    };
    let body = serde_json::to_string(&env).unwrap_or_else(|_| "{}".to_string());
    json_response(status, body)
}

/// `self`/`next`/`prev` for a paged list. `next` only when more items follow, `prev` only
/// when `offset > 0`; both keep the caller's other parameters as sent.
pub(crate) fn page_links(
    base: &str,
    uri: &Uri,
    pairs: &[QueryPair],
    limit: usize,
    offset: usize,
    total: usize,
) -> Links {
    let link = |off: usize| {
        let mut q: Vec<&str> = pairs
            .iter()
            .filter(|p| p.key != "limit" && p.key != "offset")
            .map(|p| p.raw.as_str())
            .collect();
        let tail = format!("limit={limit}&offset={off}");
        q.push(&tail);
        format!("{base}{}?{}", uri.path(), q.join("&"))
    };
    Links {
        this: self_link(base, uri),
        next: (offset.saturating_add(limit) < total).then(|| link(offset + limit)),
        prev: (offset > 0).then(|| link(offset.saturating_sub(limit))),
    }
}

/// Paging results object.
pub(crate) fn page_results(total: usize, count: usize, limit: usize, offset: usize) -> Results {
    Results {
        total,
        current_item_count: Some(count),
        index: Some(offset),
        items_per_page: Some(limit),
    }
}

/// Reads `limit` (default and maximum 500; 0 or non-numeric is an error) and `offset`
/// (default 0). Problems are appended to `errors`.
pub(crate) fn paging(pairs: &[QueryPair], errors: &mut Vec<String>) -> (usize, usize) {
    let mut limit = MAX_LIMIT;
    let mut offset = 0usize;
    for p in pairs {
        match p.key.as_str() {
            "limit" => match p.value.trim().parse::<u64>() {
                // Over 500 is served 500 per page: Cisco's overview speaks of "a current
                // limit of 500 results in the response" and every public client that asks
                // for more still pages by `next`; a 400 for it is documented nowhere.
                Ok(n) if n > 0 => limit = n.min(MAX_LIMIT as u64) as usize,
                _ => errors.push(format!(
                    "limit: {:?} is not valid, it must be an integer between 1 and {MAX_LIMIT}",
                    p.value
                )),
            },
            "offset" => match p.value.trim().parse::<usize>() {
                Ok(n) => offset = n,
                Err(_) => errors.push(format!(
                    "offset: {:?} is not valid, it must be a non-negative integer",
                    p.value
                )),
            },
            _ => {}
        }
    }
    (limit, offset)
}

/// True if `key` is `name` or `name[]` (the API documents the bracketed form for repeatable
/// parameters; real captures also show the bare form, so both are accepted).
pub(crate) fn is_array_key(key: &str, name: &str) -> bool {
    key == name || (key.len() == name.len() + 2 && key.starts_with(name) && key.ends_with("[]"))
}

/// The detail naming an unexpected parameter.
pub(crate) fn unknown_param(key: &str) -> String {
    format!("{key}: unexpected parameter")
}

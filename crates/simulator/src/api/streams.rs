//! `/v1/event_streams` and `/v1/event_streams/{id}` (reference §7.1).
//!
//! `POST` answers 201 with `{id, name, amqp_credentials{user_name, password, queue_name,
//! host, port, proto}}` (the password only here); `GET` lists/reads `{id, name,
//! amqp_credentials (no password), event_types, group_guids}`; `PATCH` takes a subset of
//! `{name, event_type, group_guid}`. `POST` and `PATCH` read JSON, or form data
//! (`name=…&event_type[]=…&group_guid[]=…`, as curl examples send it). `DELETE` answers 200
//! with `data: {}` (the real body is not documented). An unknown id is a 400 "Event stream not found", as the API answers it. The
//! sixth stream of an organisation is a 400 (the real status is not documented).

// Handlers return early with a ready `Response`; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};

use super::envelope::{error, json_response, ok, self_link, Metadata, Results};
use super::TenantCtx;
use crate::event_types::EVENT_TYPES;
use crate::sim::{SimInner, Tenant};
use crate::streams::{Broker, Credentials, StreamError, StreamRec};
use crate::util::is_form;
use crate::API_VERSION;

#[derive(Serialize)]
struct CredsJson<'a> {
    user_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    queue_name: &'a str,
    host: &'a str,
    port: &'a str,
    proto: &'a str,
}

impl<'a> From<&'a Credentials> for CredsJson<'a> {
    fn from(c: &'a Credentials) -> Self {
        CredsJson {
            user_name: &c.user_name,
            password: c.password.as_deref(),
            queue_name: &c.queue_name,
            host: &c.host,
            port: &c.port,
            proto: &c.proto,
        }
    }
}

fn stream_json(broker: &Broker, s: &StreamRec) -> Value {
    let creds = broker.credentials(s, None);
    serde_json::json!({
        "id": s.id,
        "name": s.name,
        "amqp_credentials": CredsJson::from(&creds),
        "event_types": s.event_types,
        "group_guids": s.group_guids,
    })
}

fn broker<'a>(sim: &'a SimInner, uri: &Uri) -> Result<&'a Arc<Broker>, Response> {
    sim.broker.as_ref().ok_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            self_link(&sim.base_url, uri),
            vec!["Event streams are not available: this simulator has no AMQP broker".into()],
        )
    })
}

fn stream_error(sim: &SimInner, uri: &Uri, e: StreamError) -> Response {
    let link = self_link(&sim.base_url, uri);
    match e {
        StreamError::Invalid(details) => error(StatusCode::BAD_REQUEST, link, details),
        StreamError::NotFound => error(
            StatusCode::BAD_REQUEST,
            link,
            vec!["Event stream not found".into()],
        ),
        StreamError::Broker(msg) => {
            tracing::warn!(error = %msg, "event stream operation failed on the broker");
            error(StatusCode::SERVICE_UNAVAILABLE, link, vec![msg])
        }
    }
}

/// Fields of a create/update body, validated.
#[derive(Default)]
struct Fields {
    name: Option<String>,
    event_types: Option<Vec<u64>>,
    group_guids: Option<Vec<String>>,
}

/// Form data as the JSON object the API reads: `name` a string, `event_type[]` (or
/// `event_type`) an array of ids (a value that is not a number stays a string, refused
/// below with the same message as in JSON), `group_guid[]` an array of strings.
fn form_object(body: &Bytes) -> Map<String, Value> {
    let text = String::from_utf8_lossy(body);
    let mut obj = Map::new();
    for pair in crate::util::parse_query(Some(text.as_ref())) {
        let key = pair.key.trim_end_matches("[]").to_string();
        match key.as_str() {
            "event_type" | "group_guid" => {
                let v = match (key.as_str(), pair.value.trim().parse::<u64>()) {
                    ("event_type", Ok(n)) => Value::from(n),
                    _ => Value::String(pair.value),
                };
                match obj.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                    Value::Array(items) => items.push(v),
                    other => *other = Value::Array(vec![v]),
                }
            }
            _ => {
                obj.insert(pair.key, Value::String(pair.value));
            }
        }
    }
    obj
}

fn parse_fields(tenant: &Tenant, form: bool, body: &Bytes) -> Result<Fields, Vec<String>> {
    let obj: Map<String, Value> = if form {
        form_object(body)
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(vec!["body must be a JSON object".into()]),
            Err(e) => return Err(vec![format!("body is not valid JSON: {e}")]),
        }
    };
    let mut f = Fields::default();
    let mut errors = Vec::new();
    for (k, v) in &obj {
        match k.as_str() {
            "name" => match v.as_str().map(str::trim) {
                Some(n) if !n.is_empty() && n.len() <= 255 => f.name = Some(n.to_string()),
                _ => errors.push("name: must be a non-empty string".into()),
            },
            "event_type" | "event_type[]" => {
                let Some(items) = v.as_array() else {
                    errors.push(format!("{k}: must be an array of event type ids"));
                    continue;
                };
                let mut ids = Vec::new();
                for item in items {
                    match item.as_u64() {
                        Some(id) if EVENT_TYPES.iter().any(|t| u64::from(t.id) == id) => {
                            if !ids.contains(&id) {
                                ids.push(id)
                            }
                        }
                        _ => {
                            errors.push(format!("event_type: {item} is not a known event type id"))
                        }
                    }
                }
                f.event_types = Some(ids);
            }
            "group_guid" | "group_guid[]" => {
                let Some(items) = v.as_array() else {
                    errors.push(format!("{k}: must be an array of group GUIDs"));
                    continue;
                };
                let world = tenant.world.read();
                let mut guids = Vec::new();
                for item in items {
                    match item.as_str().map(|s| s.trim().to_ascii_lowercase()) {
                        Some(g) if world.group_index(&g).is_some() => {
                            if !guids.contains(&g) {
                                guids.push(g)
                            }
                        }
                        _ => errors.push(format!(
                            "group_guid: {item} is not a group of this organization"
                        )),
                    }
                }
                f.group_guids = Some(guids);
            }
            other => errors.push(format!("{other}: unexpected parameter")),
        }
    }
    if errors.is_empty() {
        Ok(f)
    } else {
        Err(errors)
    }
}

fn parse_id(sim: &SimInner, uri: &Uri, id: &str) -> Result<u64, Response> {
    id.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            self_link(&sim.base_url, uri),
            vec!["Event stream not found".into()],
        )
    })
}

pub(crate) async fn create(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let broker = match broker(&sim, &uri) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let fields = match parse_fields(&tenant, is_form(&headers), &body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, self_link(&sim.base_url, &uri), e),
    };
    let Some(name) = fields.name else {
        return error(
            StatusCode::BAD_REQUEST,
            self_link(&sim.base_url, &uri),
            vec!["name: is required".into()],
        );
    };
    match broker
        .create(
            &tenant.name,
            &tenant.streams,
            &tenant.org_guid,
            name,
            fields.event_types.unwrap_or_default(),
            fields.group_guids.unwrap_or_default(),
        )
        .await
    {
        Ok((rec, creds)) => {
            #[derive(Serialize)]
            struct Created<'a> {
                id: u64,
                name: &'a str,
                amqp_credentials: CredsJson<'a>,
            }
            let body = serde_json::json!({
                "version": API_VERSION,
                "metadata": Metadata::self_only(self_link(&sim.base_url, &uri)),
                "data": Created { id: rec.id, name: &rec.name, amqp_credentials: CredsJson::from(&creds) },
            });
            json_response(StatusCode::CREATED, body.to_string())
        }
        Err(e) => stream_error(&sim, &uri, e),
    }
}

pub(crate) async fn list(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    uri: Uri,
) -> Response {
    let broker = match broker(&sim, &uri) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let data: Vec<Value> = broker
        .list(&tenant.name)
        .iter()
        .map(|s| stream_json(broker, s))
        .collect();
    let meta = Metadata {
        results: Some(Results {
            total: data.len(),
            current_item_count: Some(data.len()),
            index: Some(0),
            items_per_page: Some(data.len()),
        }),
        ..Metadata::self_only(self_link(&sim.base_url, &uri))
    };
    ok(&meta, data)
}

pub(crate) async fn get_one(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let broker = match broker(&sim, &uri) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let id = match parse_id(&sim, &uri, &id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match broker.get(&tenant.name, id) {
        Some(s) => ok(
            &Metadata::self_only(self_link(&sim.base_url, &uri)),
            stream_json(broker, &s),
        ),
        None => stream_error(&sim, &uri, StreamError::NotFound),
    }
}

pub(crate) async fn patch(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let broker = match broker(&sim, &uri) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let id = match parse_id(&sim, &uri, &id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let fields = match parse_fields(&tenant, is_form(&headers), &body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, self_link(&sim.base_url, &uri), e),
    };
    match broker
        .update(
            &tenant.name,
            &tenant.org_guid,
            id,
            fields.name,
            fields.event_types,
            fields.group_guids,
        )
        .await
    {
        Ok(s) => ok(
            &Metadata::self_only(self_link(&sim.base_url, &uri)),
            stream_json(broker, &s),
        ),
        Err(e) => stream_error(&sim, &uri, e),
    }
}

pub(crate) async fn delete(
    State(sim): State<Arc<SimInner>>,
    Extension(TenantCtx(tenant)): Extension<TenantCtx>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let broker = match broker(&sim, &uri) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let id = match parse_id(&sim, &uri, &id) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match broker.delete(&tenant.name, &tenant.streams, id).await {
        Ok(()) => ok(
            &Metadata::self_only(self_link(&sim.base_url, &uri)),
            serde_json::json!({}),
        ),
        Err(e) => stream_error(&sim, &uri, e),
    }
}

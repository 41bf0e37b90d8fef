//! The Table API: create, read, update (running the business rule) and list records, and
//! how input values become stored field text.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value};

use crate::sim::{now_ns, SimInner};
use crate::util::parse_query;
use crate::world::random_hex;

use super::auth::gate;
use super::business_rule::business_rule;
use super::query::{cmp_values, cond_matches, parse_encoded};
use super::{
    done_states, glide_now, ok_result, snow_error, table_prefix, JournalEntry, SnowRecord,
    INCIDENT_FIELDS, JOURNAL_FIELDS, READ_ONLY,
};

/// JSON value → the string a field stores.
fn as_field_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // A reference given as {"value": sys_id} (display/link form).
        Value::Object(o) => o
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Value::Array(_) => v.to_string(),
    }
}

pub(super) fn priority(impact: &str, urgency: &str) -> &'static str {
    let i: u8 = impact.parse().unwrap_or(3);
    let u: u8 = urgency.parse().unwrap_or(3);
    match i.clamp(1, 3) + u.clamp(1, 3) {
        2 => "1",
        3 => "2",
        4 => "3",
        5 => "4",
        _ => "5",
    }
}

fn fields_param(uri: &Uri) -> Option<Vec<String>> {
    parse_query(uri.query())
        .into_iter()
        .find(|p| p.key == "sysparm_fields")
        .map(|p| {
            p.value
                .split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect()
        })
}

/// Whether `sysparm_display_value=true` was asked for.
fn display_param(uri: &Uri) -> bool {
    parse_query(uri.query())
        .into_iter()
        .any(|p| p.key == "sysparm_display_value" && p.value == "true")
}

/// A journal field's display value, as the Table API gives it: every entry, newest first,
/// each `<date> - <user> (Work notes)` then its text, separated by a blank line.
fn journal_display(r: &SnowRecord, element: &str) -> String {
    let label = if element == "comments" {
        "Additional comments"
    } else {
        "Work notes"
    };
    r.journal
        .iter()
        .rev()
        .filter(|j| j.element == element)
        .map(|j| {
            format!(
                "{} - {} ({label})\n{}\n\n",
                j.created_on, j.created_by, j.value
            )
        })
        .collect()
}

/// [`view`] with `sysparm_display_value=true`: journal fields show their entries (the
/// simulator shows every other field as its value, as stored).
fn view_display(r: &SnowRecord, fields: &Option<Vec<String>>, display: bool) -> Value {
    let mut v = view(r, fields);
    if let (true, Value::Object(m)) = (display, &mut v) {
        for f in JOURNAL_FIELDS {
            if m.contains_key(*f) {
                m.insert((*f).to_string(), Value::String(journal_display(r, f)));
            }
        }
    }
    v
}

/// The record as the API shows it (journal fields read as "", `sysparm_fields` applied).
fn view(r: &SnowRecord, fields: &Option<Vec<String>>) -> Value {
    let mut out = Map::new();
    match fields {
        Some(list) => {
            for f in list {
                if let Some(v) = r.fields.get(f) {
                    out.insert(f.clone(), v.clone());
                }
            }
        }
        None => out = r.fields.clone(),
    }
    Value::Object(out)
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(snow_error(
            StatusCode::BAD_REQUEST,
            "Exception while reading request",
            Some("The payload is not a JSON object"),
        )),
        Err(e) => Err(snow_error(
            StatusCode::BAD_REQUEST,
            "Exception while reading request",
            Some(&format!("Invalid JSON: {e}")),
        )),
    }
}

// ---- Table API --------------------------------------------------------------------------------

pub(super) async fn create_v(
    state: State<Arc<SimInner>>,
    Path((_v, table)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(state, Path(table), headers, body).await
}

pub(super) async fn create(
    State(sim): State<Arc<SimInner>>,
    Path(table): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match gate(&sim, &headers, &table).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let input = match parse_object(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let s = &sim.snow;
    let now = glide_now();
    let record = {
        let mut t = s.tables.lock();
        let n = t.counters.entry(table.clone()).or_insert(10_000);
        *n += 1;
        let number = format!("{}{:07}", table_prefix(&table).unwrap_or("REC"), *n);
        let sys_id = random_hex(&mut s.rng.lock(), 32);
        let mut fields = Map::new();
        for f in INCIDENT_FIELDS {
            fields.insert((*f).to_string(), Value::String(String::new()));
        }
        let set = |fields: &mut Map<String, Value>, k: &str, v: &str| {
            fields.insert(k.to_string(), Value::String(v.to_string()));
        };
        set(&mut fields, "sys_id", &sys_id);
        set(&mut fields, "number", &number);
        if table == "sn_si_incident" {
            // Security Incident Response's own model: a new record is Draft (10), then
            // Analysis 16, Contain 18, Eradicate 19, Recover 20, Review 100, Closed 3,
            // Cancelled 7. It has no ITSM "inquiry" category.
            set(&mut fields, "state", "10");
        } else {
            set(&mut fields, "state", "1");
            set(&mut fields, "category", "inquiry");
        }
        set(&mut fields, "impact", "3");
        set(&mut fields, "urgency", "3");
        set(&mut fields, "active", "true");
        set(&mut fields, "opened_at", &now);
        set(&mut fields, "sys_created_on", &now);
        set(&mut fields, "sys_updated_on", &now);
        set(&mut fields, "sys_created_by", &user);
        set(&mut fields, "sys_updated_by", &user);
        set(&mut fields, "sys_mod_count", "0");
        let mut record = SnowRecord {
            table: table.clone(),
            fields,
            journal: Vec::new(),
            created_ms: (now_ns() / 1_000_000) as i64,
        };
        apply_fields(&mut record, &input, &user, &now);
        let (i, u) = (
            record.get("impact").to_string(),
            record.get("urgency").to_string(),
        );
        set(&mut record.fields, "priority", priority(&i, &u));
        t.records.push(record.clone());
        record
    };
    let delay = s.faults.lock().create_delay;
    if !delay.is_zero() {
        // Stored already: a client that gives up now has lost the answer, not the ticket.
        tokio::time::sleep(delay).await;
    }
    let mut resp = ok_result(StatusCode::CREATED, view(&record, &None));
    if let Ok(loc) = HeaderValue::from_str(&format!(
        "{}/api/now/table/{table}/{}",
        sim.base_url,
        record.get("sys_id")
    )) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

/// Writes input fields into a record: unknown and read-only fields are ignored (as the
/// instance does), journal fields append an entry.
fn apply_fields(r: &mut SnowRecord, input: &Map<String, Value>, user: &str, now: &str) {
    for (k, v) in input {
        if READ_ONLY.contains(&k.as_str()) || !INCIDENT_FIELDS.contains(&k.as_str()) {
            continue;
        }
        let text = as_field_text(v);
        if JOURNAL_FIELDS.contains(&k.as_str()) {
            if !text.trim().is_empty() {
                r.journal.push(JournalEntry {
                    element: k.clone(),
                    value: text,
                    created_on: now.to_string(),
                    created_by: user.to_string(),
                });
            }
            continue;
        }
        r.fields.insert(k.clone(), Value::String(text));
    }
}

pub(super) async fn get_one_v(
    state: State<Arc<SimInner>>,
    Path((_v, table, sys_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    get_one(state, Path((table, sys_id)), headers, uri).await
}

pub(super) async fn get_one(
    State(sim): State<Arc<SimInner>>,
    Path((table, sys_id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(r) = gate(&sim, &headers, &table).await {
        return r;
    }
    let fields = fields_param(&uri);
    let display = display_param(&uri);
    let t = sim.snow.tables.lock();
    match t
        .records
        .iter()
        .find(|r| r.table == table && r.get("sys_id") == sys_id)
    {
        Some(r) => ok_result(StatusCode::OK, view_display(r, &fields, display)),
        None => record_not_found(),
    }
}

fn record_not_found() -> Response {
    snow_error(
        StatusCode::NOT_FOUND,
        "No Record found",
        Some("Record doesn't exist or ACL restricts the record retrieval"),
    )
}

pub(super) async fn update_v(
    state: State<Arc<SimInner>>,
    Path((_v, table, sys_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    update(state, Path((table, sys_id)), headers, body).await
}

pub(super) async fn update(
    State(sim): State<Arc<SimInner>>,
    Path((table, sys_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let user = match gate(&sim, &headers, &table).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let input = match parse_object(&body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    match update_record(&sim, &table, |r| r.get("sys_id") == sys_id, &input, &user) {
        Some(r) => {
            let delay = sim.snow.faults.lock().update_delay;
            if !delay.is_zero() {
                // Stored already (a work note is appended): a client that gives up now
                // has lost the answer, not the update.
                tokio::time::sleep(delay).await;
            }
            ok_result(StatusCode::OK, view(&r, &None))
        }
        None => record_not_found(),
    }
}

/// Updates the first matching record and runs the business rule. `None` when no record
/// matches.
pub(super) fn update_record(
    sim: &Arc<SimInner>,
    table: &str,
    matches: impl Fn(&SnowRecord) -> bool,
    input: &Map<String, Value>,
    user: &str,
) -> Option<SnowRecord> {
    let s = &sim.snow;
    let now = glide_now();
    let (before, after) = {
        let mut t = s.tables.lock();
        let r = t
            .records
            .iter_mut()
            .find(|r| r.table == table && matches(r))?;
        let before = r.get("state").to_string();
        apply_fields(r, input, user, &now);
        let state = r.get("state").to_string();
        let set = |r: &mut SnowRecord, k: &str, v: &str| {
            r.fields.insert(k.to_string(), Value::String(v.to_string()));
        };
        if state != before {
            let sir = table == "sn_si_incident";
            match state.as_str() {
                "6" if !sir && r.get("resolved_at").is_empty() => set(r, "resolved_at", &now),
                "3" if sir => set(r, "closed_at", &now),
                "7" if !sir => {
                    if r.get("resolved_at").is_empty() {
                        set(r, "resolved_at", &now);
                    }
                    set(r, "closed_at", &now);
                }
                _ => {}
            }
            let active = if done_states(table).contains(&state.as_str()) {
                "false"
            } else {
                "true"
            };
            set(r, "active", active);
        }
        let (i, u) = (r.get("impact").to_string(), r.get("urgency").to_string());
        set(r, "priority", priority(&i, &u));
        let mods: u64 = r.get("sys_mod_count").parse().unwrap_or(0);
        set(r, "sys_mod_count", &(mods + 1).to_string());
        set(r, "sys_updated_on", &now);
        set(r, "sys_updated_by", user);
        (before, r.clone())
    };
    business_rule(sim, &before, &after);
    Some(after)
}

pub(super) async fn list_v(
    state: State<Arc<SimInner>>,
    Path((_v, table)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    list(state, Path(table), headers, uri).await
}

pub(super) async fn list(
    State(sim): State<Arc<SimInner>>,
    Path(table): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(r) = gate(&sim, &headers, &table).await {
        return r;
    }
    let pairs = parse_query(uri.query());
    let param = |k: &str| pairs.iter().find(|p| p.key == k).map(|p| p.value.clone());
    let (groups, order) = parse_encoded(&param("sysparm_query").unwrap_or_default());
    let limit: usize = param("sysparm_limit")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(10_000);
    let offset: usize = param("sysparm_offset")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let fields = fields_param(&uri);
    let mut rows: Vec<SnowRecord> = sim
        .snow
        .tables
        .lock()
        .records
        .iter()
        .filter(|r| r.table == table)
        .filter(|r| groups.iter().all(|g| g.iter().any(|c| cond_matches(r, c))))
        .cloned()
        .collect();
    for (field, desc) in order.iter().rev() {
        rows.sort_by(|a, b| {
            let o = cmp_values(a.get(field), b.get(field));
            if *desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    let total = rows.len();
    let page: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| view(r, &fields))
        .collect();
    let mut resp = ok_result(StatusCode::OK, Value::Array(page));
    let h = resp.headers_mut();
    h.insert("x-total-count", HeaderValue::from(total as u64));
    let base = format!("{}{}", sim.base_url, uri.path());
    let link = |off: usize, rel: &str| {
        let mut q: Vec<String> = pairs
            .iter()
            .filter(|p| p.key != "sysparm_offset")
            .map(|p| p.raw.clone())
            .collect();
        q.push(format!("sysparm_offset={off}"));
        format!("<{base}?{}>;rel=\"{rel}\"", q.join("&"))
    };
    let mut links = vec![link(0, "first")];
    if offset > 0 {
        links.push(link(offset.saturating_sub(limit), "prev"));
    }
    if offset.saturating_add(limit) < total {
        links.push(link(offset + limit, "next"));
    }
    let last = if total == 0 || limit == 0 {
        0
    } else {
        ((total - 1) / limit) * limit
    };
    links.push(link(last, "last"));
    if let Ok(v) = HeaderValue::from_str(&links.join(",")) {
        h.insert(header::LINK, v);
    }
    resp
}

//! The XDR lane: the incident (looked up by external id before it is created), its
//! severity, and its close with a reference to the ServiceNow ticket.

use super::outcome::{done, text, Done, OpError};
use crate::incidents::render::Links;
use crate::incidents::store::IncidentRow;
use crate::incidents::Ctx;
use crate::store::now_millis;
use serde_json::Value;

fn xdr_client(ctx: &Ctx) -> Result<&xdr::Client, OpError> {
    ctx.xdr
        .as_ref()
        .ok_or_else(|| OpError::permanent("XDR is not configured"))
}

fn links(i: &IncidentRow) -> Links {
    serde_json::from_str(&i.links).unwrap_or_default()
}

fn iso_time(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub(super) async fn xdr_create(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    if let Some(id) = &i.xdr_id {
        return Ok(done(
            "xdr_create_skipped",
            format!("XDR incident {id} exists already"),
        ));
    }
    let client = xdr_client(ctx)?;
    let found = client.find_by_external_id(&i.correlation_id).await?;
    if let Some(f) = found.first() {
        return Ok(done(
            "xdr_adopted",
            format!(
                "found {} by external id {}; no second incident",
                f.short_id(),
                i.correlation_id
            ),
        )
        .set("xdr_id", text(&f.id)));
    }
    let l = links(i);
    let opened = iso_time(i.first_event_time);
    let mut n = xdr::NewIncident::new("High", "New", &opened);
    n.incident_time
        .insert("discovered".into(), Value::String(opened.clone()));
    n.title = Some(i.xdr_title.clone());
    n.short_description = Some(i.snow_short.clone());
    n.description = Some(i.xdr_description.clone());
    n.severity = Some(i.severity.clone());
    n.tlp = Some("amber".into());
    n.source = Some(ctx.config.prefix.clone());
    n.source_uri = Some(l.computer_url.clone());
    n.external_ids = vec![i.correlation_id.clone()];
    let mut refs = vec![xdr::ExternalReference {
        source_name: "Cisco Secure Endpoint".into(),
        description: Some("Device trajectory".into()),
        url: Some(l.computer_url.clone()),
        external_id: i.connector_guid.clone(),
        ..Default::default()
    }];
    if let Some(sha) = &i.sha256 {
        refs.push(xdr::ExternalReference {
            source_name: "Cisco Secure Endpoint".into(),
            description: Some("File trajectory".into()),
            url: Some(l.file_url.clone()),
            external_id: Some(sha.clone()),
            ..Default::default()
        });
    }
    n.external_references = refs;
    n.extra
        .insert("promotion_method".into(), Value::String("Automated".into()));
    n.extra.insert(
        "detection_sources".into(),
        serde_json::json!(["Cisco Secure Endpoint"]),
    );
    n.extra
        .insert("categories".into(), serde_json::json!(["Malicious Code"]));
    let created = client.create(&n.truncated()).await?;
    metrics::counter!("sebridge_incident_tickets_total", "system" => "xdr").increment(1);
    Ok(done(
        "xdr_created",
        format!("XDR incident {}", created.short_id()),
    )
    .set("xdr_id", text(&created.id)))
}

pub(super) async fn xdr_update(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let client = xdr_client(ctx)?;
    let Some(id) = &i.xdr_id else {
        return Err(OpError::permanent("no XDR incident to update"));
    };
    client
        .patch(id, &serde_json::json!({ "severity": i.severity }))
        .await?;
    Ok(done("xdr_updated", format!("severity {}", i.severity)))
}

/// The CTIM closed status for a ServiceNow close code.
fn closed_status(code: Option<&str>) -> &'static str {
    let c = code.unwrap_or("").to_ascii_lowercase();
    if c.contains("false positive") || c.contains("not an incident") {
        "Closed: False Positive"
    } else if c.contains("duplicate") {
        "Closed: Merged"
    } else if c.contains("confirmed") || c.contains("threat") {
        "Closed: Confirmed Threat"
    } else {
        "Closed"
    }
}

pub(super) async fn xdr_close(ctx: &Ctx, i: &IncidentRow) -> Result<Done, OpError> {
    let Some(id) = &i.xdr_id else {
        return Ok(done(
            "xdr_close_skipped",
            "no XDR incident for this incident",
        ));
    };
    let client = xdr_client(ctx)?;
    let closed_ms = i.closed_at.unwrap_or_else(now_millis);
    let closed = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(closed_ms) * 1_000_000)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let reference = match (&ctx.snow, &i.snow_sys_id) {
        (Some(s), Some(sys_id)) => Some(xdr::ExternalReference {
            source_name: "ServiceNow".into(),
            description: Some(format!(
                "ServiceNow {} {} ({})",
                s.table(),
                i.snow_number.as_deref().unwrap_or(""),
                i.close_code.as_deref().unwrap_or("closed")
            )),
            url: Some(s.record_link(sys_id)),
            external_id: i.snow_number.clone(),
            ..Default::default()
        }),
        _ => None,
    };
    let status = closed_status(i.close_code.as_deref());
    match client.close(id, status, closed, reference).await {
        Ok(inc) => Ok(done(
            "xdr_closed",
            format!(
                "{} set {status} (closed {}), ServiceNow reference added, existing references kept",
                inc.short_id(),
                inc.time("closed").unwrap_or("?")
            ),
        )),
        Err(xdr::Error::NotFound { .. }) => {
            Ok(done("xdr_close_skipped", format!("{id} no longer exists")))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_ctim_statuses() {
        assert_eq!(
            closed_status(Some("False Positive")),
            "Closed: False Positive"
        );
        assert_eq!(closed_status(Some("Duplicate")), "Closed: Merged");
        assert_eq!(closed_status(Some("Solution provided")), "Closed");
        assert_eq!(closed_status(None), "Closed");
    }
}

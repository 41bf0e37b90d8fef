//! The reconciler: polls ServiceNow for our open incidents whose ticket is resolved, closed
//! or canceled, and starts their close. It catches every close notice the webhook missed
//! (business rule off, network down, sebridge restarting).

use super::store::{CloseInfo, CloseResult};
use super::IncidentService;
use crate::store::now_millis;
use servicenow::Query;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Tickets asked about per query (`sys_idIN…`).
const PAGE: usize = 100;

/// `YYYY-MM-DD HH:MM:SS` (UTC) → epoch ms.
pub fn parse_glide_time(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(s.trim(), &fmt).ok()?;
    Some(i64::try_from(t.assume_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}

impl IncidentService {
    /// One pass: every open incident with a ticket is checked. Returns how many started
    /// closing.
    pub async fn reconcile_once(&self) -> Result<usize, String> {
        let ctx = &self.ctx;
        let (Some(client), Some(snow_cfg)) = (&ctx.snow, &ctx.config.servicenow) else {
            return Ok(0);
        };
        let states = snow_cfg.closed_states.join(",");
        let mut after = 0;
        let mut closed = 0;
        loop {
            let page = ctx
                .store
                .open_with_ticket(after, PAGE)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = page.last() else { break };
            after = last.0;
            let ids: Vec<&str> = page.iter().map(|(_, s)| s.as_str()).collect();
            let found = client
                .query(&Query {
                    query: format!("sys_idIN{}^stateIN{states}", ids.join(",")),
                    fields: [
                        "sys_id",
                        "number",
                        "state",
                        "close_code",
                        "close_notes",
                        "closed_at",
                        "resolved_at",
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                    limit: Some(PAGE as u32),
                    offset: None,
                })
                .await
                .map_err(|e| e.to_string())?;
            for rec in found.records {
                // Filter again: an instance that ignored part of the query must not close
                // tickets that are still open.
                let (Some(sys_id), Some(state)) = (rec.sys_id(), rec.state()) else {
                    continue;
                };
                if !ctx.is_closed_state(state) {
                    continue;
                }
                let Some((id, _)) = page.iter().find(|(_, s)| s == sys_id) else {
                    continue;
                };
                let closed_at = rec
                    .get_str("closed_at")
                    .or(rec.get_str("resolved_at"))
                    .and_then(parse_glide_time)
                    .unwrap_or_else(now_millis);
                let info = CloseInfo {
                    close_code: rec.get_str("close_code").map(str::to_string),
                    close_notes: rec.get_str("close_notes").map(str::to_string),
                    closed_at,
                    resolve_ticket: false,
                };
                match ctx.store.close(*id, "reconciler", &info).await {
                    Ok(CloseResult::Closing) => {
                        closed += 1;
                        info!(
                            incident = id,
                            ticket = rec.number().unwrap_or(""),
                            state,
                            "reconciler: ticket closed in ServiceNow; closing the loop"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            if page.len() < PAGE {
                break;
            }
        }
        if closed > 0 {
            ctx.notify.notify_one();
            metrics::counter!("sebridge_incident_closes_total", "source" => "reconciler")
                .increment(closed as u64);
        }
        Ok(closed)
    }

    /// Runs [`Self::reconcile_once`] every `reconcile_interval` until `shutdown`.
    pub async fn run_reconciler(self, shutdown: CancellationToken) {
        let interval = self.ctx.config.reconcile_interval;
        info!(interval = ?interval, "incident reconciler started");
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.cancelled() => break,
            }
            if let Err(e) = self.reconcile_once().await {
                warn!(error = %e, "reconciler pass failed; next pass in {:?}", interval);
            }
        }
        info!("incident reconciler stopped");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glide_times() {
        assert_eq!(
            super::parse_glide_time("2024-05-01 10:00:00"),
            Some(1_714_557_600_000)
        );
        assert_eq!(super::parse_glide_time("yesterday"), None);
    }
}

//! The incident part of `sebridge demo`: the simulator's ServiceNow and XDR, a rule that
//! contains hosts with ransomware-like detections, and — a few seconds in — an analyst
//! closing one ticket in the simulated ServiceNow, so the whole loop shows: events →
//! tickets in both systems → host isolated and moved → ticket closed → XDR closed, host
//! released and restored.

use anyhow::Context;
use sebridge::incidents::store::IncidentRow;
use sebridge::topology::Topology;
use simulator::{SimHandle, SnowWebhook};
use std::path::Path;
use std::time::Duration;

/// The webhook secret shared by the demo's simulated ServiceNow and sebridge.
const DEMO_SECRET: &str = "demo-webhook-secret-not-for-production";

/// What the demo did with the closed loop.
#[derive(Default)]
pub struct LoopState {
    /// The incident whose ticket the demo closed, with its host's group before the move.
    pub closed: Option<Closed>,
    pub verified: bool,
    pub reported: bool,
    /// Hosts isolated by sebridge at the last summary.
    pub isolated: i64,
}

/// How the demo ended, for the last word on the closed loop.
pub struct WrapUp<'a> {
    /// How long it ran.
    pub elapsed: Duration,
    /// When the analyst's close was due.
    pub close_after: Duration,
    /// The config, when `--dir` kept it (commands can then be suggested).
    pub kept_config: Option<&'a Path>,
}

/// How long the closed loop may take after the close before it counts as not working: the
/// simulated connector takes 2 s per isolation step, the webhook and the steps a few more.
const LOOP_GRACE: Duration = Duration::from_secs(30);

pub struct Closed {
    pub incident: i64,
    pub number: String,
    pub host: String,
    pub guid: String,
    pub tenant: String,
    pub original_group: String,
    /// Wall clock (epoch ms) of the analyst's close.
    pub at_ms: i64,
}

/// Appends `[incidents]` (ServiceNow + XDR of the simulator, the webhook, two rules) to the
/// demo config.
pub fn append_config(sim: &SimHandle, path: &Path) -> anyhow::Result<()> {
    let i = sim.integrations();
    let text = format!(
        r#"
# Incidents: added by `sebridge demo` (the simulator's ServiceNow and XDR).
[incidents]
note_interval = "10s"
reconcile_interval = "5s"
# The simulator's computers are not in Cisco's console; links still show the shape.
console_url = "https://console.amp.cisco.com"

[incidents.servicenow]
instance_url = "{base}"
username = "{user}"
password = "{pw}"
caller_id = "sebridge"
assignment_group = "SOC L1"

[incidents.xdr]
base_url = "{base}"
client_id = "{xid}"
client_password = "{xpw}"

[incidents.webhook]
secret = "{DEMO_SECRET}"

# First match wins: contain hosts with the most dangerous detections ...
[incidents.rules.contain]
event_types = [1107296284, 1107296272]   # Potential Ransomware, Executed malware
isolate = true
triage_group = "Triage"

# ... and open tickets for the public sample's high-priority list.
[incidents.rules.high-priority]
"#,
        base = i.servicenow.instance_url,
        user = i.servicenow.username,
        pw = i.servicenow.password,
        xid = i.xdr.client_id,
        xpw = i.xdr.client_password,
    );
    let mut config =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    config.push_str(&text);
    std::fs::write(path, config).with_context(|| format!("cannot write {}", path.display()))
}

/// Points the simulated ServiceNow's close business rule at our webhook.
pub fn connect_webhook(sim: &SimHandle, topology: &Topology) {
    if let Some(addr) = topology.http_addr {
        sim.set_snow_webhook(SnowWebhook {
            url: Some(format!("http://{addr}/hooks/servicenow")),
            secret: Some(DEMO_SECRET.into()),
            bearer: None,
            enabled: true,
        });
        println!(
            "  webhook:   http://{addr}/hooks/servicenow (signed by the simulated ServiceNow)"
        );
    }
}

fn group_name(sim: &SimHandle, tenant: &str, guid: &str) -> String {
    sim.tenant(tenant)
        .ok()
        .and_then(|t| t.groups.into_iter().find(|g| g.guid == guid))
        .map(|g| g.name)
        .unwrap_or_else(|| guid.to_string())
}

/// One summary line about incidents, and the demo's analyst action once `close_after` has
/// passed.
pub async fn tick(
    state: &mut LoopState,
    sim: &SimHandle,
    topology: &Topology,
    elapsed: Duration,
    close_after: Duration,
) {
    let store = topology.store.incidents();
    let Ok(s) = store.summary().await else {
        return;
    };
    state.isolated = s.isolated_now;
    println!(
        "        incidents {} open, {} closing, {} closed ({} events) | ServiceNow {} tickets | XDR {} | isolated {} | in triage {} | outbox {} pending{}",
        s.open,
        s.closing,
        s.closed,
        s.events,
        s.snow_tickets,
        s.xdr_incidents,
        s.isolated_now,
        s.moved_now,
        s.ops_pending,
        if s.ops_failed > 0 { format!(", {} FAILED", s.ops_failed) } else { String::new() }
    );
    if state.closed.is_none() && elapsed >= close_after {
        if let Ok(open) = store.list(Some("open"), None, 500).await {
            if let Some(i) = open.iter().find(|i| contained(i)) {
                close_one(state, sim, i);
            }
        }
    }
    if let Some(c) = &state.closed {
        if !state.reported {
            if let Ok(Some(i)) = store.get(c.incident).await {
                if i.status == "closed" {
                    // When the loop really finished: the audit line, not this tick.
                    let done_at = store
                        .audit(Some(i.id), 50)
                        .await
                        .ok()
                        .and_then(|a| a.into_iter().find(|e| e.action == "closed"))
                        .map(|e| e.at);
                    report(state, sim, &i, done_at);
                }
            }
        }
    }
}

fn contained(i: &IncidentRow) -> bool {
    i.snow_number.is_some()
        && i.xdr_id.is_some()
        && i.isolated_by_us
        && i.moved_by_us
        && i.original_group.is_some()
}

fn close_one(state: &mut LoopState, sim: &SimHandle, i: &IncidentRow) {
    let (Some(number), Some(guid), Some(orig)) =
        (&i.snow_number, &i.connector_guid, &i.original_group)
    else {
        return;
    };
    let host = i.hostname.clone().unwrap_or_else(|| guid.clone());
    println!(
        "\n  demo: an analyst closes {number} in ServiceNow (simulated; `sebridge-sim snow close {number} --url {}` does the same)",
        sim.base_url()
    );
    println!(
        "        {number}: {} — host {host} isolated and in Triage (was in {})\n",
        i.title,
        group_name(sim, &i.tenant, orig)
    );
    if sim
        .snow_close(number, None, Some("Solution provided"))
        .is_some()
    {
        state.closed = Some(Closed {
            incident: i.id,
            number: number.clone(),
            host,
            guid: guid.clone(),
            tenant: i.tenant.clone(),
            original_group: orig.clone(),
            at_ms: sebridge::store::now_millis(),
        });
    }
}

fn report(state: &mut LoopState, sim: &SimHandle, i: &IncidentRow, done_at: Option<i64>) {
    let Some(c) = &state.closed else { return };
    let xdr_status = i
        .xdr_id
        .as_deref()
        .and_then(|id| {
            sim.xdr_incidents()
                .into_iter()
                .find(|x| x["id"].as_str() == Some(id))
        })
        .and_then(|x| x["status"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let host = sim
        .tenant(&c.tenant)
        .ok()
        .and_then(|t| t.computers.into_iter().find(|h| h.guid == c.guid));
    let (isolated, group) = host
        .map(|h| (h.isolated, h.group_guid))
        .unwrap_or((true, String::new()));
    state.verified = xdr_status.starts_with("Closed") && !isolated && group == c.original_group;
    println!(
        "\n  closed loop (done {} ms after the close): {} closed in ServiceNow → XDR incident {xdr_status}, host {} {}, back in group {} ({})\n",
        done_at.map(|t| (t - c.at_ms).to_string()).unwrap_or_else(|| "?".into()),
        c.number,
        c.host,
        if isolated { "STILL ISOLATED" } else { "released from isolation" },
        group_name(sim, &c.tenant, &group),
        if state.verified { "verified in the simulator" } else { "NOT as expected" },
    );
    state.reported = true;
}

/// The final verdict line; false only when the loop had time to complete and did not.
pub fn final_report(state: &LoopState, w: &WrapUp<'_>) -> bool {
    match &state.closed {
        None if w.elapsed < w.close_after => {
            println!(
                "incidents: the demo's analyst close was due at {}s and the demo stopped at {}s, before it ({} host(s) isolated by then; run longer or lower --close-after)",
                w.close_after.as_secs(),
                w.elapsed.as_secs(),
                state.isolated
            );
            true
        }
        None => {
            println!(
                "incidents: no incident was contained (isolated and moved to Triage) when the close was due, so none was closed ({} host(s) isolated); run longer, or raise --rate",
                state.isolated
            );
            true
        }
        Some(c) if state.verified => {
            println!(
                "closed loop: {} → XDR closed, host {} released and restored",
                c.number, c.host
            );
            true
        }
        Some(c) => {
            let since = Duration::from_millis(
                u64::try_from(sebridge::store::now_millis() - c.at_ms).unwrap_or(0),
            );
            let look = match w.kept_config {
                Some(config) => format!(
                    " (see `sebridge -c {} incidents show {}`)",
                    config.display(),
                    c.number
                ),
                None => String::new(),
            };
            if since < LOOP_GRACE {
                // Stopped (Ctrl-C, --duration) while the loop was still working: not a fault.
                println!(
                    "closed loop: {} was closed {}s before the demo stopped; its release was still under way{look}",
                    c.number,
                    since.as_secs()
                );
                true
            } else {
                println!(
                    "WARNING: the closed loop for {} did not complete within {}s of the close{look}",
                    c.number,
                    since.as_secs()
                );
                false
            }
        }
    }
}

//! `sebridge incidents list|show|close` and `sebridge audit`.

use super::args::millis_utc as when;
use super::setup::{setup, usage, Secrets, Setup};
use anyhow::Context;
use sebridge::incidents::store::{AuditEntry, CloseInfo, CloseResult, IncidentRow};
use sebridge::incidents::{executor, IncidentService};
use sebridge::store::now_millis;
use sebridge::topology::StoreNeed;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// An incident's status, as `--status` takes it.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Status {
    Open,
    Closing,
    Closed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closing => "closing",
            Status::Closed => "closed",
        }
    }
}

/// How an incident is named on the command line.
const INCIDENT_HELP: &str =
    "The incident: sebridge's id (as `incidents list` shows it), its ServiceNow ticket number (INC0010001) or its XDR incident id";

#[derive(clap::Args, Debug)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        /// Only incidents in this state.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Only this tenant's incidents.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// At most this many (the newest).
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One incident: tickets, containment, events, operations and audit trail.
    Show {
        #[arg(help = INCIDENT_HELP, value_name = "INCIDENT")]
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Close an incident from here: resolves the ServiceNow ticket, closes the XDR incident,
    /// stops the isolation sebridge started and moves the host back to its group.
    Close {
        #[arg(help = INCIDENT_HELP, value_name = "INCIDENT")]
        id: String,
        /// ServiceNow close code (default "Solution provided").
        #[arg(long)]
        code: Option<String>,
        /// Close notes.
        #[arg(long)]
        notes: Option<String>,
        /// How long to work the closing steps before leaving them to the running service.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = super::args::duration)]
        wait: Duration,
    },
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Only this incident's trail (sebridge's id, ServiceNow number or XDR id).
    #[arg(long, value_name = "INCIDENT")]
    pub incident: Option<String>,
    /// At most this many lines (the newest).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The incident `reference` names, or the usage error saying none does.
async fn find(s: &Setup, reference: &str) -> anyhow::Result<IncidentRow> {
    s.store()?
        .incidents()
        .find(reference)
        .await?
        .ok_or_else(|| {
            usage(format!(
                "no incident {reference:?} (give sebridge's id, the ServiceNow number or the XDR id; `sebridge incidents list` shows them)"
            ))
        })
}

/// The short containment text of one incident.
async fn containment(s: &Setup, i: &IncidentRow) -> anyhow::Result<String> {
    let mut all = s
        .store()?
        .incidents()
        .containment(std::slice::from_ref(i))
        .await?;
    Ok(all
        .remove(&i.id)
        .map(|c| c.short)
        .unwrap_or_else(|| "-".into()))
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

pub async fn run(args: IncidentsArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    // Only `close` calls ServiceNow, XDR and the tenants' APIs: it needs every secret.
    let secrets = match &args.command {
        IncidentsCommand::Close { .. } => Secrets::All,
        _ => Secrets::StoreOnly,
    };
    let s = setup(config_path, secrets, StoreNeed::Existing).await?;
    let result = match args.command {
        IncidentsCommand::List {
            status,
            tenant,
            limit,
            json,
        } => list(&s, status, tenant, limit, json).await,
        IncidentsCommand::Show { id, json } => show(&s, &id, json).await,
        IncidentsCommand::Close {
            id,
            code,
            notes,
            wait,
        } => close(&s, &id, code, notes, wait).await,
    };
    s.close().await;
    result
}

async fn list(
    s: &Setup,
    status: Option<Status>,
    tenant: Option<String>,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(t) = &tenant {
        s.known_tenant(t)?;
    }
    let store = s.store()?.incidents();
    let rows = store
        .list(status.map(Status::as_str), tenant.as_deref(), limit)
        .await?;
    let containment = store.containment(&rows).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>5}  {:<8} {:<8} {:<12} {:<18} {:<11} {:>6}  {:<30} TITLE",
        "ID", "STATUS", "SEVERITY", "TENANT", "HOST", "SERVICENOW", "EVENTS", "CONTAINMENT"
    );
    for i in &rows {
        println!(
            "{:>5}  {:<8} {:<8} {:<12} {:<18} {:<11} {:>6}  {:<30} {}",
            i.id,
            i.status,
            i.severity,
            cut(&i.tenant, 12),
            cut(i.hostname.as_deref().unwrap_or("-"), 18),
            i.snow_number.as_deref().unwrap_or("(pending)"),
            i.event_count,
            containment.get(&i.id).map_or("-", |c| c.short.as_str()),
            cut(&i.title, 70)
        );
    }
    if rows.is_empty() {
        println!("(no incidents)");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_audit(lines: &[AuditEntry]) {
    for a in lines {
        println!(
            "{}  #{:<5} {:<10} {:<18} {}",
            when(a.at),
            a.incident_id.map(|i| i.to_string()).unwrap_or_default(),
            a.actor,
            a.action,
            a.detail
        );
    }
}

async fn show(s: &Setup, reference: &str, json: bool) -> anyhow::Result<ExitCode> {
    let i = find(s, reference).await?;
    let inc = s.store()?.incidents();
    let ops = inc.ops(i.id).await?;
    let mut audit = inc.audit(Some(i.id), 500).await?;
    audit.reverse();
    let contained = inc
        .containment(std::slice::from_ref(&i))
        .await?
        .remove(&i.id)
        .unwrap_or_default();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "incident": i, "containment": contained, "operations": ops, "audit": audit
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("incident #{} ({}, {})", i.id, i.status, i.severity);
    println!("  title:        {}", i.title);
    println!("  tenant:       {}", i.tenant);
    println!(
        "  host:         {} ({})",
        i.hostname.as_deref().unwrap_or("-"),
        i.connector_guid.as_deref().unwrap_or("-")
    );
    println!("  rule:         {}", i.rule);
    println!(
        "  correlation:  {} (key {})",
        i.correlation_id, i.correlation_key
    );
    println!("  events:       {}", i.event_count);
    println!(
        "  ServiceNow:   {}",
        i.snow_number.as_deref().unwrap_or("(not yet)")
    );
    println!(
        "  XDR:          {}",
        i.xdr_id
            .as_deref()
            .map(xdr::short_id)
            .unwrap_or("(not yet)")
    );
    println!("  containment:  {}", contained.short);
    for line in &contained.lines {
        println!("                {line}");
    }
    if let Some((state, since)) = i.isolation_pending() {
        let mins = (sebridge::store::now_millis() - since).max(0) / 60_000;
        println!(
            "  isolation:    {state} since {} ({mins} min): the host's connector has not checked in yet; sebridge keeps looking",
            when(since)
        );
    }
    if let Some(src) = &i.close_source {
        println!(
            "  closed by:    {src} ({})",
            i.close_code.as_deref().unwrap_or("no close code")
        );
    }
    println!("\noperations:");
    for o in &ops {
        println!(
            "  {:<14} {:<10} {:<8} attempts {:>2}{}",
            o.kind,
            o.lane,
            o.status,
            o.attempts,
            o.last_error
                .as_deref()
                .map(|e| if e.starts_with("waiting: ") {
                    format!("  {e}")
                } else {
                    format!("  last error: {e}")
                })
                .unwrap_or_default()
        );
    }
    println!("\naudit:");
    print_audit(&audit);
    Ok(ExitCode::SUCCESS)
}

async fn close(
    s: &Setup,
    reference: &str,
    code: Option<String>,
    notes: Option<String>,
    wait: Duration,
) -> anyhow::Result<ExitCode> {
    let Some(icfg) = &s.config.incidents else {
        return Err(usage(format!(
            "{} has no [incidents] section",
            s.config.path.display()
        )));
    };
    let id = find(s, reference).await?.id;
    let store = s.store()?;
    let tenants = s.tenants().await?;
    let service = IncidentService::new(icfg, store, &tenants)?;
    let inc = store.incidents();
    let info = CloseInfo {
        close_code: Some(code.unwrap_or_else(|| "Solution provided".into())),
        close_notes: Some(notes.unwrap_or_else(|| "Closed with `sebridge incidents close`".into())),
        closed_at: now_millis(),
        resolve_ticket: true,
    };
    match inc.close(id, "cli", &info).await? {
        CloseResult::NotFound => return Err(usage(format!("no incident #{id}"))),
        CloseResult::AlreadyClosed => {
            println!("incident #{id} is already closing or closed: nothing to do");
            return Ok(ExitCode::SUCCESS);
        }
        CloseResult::Closing => println!("incident #{id}: closing"),
    }
    // Work this incident's closing steps now (leased, so a running service never does the
    // same step at the same time).
    let deadline = Instant::now() + wait;
    loop {
        let ops = inc
            .claim_due(now_millis(), 120_000, 16, Some(id))
            .await
            .context("reading the outbox")?;
        for op in ops {
            executor::execute(service.ctx.clone(), op).await;
        }
        let row = inc.get(id).await?.context("incident vanished")?;
        if row.status == "closed" || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let row = inc.get(id).await?.context("incident vanished")?;
    let mut audit = inc.audit(Some(id), 20).await?;
    audit.reverse();
    print_audit(
        &audit
            .into_iter()
            .filter(|a| a.at >= info.closed_at)
            .collect::<Vec<_>>(),
    );
    if row.status == "closed" {
        println!("incident #{id} closed ({})", containment(s, &row).await?);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "incident #{id} is still {}: the remaining steps are retried by `sebridge run` (see `sebridge incidents show {id}`)",
            row.status
        );
        Ok(ExitCode::from(1))
    }
}

pub async fn audit(args: AuditArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let s = setup(config_path, Secrets::StoreOnly, StoreNeed::Existing).await?;
    let lines = async {
        let id = match &args.incident {
            Some(r) => Some(find(&s, r).await?.id),
            None => None,
        };
        Ok::<_, anyhow::Error>(s.store()?.incidents().audit(id, args.limit).await?)
    }
    .await;
    s.close().await;
    let mut lines = lines?;
    lines.reverse();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
    } else if lines.is_empty() {
        println!("(no audit entries)");
    } else {
        print_audit(&lines);
    }
    Ok(ExitCode::SUCCESS)
}

//! `sebridge incidents list|show|close` and `sebridge audit`.

use super::load_config;
use anyhow::{bail, Context};
use sebridge::incidents::store::{AuditEntry, CloseInfo, CloseResult, IncidentRow};
use sebridge::incidents::{executor, IncidentService};
use sebridge::store::now_millis;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    pub command: IncidentsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        /// open, closing or closed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One incident: tickets, containment, events, operations and audit trail.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Close an incident from here: resolves the ServiceNow ticket, closes the XDR incident,
    /// stops the isolation sebridge started and moves the host back to its group.
    Close {
        id: i64,
        /// ServiceNow close code (default "Solution provided").
        #[arg(long)]
        code: Option<String>,
        /// Close notes.
        #[arg(long)]
        notes: Option<String>,
        /// How long to work the closing steps before leaving them to the running service.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Only this incident's trail.
    #[arg(long)]
    pub incident: Option<i64>,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn containment(i: &IncidentRow) -> String {
    let mut parts = Vec::new();
    match i.isolation_pending() {
        Some(("pending_start", _)) => parts.push("ISOLATION PENDING"),
        Some(_) => parts.push("RELEASE PENDING"),
        None if i.isolated_by_us => parts.push(if i.isolation_released {
            "isolation released"
        } else {
            "ISOLATED"
        }),
        None => {}
    }
    if i.moved_by_us {
        parts.push(if i.group_restored {
            "group restored"
        } else {
            "IN TRIAGE"
        });
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
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
    match args.command {
        IncidentsCommand::List {
            status,
            tenant,
            limit,
            json,
        } => list(config_path, status, tenant, limit, json).await,
        IncidentsCommand::Show { id, json } => show(config_path, id, json).await,
        IncidentsCommand::Close {
            id,
            code,
            notes,
            wait,
        } => close(config_path, id, code, notes, wait).await,
    }
}

async fn list(
    config_path: &Path,
    status: Option<String>,
    tenant: Option<String>,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Some(s) = &status {
        if !matches!(s.as_str(), "open" | "closing" | "closed") {
            bail!("--status must be open, closing or closed");
        }
    }
    let store = sebridge::topology::open_store(&config).await?;
    let rows = store
        .incidents()
        .list(status.as_deref(), tenant.as_deref(), limit)
        .await?;
    store.close().await;
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
            containment(i),
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

async fn show(config_path: &Path, id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = sebridge::topology::open_store(&config).await?;
    let inc = store.incidents();
    let Some(i) = inc.get(id).await? else {
        store.close().await;
        bail!("no incident #{id}");
    };
    let ops = inc.ops(id).await?;
    let mut audit = inc.audit(Some(id), 500).await?;
    audit.reverse();
    store.close().await;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "incident": i, "operations": ops, "audit": audit })
            )?
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
    println!("  containment:  {}", containment(&i));
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
    config_path: &Path,
    id: i64,
    code: Option<String>,
    notes: Option<String>,
    wait: Duration,
) -> anyhow::Result<ExitCode> {
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let Some(icfg) = &config.incidents else {
        bail!("{} has no [incidents] section", config.path.display());
    };
    let store = sebridge::topology::open_store(&config).await?;
    let tenants = sebridge::tenants::resolve_all(&config, &store).await?;
    let service = IncidentService::new(icfg, &store, &tenants)?;
    let inc = store.incidents();
    let info = CloseInfo {
        close_code: Some(code.unwrap_or_else(|| "Solution provided".into())),
        close_notes: Some(notes.unwrap_or_else(|| "Closed with `sebridge incidents close`".into())),
        closed_at: now_millis(),
        resolve_ticket: true,
    };
    match inc.close(id, "cli", &info).await? {
        CloseResult::NotFound => {
            store.close().await;
            bail!("no incident #{id}");
        }
        CloseResult::AlreadyClosed => {
            println!("incident #{id} is already closing or closed: nothing to do");
            store.close().await;
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
    store.close().await;
    print_audit(
        &audit
            .into_iter()
            .filter(|a| a.at >= info.closed_at)
            .collect::<Vec<_>>(),
    );
    if row.status == "closed" {
        println!("incident #{id} closed ({})", containment(&row));
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
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = sebridge::topology::open_store(&config).await?;
    let mut lines = store.incidents().audit(args.incident, args.limit).await?;
    store.close().await;
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

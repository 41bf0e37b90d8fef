//! `sebridge event-types` and `sebridge events`: one-off queries.

use super::setup::{setup, usage, Secrets};
use anyhow::Context;
use sebridge::topology::StoreNeed;
use secure_endpoint::{Event, EventsQuery, MAX_PAGE_SIZE};
use std::path::Path;
use std::process::ExitCode;
use time::OffsetDateTime;

#[derive(clap::Args, Debug)]
pub struct EventTypesArgs {
    /// The tenant (as `sebridge tenants list` shows it).
    #[arg(long, value_name = "NAME")]
    pub tenant: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// The tenant (as `sebridge tenants list` shows it).
    #[arg(long, value_name = "NAME")]
    pub tenant: String,
    /// Start: RFC 3339 time ("2024-05-01T00:00:00Z") or a duration back from now ("2h").
    #[arg(long, value_name = "TIME", value_parser = super::args::since)]
    pub since: Option<OffsetDateTime>,
    /// Event type id or name (repeatable).
    #[arg(long = "type", value_name = "ID|NAME")]
    pub types: Vec<String>,
    /// Group GUID (repeatable).
    #[arg(long = "group", value_name = "GUID")]
    pub groups: Vec<String>,
    /// Connector GUID (repeatable).
    #[arg(long = "computer", value_name = "GUID")]
    pub computers: Vec<String>,
    /// At most this many events (newest first).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print the vendor's JSON, one event per line.
    #[arg(long)]
    pub json: bool,
}

/// The API client of one tenant: the store only read (for its tenants), and only this
/// tenant's credentials needed.
async fn client_of(config_path: &Path, tenant: &str) -> anyhow::Result<secure_endpoint::Client> {
    let s = setup(config_path, Secrets::StoreOnly, StoreNeed::IfExists).await?;
    let client = s.client(tenant).await;
    s.close().await;
    client
}

pub async fn event_types(args: EventTypesArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let client = client_of(config_path, &args.tenant).await?;
    let types = client
        .event_types()
        .await
        .context("GET /v1/event_types failed")?
        .data;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&types)?);
    } else {
        println!("{:<12} {:<45} DESCRIPTION", "ID", "NAME");
        for t in types {
            println!(
                "{:<12} {:<45} {}",
                t.id,
                t.name,
                t.description.unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn events(args: EventsArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let client = client_of(config_path, &args.tenant).await?;
    let mut event_types = Vec::new();
    let mut names = Vec::new();
    for t in &args.types {
        match t.parse::<u64>() {
            Ok(id) => event_types.push(id),
            Err(_) => names.push(t.clone()),
        }
    }
    if !names.is_empty() {
        let known = client
            .event_types()
            .await
            .context("GET /v1/event_types failed")?
            .data;
        for n in names {
            match known.iter().find(|k| k.name.eq_ignore_ascii_case(&n)) {
                Some(k) => event_types.push(k.id),
                None => {
                    return Err(usage(format!(
                        "unknown event type {n:?}; `sebridge event-types --tenant {}` lists them",
                        args.tenant
                    )))
                }
            }
        }
    }
    let query = EventsQuery {
        event_types,
        group_guids: args.groups.clone(),
        connector_guids: args.computers.clone(),
        start_date: args.since,
        limit: Some(
            u32::try_from(args.limit.clamp(1, MAX_PAGE_SIZE as usize)).unwrap_or(MAX_PAGE_SIZE),
        ),
        ..EventsQuery::default()
    };
    let mut pager = client.events_pager(query);
    let mut printed = 0;
    if !args.json {
        println!(
            "{:<25} {:<11} {:<32} {:<9} {:<20} DETECTION / FILE",
            "DATE", "TYPE ID", "TYPE", "SEVERITY", "HOST"
        );
    }
    'pages: while let Some(page) = pager.next_page().await {
        let page = page.context("GET /v1/events failed")?.data;
        for r in &page.rejected {
            eprintln!(
                "warning: skipped an item that is not a valid event ({})",
                r.reason
            );
        }
        for e in &page.events {
            if printed >= args.limit {
                break 'pages;
            }
            print_event(e, args.json);
            printed += 1;
        }
    }
    if !args.json {
        eprintln!("{printed} event(s)");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_event(e: &Event, json: bool) {
    if json {
        println!("{}", e.raw().replace(['\n', '\r'], " "));
        return;
    }
    let date = e
        .time()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let what = e
        .detection
        .clone()
        .or_else(|| e.sha256.clone())
        .unwrap_or_default();
    println!(
        "{:<25} {:<11} {:<32} {:<9} {:<20} {}",
        date,
        e.event_type_id,
        truncate(e.event_type.as_deref().unwrap_or(""), 32),
        e.severity.map(|s| s.as_str()).unwrap_or("-"),
        truncate(e.hostname.as_deref().unwrap_or(""), 20),
        what
    );
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

//! `sebridge streams create|list|delete`: a tenant's Event Streams, with their AMQP
//! credentials stored encrypted (the API shows the password only once, at creation).

use super::setup::{setup, usage, Secrets};
use anyhow::Context;
use clap::Subcommand;
use sebridge::sources::stream::credentials as stored;
use sebridge::topology::StoreNeed;
use secure_endpoint::{EventType, NewEventStream};
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct StreamsArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Create an event stream (POST /v1/event_streams) and store its AMQP credentials encrypted.
    Create {
        /// The tenant (as `sebridge tenants list` shows it).
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// Stream name (unique per tenant here).
        #[arg(long)]
        name: String,
        /// Only these event types: ids or names as listed by `sebridge event-types` (repeatable;
        /// default all).
        #[arg(long = "event-type", value_name = "ID|NAME")]
        event_types: Vec<String>,
        /// Only events of these group GUIDs (repeatable; default all).
        #[arg(long = "group", value_name = "GUID")]
        groups: Vec<String>,
    },
    /// List the stored streams (no secrets); with --remote, also what the API lists.
    List {
        /// Only this tenant's streams.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// Also ask the API (GET /v1/event_streams) for each tenant with stored streams, or for
        /// --tenant.
        #[arg(long)]
        remote: bool,
    },
    /// Delete a stream (DELETE /v1/event_streams/{id}) and its stored credentials.
    Delete {
        /// The tenant (as `sebridge tenants list` shows it).
        #[arg(long, value_name = "NAME")]
        tenant: String,
        /// The stream's name (as `sebridge streams list` shows it).
        #[arg(long)]
        name: String,
    },
}

/// Event type ids from ids or names (names resolved with the tenant's /v1/event_types).
async fn resolve_types(
    client: &secure_endpoint::Client,
    given: &[String],
) -> anyhow::Result<Vec<u64>> {
    if given.is_empty() {
        return Ok(Vec::new());
    }
    let mut known: Option<Vec<EventType>> = None;
    let mut out = Vec::new();
    for g in given {
        let id = match g.trim().parse::<u64>() {
            Ok(id) => id,
            Err(_) => {
                if known.is_none() {
                    known = Some(
                        client
                            .event_types()
                            .await
                            .context("cannot list event types to resolve names")?
                            .data,
                    );
                }
                let list = known.as_deref().unwrap_or_default();
                list.iter()
                    .find(|t| t.name.eq_ignore_ascii_case(g.trim()))
                    .map(|t| t.id)
                    .ok_or_else(|| {
                        usage(format!(
                            "unknown event type {g:?} (see `sebridge event-types`)"
                        ))
                    })?
            }
        };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

pub async fn run(args: StreamsArgs, config_path: &Path) -> anyhow::Result<ExitCode> {
    let need = match &args.action {
        Action::Create { .. } => StoreNeed::Create,
        Action::List { .. } | Action::Delete { .. } => StoreNeed::Existing,
    };
    let s = setup(config_path, Secrets::StoreOnly, need).await?;
    let result = streams(&s, args.action).await;
    s.close().await;
    result
}

async fn streams(s: &super::setup::Setup, action: Action) -> anyhow::Result<ExitCode> {
    let (config, store) = (&s.config, s.store()?);
    match action {
        Action::Create {
            tenant,
            name,
            event_types,
            groups,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(usage("the stream name is empty"));
            }
            s.known_tenant(&tenant)?;
            // Refuse before creating anything remote: a stream whose password we could not
            // keep is useless (the API cannot show it again).
            if store
                .streams(Some(&tenant))
                .await?
                .iter()
                .any(|s| s.name == name)
            {
                return Err(usage(format!(
                    "tenant {tenant} already has a stored stream named {name:?}"
                )));
            }
            sebridge::tenants::master_key(config, true)
                .context("the master key is needed to store the stream's password")?;
            let client = s.client(&tenant).await?;
            let types = resolve_types(&client, &event_types).await?;
            let groups: Vec<String> = groups
                .iter()
                .map(|g| g.trim().to_ascii_lowercase())
                .collect();
            let created = client
                .create_event_stream(&NewEventStream {
                    name: name.clone(),
                    event_types: types.clone(),
                    group_guids: groups.clone(),
                })
                .await
                .context("the API refused to create the event stream")?
                .data;
            if let Err(e) =
                stored::save_created(config, store, &tenant, &created, &types, &groups).await
            {
                // The password exists nowhere else: delete the stream rather than leave one
                // nobody can consume.
                let undo = client.delete_event_stream(created.id).await;
                return Err(anyhow::anyhow!(e)).context(match undo {
                    Ok(()) => format!(
                        "cannot store the credentials of stream {}; it was deleted again",
                        created.id
                    ),
                    Err(u) => format!(
                        "cannot store the credentials of stream {} and deleting it failed too \
                         ({u}); delete it by hand",
                        created.id
                    ),
                });
            }
            let c = &created.amqp_credentials;
            println!(
                "stream {name} created for tenant {tenant}: id {}, queue {}, {}://{}:{} \
                 (credentials stored encrypted)",
                created.id, c.queue_name, c.proto, c.host, c.port
            );
            println!(
                "consume it with a source of type = \"stream\", or watch it with \
                 `sebridge tail --tenant {tenant} --stream {name}`"
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::List { tenant, remote } => {
            if let Some(t) = &tenant {
                s.known_tenant(t)?;
            }
            let rows = store.streams(tenant.as_deref()).await?;
            println!(
                "{:<20} {:<20} {:>12} {:<28} {:<40} FILTERS",
                "TENANT", "NAME", "ID", "QUEUE", "BROKER"
            );
            for s in &rows {
                let filters = match (s.event_types.is_empty(), s.group_guids.is_empty()) {
                    (true, true) => "all events".to_string(),
                    _ => format!("types {:?} groups {:?}", s.event_types, s.group_guids),
                };
                println!(
                    "{:<20} {:<20} {:>12} {:<28} {:<40} {filters}",
                    s.tenant,
                    s.name,
                    s.stream_id,
                    s.queue_name,
                    format!("{}://{}:{}", s.proto, s.host, s.port)
                );
            }
            if remote {
                let mut tenants: Vec<String> = rows.iter().map(|s| s.tenant.clone()).collect();
                if let Some(t) = &tenant {
                    tenants.push(t.clone());
                }
                tenants.sort();
                tenants.dedup();
                for t in tenants {
                    let client = s.client(&t).await?;
                    let listed = client.event_streams().await?.data;
                    println!("\nAPI streams of {t}:");
                    for s in listed {
                        let here = rows.iter().any(|r| r.tenant == t && r.stream_id == s.id);
                        println!(
                            "  {:>12} {:<20} {}{}",
                            s.id,
                            s.name,
                            s.amqp_credentials.queue_name,
                            if here {
                                ""
                            } else {
                                "  (credentials not stored here)"
                            }
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Delete { tenant, name } => {
            s.known_tenant(&tenant)?;
            let found = store
                .streams(Some(&tenant))
                .await?
                .into_iter()
                .find(|s| s.name == name);
            let Some(found) = found else {
                return Err(usage(format!("tenant {tenant} has no stored stream named {name:?} (see `sebridge streams list`)")));
            };
            let client = s.client(&tenant).await?;
            match client.delete_event_stream(found.stream_id).await {
                Ok(()) => {}
                // Already gone on the API side: just forget the credentials.
                Err(secure_endpoint::Error::NotFound { .. }) => {
                    eprintln!(
                        "stream {} was already deleted on the API side",
                        found.stream_id
                    )
                }
                Err(e) => {
                    return Err(e).context("the API refused to delete the stream");
                }
            }
            store.remove_stream(&tenant, found.stream_id).await?;
            println!(
                "stream {name} (id {}) of tenant {tenant} deleted",
                found.stream_id
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

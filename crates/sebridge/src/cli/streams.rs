//! `sebridge streams create|list|delete`: a tenant's Event Streams, with their AMQP
//! credentials stored encrypted (the API shows the password only once, at creation).

use super::{load_config, tenant_client};
use anyhow::{bail, Context};
use clap::Subcommand;
use sebridge::sources::stream::credentials as stored;
use sebridge::topology::open_store;
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
        #[arg(long)]
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
        #[arg(long)]
        tenant: Option<String>,
        /// Also ask the API (GET /v1/event_streams) for each tenant with stored streams, or for
        /// --tenant.
        #[arg(long)]
        remote: bool,
    },
    /// Delete a stream (DELETE /v1/event_streams/{id}) and its stored credentials.
    Delete {
        #[arg(long)]
        tenant: String,
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
                    .with_context(|| {
                        format!("unknown event type {g:?} (see `sebridge event-types`)")
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
    let config = match load_config(config_path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    match args.action {
        Action::Create {
            tenant,
            name,
            event_types,
            groups,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() {
                bail!("the stream name is empty");
            }
            let store = open_store(&config).await?;
            // Refuse before creating anything remote: a stream whose password we could not
            // keep is useless (the API cannot show it again).
            if store
                .streams(Some(&tenant))
                .await?
                .iter()
                .any(|s| s.name == name)
            {
                store.close().await;
                bail!("tenant {tenant} already has a stored stream named {name:?}");
            }
            sebridge::tenants::master_key(&config, true)
                .context("the master key is needed to store the stream's password")?;
            let client = tenant_client(&config, &tenant).await?;
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
                stored::save_created(&config, &store, &tenant, &created, &types, &groups).await
            {
                // The password exists nowhere else: delete the stream rather than leave one
                // nobody can consume.
                let undo = client.delete_event_stream(created.id).await;
                store.close().await;
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
            store.close().await;
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
            let store = open_store(&config).await?;
            let rows = store.streams(tenant.as_deref()).await?;
            store.close().await;
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
                    let client = tenant_client(&config, &t).await?;
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
            let store = open_store(&config).await?;
            let found = store
                .streams(Some(&tenant))
                .await?
                .into_iter()
                .find(|s| s.name == name);
            let Some(s) = found else {
                store.close().await;
                bail!("tenant {tenant} has no stored stream named {name:?} (see `sebridge streams list`)");
            };
            let client = tenant_client(&config, &tenant).await?;
            match client.delete_event_stream(s.stream_id).await {
                Ok(()) => {}
                // Already gone on the API side: just forget the credentials.
                Err(secure_endpoint::Error::NotFound { .. }) => {
                    eprintln!("stream {} was already deleted on the API side", s.stream_id)
                }
                Err(e) => {
                    store.close().await;
                    return Err(e).context("the API refused to delete the stream");
                }
            }
            store.remove_stream(&tenant, s.stream_id).await?;
            store.close().await;
            println!(
                "stream {name} (id {}) of tenant {tenant} deleted",
                s.stream_id
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! The demo's stream path: when RabbitMQ answers on 127.0.0.1:5672, the simulator serves
//! Event Streams there, every tenant gets a stream (created through the API, credentials
//! stored encrypted, as `sebridge streams create` does) and the config gains a stream source.
//! Live events then arrive by AMQP push; the poll source still backfills the history and
//! fills any gap (duplicates fold in the journal).

use anyhow::Context;
use sebridge::config::Config;
use simulator::{AmqpConfig, SimHandle, StreamUsers};
use std::path::Path;
use std::time::Duration;

/// The local broker's default login.
pub const LOCAL_AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The simulator's broker settings when RabbitMQ is reachable (and its login works).
pub async fn detect() -> Option<AmqpConfig> {
    let connect = lapin::Connection::connect(LOCAL_AMQP, lapin::ConnectionProperties::default());
    match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(conn)) => {
            let _ = conn.close(200, "bye".into()).await;
            Some(AmqpConfig {
                users: StreamUsers::detect().await,
                ..AmqpConfig::local(LOCAL_AMQP)
            })
        }
        _ => None,
    }
}

/// Appends a stream source to the written config, creates one stream per tenant and stores
/// its credentials. Returns the reloaded config.
pub async fn enable(sim: &SimHandle, config_path: &Path) -> anyhow::Result<Config> {
    let mut text = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    text.push_str(
        "\n# Event Streams (AMQP push) from the local RabbitMQ; poll above fills gaps.\n",
    );
    text.push_str("[sources.stream]\ntype = \"stream\"\n");
    std::fs::write(config_path, text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let config = Config::load(config_path)
        .map_err(|e| anyhow::anyhow!("the demo config is invalid:\n{e}"))?;
    let store = sebridge::topology::open_store(&config).await?;
    let tenants = sebridge::tenants::resolve_all(&config, &store).await?;
    let http = secure_endpoint::default_http_client(Duration::from_secs(30))?;
    for t in &sim.tenants() {
        let resolved = tenants
            .iter()
            .find(|r| r.name == t.name)
            .context("simulator tenant missing from the config")?;
        let client = sebridge::tenants::api_client(resolved, &http)?;
        let created = client
            .create_event_stream(&secure_endpoint::NewEventStream {
                name: "demo".into(),
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot create the event stream of {}", t.name))?
            .data;
        sebridge::sources::stream::credentials::save_created(
            &config,
            &store,
            &t.name,
            &created,
            &[],
            &[],
        )
        .await?;
    }
    store.close().await;
    Ok(config)
}

//! One scenario's world: the simulator (in this process: it is the ground truth), Splunk HEC
//! and Elasticsearch receivers, a PostgreSQL schema for the PostgreSQL sink, proxies that
//! can take a sink or ServiceNow/XDR down, Event Streams on the real RabbitMQ, and the
//! sebridge config that ties them together.

use std::net::ToSocketAddrs as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _};
use simulator::receivers::{elastic, hec};
use simulator::{AmqpConfig, SimConfig, SimHandle, StreamUsers};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::proxy::Proxy;

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// `host:port` of [`pg_url`] (the part the proxy replaces).
fn pg_host_port() -> String {
    let url = pg_url();
    let after = url.split_once('@').map_or(url.as_str(), |(_, r)| r);
    let after = after.split_once("://").map_or(after, |(_, r)| r);
    after.split('/').next().unwrap_or_default().to_string()
}

pub fn pg_url() -> String {
    std::env::var("SEBRIDGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Drops the schemas of earlier harness runs that were killed before they could clean up
/// (`chaos_<row>_<pid>`, the process gone).
async fn drop_stale_schemas(pg: &PgPool) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name LIKE 'chaos\\_%'",
    )
    .fetch_all(pg)
    .await
    .unwrap_or_default();
    for name in names {
        let pid = name.rsplit('_').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
        // Only names of our own shape, so nothing else in the database is touched.
        let ours = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if pid.is_some() && !alive && ours {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(pg)
            .await;
        }
    }
}

/// What a scenario needs.
#[derive(Clone, Debug)]
pub struct Spec {
    pub tenants: usize,
    /// Events per tenant in the history the poll source backfills.
    pub history: usize,
    pub streams: bool,
    /// Splunk HEC and Elasticsearch sinks (behind proxies), besides file and PostgreSQL.
    pub siem: bool,
    pub incidents: bool,
    /// Where the store lives (e.g. a small tmpfs); default: the scenario's directory.
    pub store_dir: Option<PathBuf>,
    pub seed: u64,
}

pub struct World {
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub config: PathBuf,
    pub store: PathBuf,
    pub sim: SimHandle,
    pub pg: PgPool,
    pub schema: String,
    pub hec: Option<hec::HecReceiver>,
    pub es: Option<elastic::ElasticReceiver>,
    pub pg_proxy: Proxy,
    pub hec_proxy: Option<Proxy>,
    pub es_proxy: Option<Proxy>,
    /// ServiceNow and XDR are the simulator's; this proxy stands in front of both.
    pub integrations_proxy: Proxy,
    pub tenants: Vec<String>,
}

impl World {
    pub async fn start(name: &str, dir: &Path, bin: &Path, spec: &Spec) -> anyhow::Result<World> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let amqp = if spec.streams {
            Some(AmqpConfig {
                users: StreamUsers::detect().await,
                ..AmqpConfig::local(AMQP_URL)
            })
        } else {
            None
        };
        let sim = simulator::start(SimConfig {
            tenants: spec.tenants,
            history: spec.history,
            history_span: Duration::from_secs(3600),
            rate: 0.0,
            seed: spec.seed,
            amqp,
            ..SimConfig::default()
        })
        .await
        .context("cannot start the simulator (Event Streams need RabbitMQ at 127.0.0.1:5672)")?;
        let pg = PgPoolOptions::new()
            .max_connections(2)
            .connect(&pg_url())
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {}", pg_url()))?;
        drop_stale_schemas(&pg).await;
        let schema = format!("chaos_{}_{}", name.replace('-', "_"), std::process::id());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        )))
        .execute(&pg)
        .await?;
        let pg_target = pg_host_port()
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .context("cannot resolve host:port of the PostgreSQL URL")?;
        let pg_proxy = Proxy::start(pg_target).await?;
        let (hec, es, hec_proxy, es_proxy) = if spec.siem {
            let hec = hec::start(hec::HecConfig {
                keep_events: true,
                ..Default::default()
            })
            .await?;
            let es = elastic::start(elastic::ElasticConfig::default()).await?;
            let hp = Proxy::start(hec.addr()).await?;
            let ep = Proxy::start(es.addr()).await?;
            (Some(hec), Some(es), Some(hp), Some(ep))
        } else {
            (None, None, None, None)
        };
        let integrations_proxy = Proxy::start(sim.addr()).await?;
        let store_dir = spec.store_dir.clone().unwrap_or_else(|| dir.to_path_buf());
        let mut w = World {
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            config: dir.join("sebridge.toml"),
            store: store_dir.join("sebridge.db"),
            tenants: sim.tenants().into_iter().map(|t| t.name).collect(),
            sim,
            pg,
            schema,
            hec,
            es,
            pg_proxy,
            hec_proxy,
            es_proxy,
            integrations_proxy,
        };
        w.write_config(spec)?;
        if spec.streams {
            for t in w.tenants.clone() {
                w.cli(&["streams", "create", "--tenant", &t, "--name", "chaos"])?;
            }
        }
        Ok(w)
    }

    fn write_config(&mut self, spec: &Spec) -> anyhow::Result<()> {
        let mut s = format!(
            "[store]\npath = {:?}\n\n[secrets]\nkey_file = {:?}\n\n",
            self.store,
            self.dir.join("sebridge.key")
        );
        for t in self.sim.tenants() {
            s.push_str(&format!(
                "[tenants.{}]\nbase_url = {:?}\nclient_id = {:?}\napi_key = {:?}\n\n",
                t.name,
                self.sim.base_url(),
                t.client_id,
                t.api_key
            ));
        }
        s.push_str("[sources.poll]\ntype = \"poll\"\ninterval = \"1s\"\nlookback = \"2h\"\n\n");
        if spec.streams {
            s.push_str(
                "[sources.stream]\ntype = \"stream\"\nmax_backoff = \"2s\"\nconnect_timeout = \"5s\"\nheartbeat = \"5s\"\n\n",
            );
        }
        s.push_str(&format!(
            "[sinks.file]\ntype = \"file\"\npath = {:?}\nwrap = true\n\n",
            self.dir.join("events.jsonl")
        ));
        let pg = pg_url().replacen(&pg_host_port(), &self.pg_proxy.addr.to_string(), 1);
        s.push_str(&format!(
            "[sinks.pg]\ntype = \"postgres\"\nurl = {pg:?}\ntable = \"{}.events\"\nretry_max = \"2s\"\n\n",
            self.schema
        ));
        if let (Some(hec), Some(hp), Some(ep)) = (&self.hec, &self.hec_proxy, &self.es_proxy) {
            s.push_str(&format!(
                "[sinks.splunk]\ntype = \"splunk_hec\"\nurl = {:?}\ntoken = {:?}\nretry_max = \"2s\"\n\n\
                 [sinks.elastic]\ntype = \"elasticsearch\"\nurl = {:?}\napi_key = {:?}\nretry_max = \"2s\"\n\n",
                hp.url_for(&hec.url()),
                hec.token(),
                ep.url_for(&self.es.as_ref().map(|e| e.url()).unwrap_or_default()),
                elastic::ElasticConfig::default().api_key.unwrap_or_default(),
            ));
        }
        if spec.incidents {
            let i = self.sim.integrations();
            let base = self.integrations_proxy.url_for(&i.servicenow.instance_url);
            s.push_str(&format!(
                r#"[incidents]
note_interval = "2s"
reconcile_interval = "5s"

[incidents.servicenow]
instance_url = {base:?}
username = {:?}
password = {:?}
caller_id = "sebridge"

[incidents.xdr]
base_url = {base:?}
client_id = {:?}
client_password = {:?}

[incidents.rules.contain]
event_types = [1107296284, 1107296272]
isolate = true
triage_group = "Triage"

[incidents.rules.high-priority]
"#,
                i.servicenow.username,
                i.servicenow.password,
                i.xdr.client_id,
                i.xdr.client_password,
            ));
        }
        std::fs::write(&self.config, s)
            .with_context(|| format!("cannot write {}", self.config.display()))?;
        Ok(())
    }

    /// Runs a sebridge CLI command on this world's config; its output on success.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.bin)
            .args(args)
            .arg("-c")
            .arg(&self.config)
            .env_remove("SEBRIDGE_LOG")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "sebridge {} failed ({}): {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Every event id the simulator served, per tenant (events without an id excluded).
    pub fn truth(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let mut all = Vec::new();
        for t in &self.tenants {
            for id in self.sim.all_event_ids(t)?.into_iter().flatten() {
                all.push((t.clone(), id));
            }
        }
        Ok(all)
    }

    /// Adds `n` new events to each tenant (served by the API and published to the streams).
    pub fn burst(&self, n: usize) -> anyhow::Result<()> {
        for t in &self.tenants {
            self.sim.generate_events(t, n, None)?;
        }
        Ok(())
    }

    pub fn truth_count(&self) -> usize {
        self.tenants
            .iter()
            .filter_map(|t| self.sim.all_event_ids(t).ok())
            .map(|ids| ids.iter().flatten().count())
            .sum()
    }

    pub fn events_file(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    pub async fn pg_rows(&self) -> i64 {
        let q = format!("SELECT count(*) FROM {}.events", self.schema);
        sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .fetch_one(&self.pg)
            .await
            .unwrap_or(0)
    }

    pub async fn finish(self, keep: bool) {
        if !keep {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.schema
            )))
            .execute(&self.pg)
            .await;
        }
        self.pg.close().await;
        if let Some(h) = self.hec {
            h.shutdown().await;
        }
        if let Some(e) = self.es {
            e.shutdown().await;
        }
        self.sim.shutdown().await;
    }
}

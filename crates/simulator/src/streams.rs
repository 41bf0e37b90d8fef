//! Event Streams on a real RabbitMQ broker.
//!
//! Each stream is a durable queue `event_stream_<id>` bound to the topic exchange
//! `events_api_stream` (reference §7.2). Every event a tenant gets (generated, inserted,
//! replayed) is published once to that exchange as the real service does: routing key
//! `<org>.<connector_guid>.<event_type_id>`, header `CC: ["<routing key>.<group_guid>", ...]`,
//! `content_type = application/octet-stream`, `delivery_mode = 2`, `priority = 0`, body = the
//! same JSON text as the `/v1/events` item. RabbitMQ treats `CC` as extra routing keys
//! (sender-selected distribution), so a stream's filters are plain topic bindings:
//! `<org>.#` (everything), `<org>.*.<type>` (event types), `<org>.*.*.<group>` (groups),
//! `<org>.*.<type>.<group>` (both). The broker does the filtering and delivers a message
//! once per queue however many bindings match.
//!
//! Stream ids start at a random number per simulator, so `event_stream_<id>` keeps the real
//! name and stays unique among simulators sharing one broker (parallel tests); an id whose
//! queue already exists is skipped.
//!
//! Credentials: each stream gets its own broker user `<id>-<20 hex>` with a 40-hex password,
//! allowed to read its queue only (configure and write denied; a passive declare needs no
//! permission). Users are made with `rabbitmqctl` (password on stdin, never on a command
//! line). Where that is impossible ([`StreamUsers::Shared`]) the simulator hands out its own
//! broker login instead: a documented deviation for machines without broker admin rights.
//! Streams, queues and users are removed on `DELETE` and on [`crate::SimHandle::shutdown`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::StreamExt as _;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};

use crate::events::StoredEvent;

/// The exchange real streams are fed from.
pub const EXCHANGE: &str = "events_api_stream";
/// "max 5 event streams per organization" (reference §7.1).
pub const MAX_STREAMS_PER_ORG: usize = 5;
/// Events live 10 days in a stream's queue (reference §7.1).
const MESSAGE_TTL_MS: i64 = 10 * 24 * 3600 * 1000;
/// Messages published per confirm round.
const PUBLISH_BATCH: usize = 500;

/// How stream users are made on the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamUsers {
    /// `rabbitmqctl add_user` / `set_permissions` / `delete_user` (needs broker admin rights,
    /// e.g. root on the broker's machine).
    Rabbitmqctl {
        /// The program (`rabbitmqctl`).
        program: PathBuf,
        /// `-n <node>`, for a node other than the default one.
        node: Option<String>,
        /// `HOME` for the command (where the node's Erlang cookie is), when not the default.
        home: Option<PathBuf>,
    },
    /// Every stream gets the simulator's own broker login (deviation from the real service,
    /// where each stream has its own user).
    Shared,
}

impl StreamUsers {
    /// `rabbitmqctl` on the default node.
    pub fn rabbitmqctl() -> StreamUsers {
        StreamUsers::Rabbitmqctl {
            program: PathBuf::from("rabbitmqctl"),
            node: None,
            home: None,
        }
    }

    /// `rabbitmqctl` when it can talk to the broker (checked with `list_users`), else
    /// [`StreamUsers::Shared`].
    pub async fn detect() -> StreamUsers {
        let ctl = Self::rabbitmqctl();
        match ctl.run(&["-q", "list_users"], None).await {
            Ok(_) => ctl,
            Err(e) => {
                tracing::warn!(error = %e, "rabbitmqctl unusable: event streams share the simulator's broker login");
                StreamUsers::Shared
            }
        }
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let StreamUsers::Rabbitmqctl {
            program,
            node,
            home,
        } = self
        else {
            return Ok(String::new());
        };
        let mut cmd = tokio::process::Command::new(program);
        if let Some(n) = node {
            cmd.arg("-n").arg(n);
        }
        if let Some(h) = home {
            cmd.env("HOME", h);
        }
        cmd.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let what = args
            .iter()
            .find(|a| !a.starts_with('-'))
            .copied()
            .unwrap_or("?");
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if let Some(mut pipe) = child.stdin.take() {
            use tokio::io::AsyncWriteExt as _;
            if let Some(text) = stdin {
                pipe.write_all(text.as_bytes())
                    .await
                    .map_err(|e| format!("rabbitmqctl {what}: {e}"))?;
            }
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .map_err(|_| format!("rabbitmqctl {what} took more than 60 s"))?
            .map_err(|e| format!("rabbitmqctl {what}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "rabbitmqctl {what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Blocking variant for cleanup from `Drop`.
    fn run_blocking(&self, args: &[&str]) {
        let StreamUsers::Rabbitmqctl {
            program,
            node,
            home,
        } = self
        else {
            return;
        };
        let mut cmd = std::process::Command::new(program);
        if let Some(n) = node {
            cmd.arg("-n").arg(n);
        }
        if let Some(h) = home {
            cmd.env("HOME", h);
        }
        let _ = cmd
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Where streams live.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// The broker login the simulator publishes and manages queues with
    /// (e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`).
    pub url: String,
    /// `host` handed out in `amqp_credentials` (default: the URL's host).
    pub host: Option<String>,
    /// `port` handed out (a string, as the API sends it; default: the URL's port).
    pub port: Option<String>,
    /// `proto` handed out: `"amqp"` for a plain local broker (default), `"https"` for TLS as
    /// the real service says.
    pub proto: String,
    /// How per-stream users are made.
    pub users: StreamUsers,
}

impl AmqpConfig {
    /// A local broker at `url`, plain AMQP, users made with `rabbitmqctl`.
    pub fn local(url: impl Into<String>) -> AmqpConfig {
        AmqpConfig {
            url: url.into(),
            host: None,
            port: None,
            proto: "amqp".into(),
            users: StreamUsers::rabbitmqctl(),
        }
    }
}

/// A stream as the simulator keeps it.
#[derive(Debug, Clone)]
pub(crate) struct StreamRec {
    pub id: u64,
    pub name: String,
    pub event_types: Vec<u64>,
    pub group_guids: Vec<String>,
    pub user_name: String,
    pub queue_name: String,
}

/// What the API answers for a stream (the password only at creation).
pub(crate) struct Credentials {
    pub user_name: String,
    pub password: Option<String>,
    pub queue_name: String,
    pub host: String,
    pub port: String,
    pub proto: String,
}

/// A message for the publisher task.
struct Outgoing {
    routing_key: String,
    cc: Vec<String>,
    body: Vec<u8>,
}

/// One tenant's hook into the broker: cheap when the tenant has no stream.
#[derive(Default)]
pub(crate) struct TenantStreams {
    active: AtomicUsize,
    tap: Mutex<Option<(String, Arc<Broker>)>>,
}

impl TenantStreams {
    /// Queues every event for publishing when the tenant has a stream. Called with the
    /// events about to be stored, so whatever `/v1/events` serves is also streamed.
    pub fn publish(&self, events: &[StoredEvent]) {
        if self.active.load(Ordering::Acquire) == 0 || events.is_empty() {
            return;
        }
        let Some((org, broker)) = self.tap.lock().clone() else {
            return;
        };
        for e in events {
            let routing_key = format!(
                "{org}.{}.{}",
                e.connector.as_deref().unwrap_or(""),
                e.type_id.map(|t| t.to_string()).unwrap_or_default()
            );
            let cc = e
                .groups
                .iter()
                .map(|g| format!("{routing_key}.{g}"))
                .collect();
            broker.enqueue(Outgoing {
                routing_key,
                cc,
                body: e.text.to_text().into_bytes(),
            });
        }
    }
}

/// Counters shared with the publisher task.
struct PublishState {
    enqueued: AtomicU64,
    confirmed: AtomicU64,
    progress: Notify,
}

/// The broker side of the simulator: publisher task, stream registry, users.
pub(crate) struct Broker {
    cfg: AmqpConfig,
    tx: mpsc::UnboundedSender<Outgoing>,
    state: Arc<PublishState>,
    next_id: AtomicU64,
    /// tenant name -> its streams.
    streams: Mutex<HashMap<String, Vec<StreamRec>>>,
    /// Serialises creations so the per-org limit holds under concurrent requests.
    create_lock: tokio::sync::Mutex<()>,
    publisher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    login: (String, String),
    default_host: String,
    default_port: u16,
}

#[derive(Debug)]
pub(crate) enum StreamError {
    /// 400 with these details.
    Invalid(Vec<String>),
    /// 400 "Event stream not found".
    NotFound,
    /// 503: the broker could not do it.
    Broker(String),
}

fn amqp_err(what: &str, e: impl std::fmt::Display) -> StreamError {
    StreamError::Broker(format!("{what}: {e}"))
}

impl Broker {
    /// Connects once (so a wrong URL fails the simulator's start), declares the exchange and
    /// starts the publisher.
    pub async fn start(cfg: AmqpConfig) -> Result<Arc<Broker>, String> {
        let uri: lapin::uri::AMQPUri = cfg
            .url
            .parse()
            .map_err(|e| format!("invalid AMQP URL: {e}"))?;
        let login = (
            uri.authority.userinfo.username.clone(),
            uri.authority.userinfo.password.clone(),
        );
        let conn = Connection::connect(&cfg.url, ConnectionProperties::default())
            .await
            .map_err(|e| format!("cannot connect to the AMQP broker: {e}"))?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| format!("AMQP channel: {e}"))?;
        declare_exchange(&ch)
            .await
            .map_err(|e| format!("cannot declare exchange {EXCHANGE}: {e}"))?;
        let _ = conn.close(200, "ok".into()).await;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(PublishState {
            enqueued: AtomicU64::new(0),
            confirmed: AtomicU64::new(0),
            progress: Notify::new(),
        });
        // Random base: ids (and so queue names) differ between simulators on one broker.
        let base = 1_000_000 + rand::random::<u64>() % 1_000_000_000;
        let broker = Arc::new(Broker {
            default_host: uri.authority.host.clone(),
            default_port: uri.authority.port,
            cfg,
            tx,
            state: state.clone(),
            next_id: AtomicU64::new(base),
            streams: Mutex::new(HashMap::new()),
            create_lock: tokio::sync::Mutex::new(()),
            publisher: Mutex::new(None),
            login,
        });
        let task = tokio::spawn(publisher_loop(broker.cfg.url.clone(), rx, state));
        *broker.publisher.lock() = Some(task);
        Ok(broker)
    }

    fn enqueue(&self, m: Outgoing) {
        self.state.enqueued.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(m).is_err() {
            // The publisher is gone (shutdown): count it as done so flush() does not hang.
            self.state.confirmed.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Waits until every event queued so far is confirmed by the broker (or `limit` passes).
    pub async fn flush(&self, limit: Duration) -> bool {
        let target = self.state.enqueued.load(Ordering::Acquire);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.state.progress.notified();
            if self.state.confirmed.load(Ordering::Acquire) >= target {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.state.confirmed.load(Ordering::Acquire) >= target;
            }
        }
    }

    /// Hooks a tenant to this broker.
    pub fn attach(self: &Arc<Self>, tenant: &TenantStreams, org: &str) {
        *tenant.tap.lock() = Some((org.to_string(), self.clone()));
    }

    pub fn list(&self, tenant: &str) -> Vec<StreamRec> {
        self.streams.lock().get(tenant).cloned().unwrap_or_default()
    }

    pub fn get(&self, tenant: &str, id: u64) -> Option<StreamRec> {
        self.list(tenant).into_iter().find(|s| s.id == id)
    }

    /// Every stream of every tenant (for tests and the control routes).
    pub fn all(&self) -> Vec<(String, StreamRec)> {
        let map = self.streams.lock();
        let mut out: Vec<_> = map
            .iter()
            .flat_map(|(t, v)| v.iter().map(move |s| (t.clone(), s.clone())))
            .collect();
        out.sort_by_key(|(_, s)| s.id);
        out
    }

    pub fn credentials(&self, rec: &StreamRec, password: Option<String>) -> Credentials {
        let user_name = match self.cfg.users {
            StreamUsers::Shared => self.login.0.clone(),
            StreamUsers::Rabbitmqctl { .. } => rec.user_name.clone(),
        };
        Credentials {
            user_name,
            password,
            queue_name: rec.queue_name.clone(),
            host: self
                .cfg
                .host
                .clone()
                .unwrap_or_else(|| self.default_host.clone()),
            port: self
                .cfg
                .port
                .clone()
                .unwrap_or_else(|| self.default_port.to_string()),
            proto: self.cfg.proto.clone(),
        }
    }

    async fn channel(&self) -> Result<(Connection, Channel), StreamError> {
        let conn = Connection::connect(&self.cfg.url, ConnectionProperties::default())
            .await
            .map_err(|e| amqp_err("AMQP broker unreachable", e))?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| amqp_err("AMQP channel", e))?;
        Ok((conn, ch))
    }

    /// Creates a stream: queue, bindings, user. `tenant_active` is bumped on success.
    pub async fn create(
        &self,
        tenant: &str,
        tenant_streams: &TenantStreams,
        org: &str,
        name: String,
        event_types: Vec<u64>,
        group_guids: Vec<String>,
    ) -> Result<(StreamRec, Credentials), StreamError> {
        let _guard = self.create_lock.lock().await;
        if self.list(tenant).len() >= MAX_STREAMS_PER_ORG {
            // The real status for a 6th stream is not documented (reference §12); 400 is what
            // the API uses for an invalid entity, and Cisco's own scripts only check for 2xx.
            return Err(StreamError::Invalid(vec![format!(
                "Event stream limit reached: an organization can have at most {MAX_STREAMS_PER_ORG} event streams"
            )]));
        }
        let (conn, _) = self.channel().await?;
        let (id, queue_name) = loop {
            let id = self.next_id.fetch_add(1, Ordering::AcqRel);
            let queue = format!("event_stream_{id}");
            // A passive declare succeeds when the queue exists (another simulator's stream).
            let probe = conn
                .create_channel()
                .await
                .map_err(|e| amqp_err("AMQP channel", e))?;
            let exists = probe
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .is_ok();
            if !exists {
                break (id, queue);
            }
            let _ = probe.close(200, "ok".into()).await;
        };
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| amqp_err("AMQP channel", e))?;
        let mut args = FieldTable::default();
        args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(MESSAGE_TTL_MS),
        );
        // Safety net for simulators killed before cleaning up: an unused queue goes away
        // after the same 10 days its messages would live.
        args.insert("x-expires".into(), AMQPValue::LongLongInt(MESSAGE_TTL_MS));
        ch.queue_declare(
            queue_name.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .map_err(|e| amqp_err("cannot declare the stream queue", e))?;
        let keys = binding_keys(org, &event_types, &group_guids);
        for key in &keys {
            if let Err(e) = ch
                .queue_bind(
                    queue_name.as_str().into(),
                    EXCHANGE.into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
            {
                let _ = self.delete_queue(&queue_name).await;
                return Err(amqp_err("cannot bind the stream queue", e));
            }
        }
        let user_name = format!("{id}-{}", random_hex(20));
        let password = match &self.cfg.users {
            StreamUsers::Shared => self.login.1.clone(),
            users => {
                let password = random_hex(40);
                let made = async {
                    users
                        .run(&["add_user", &user_name], Some(&password))
                        .await?;
                    let read = format!("^{queue_name}$");
                    users
                        .run(
                            &["set_permissions", "-p", "/", &user_name, "^$", "^$", &read],
                            None,
                        )
                        .await
                }
                .await;
                if let Err(e) = made {
                    let _ = users.run(&["delete_user", &user_name], None).await;
                    let _ = self.delete_queue(&queue_name).await;
                    return Err(StreamError::Broker(e));
                }
                password
            }
        };
        let _ = conn.close(200, "ok".into()).await;
        let rec = StreamRec {
            id,
            name,
            event_types,
            group_guids,
            user_name,
            queue_name,
        };
        self.streams
            .lock()
            .entry(tenant.to_string())
            .or_default()
            .push(rec.clone());
        tenant_streams.active.fetch_add(1, Ordering::AcqRel);
        let creds = self.credentials(&rec, Some(password));
        Ok((rec, creds))
    }

    /// Changes name and/or filters (bindings are replaced).
    pub async fn update(
        &self,
        tenant: &str,
        org: &str,
        id: u64,
        name: Option<String>,
        event_types: Option<Vec<u64>>,
        group_guids: Option<Vec<String>>,
    ) -> Result<StreamRec, StreamError> {
        let old = self.get(tenant, id).ok_or(StreamError::NotFound)?;
        let mut new = old.clone();
        if let Some(n) = name {
            new.name = n;
        }
        if let Some(t) = event_types {
            new.event_types = t;
        }
        if let Some(g) = group_guids {
            new.group_guids = g;
        }
        let old_keys = binding_keys(org, &old.event_types, &old.group_guids);
        let new_keys = binding_keys(org, &new.event_types, &new.group_guids);
        if old_keys != new_keys {
            let (conn, ch) = self.channel().await?;
            // Bind the new keys first, so no event in between matches neither set.
            for key in new_keys.iter().filter(|k| !old_keys.contains(k)) {
                ch.queue_bind(
                    new.queue_name.as_str().into(),
                    EXCHANGE.into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| amqp_err("cannot bind the stream queue", e))?;
            }
            for key in old_keys.iter().filter(|k| !new_keys.contains(k)) {
                ch.queue_unbind(
                    new.queue_name.as_str().into(),
                    EXCHANGE.into(),
                    key.as_str().into(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| amqp_err("cannot unbind the stream queue", e))?;
            }
            let _ = conn.close(200, "ok".into()).await;
        }
        let mut map = self.streams.lock();
        if let Some(s) = map
            .get_mut(tenant)
            .and_then(|v| v.iter_mut().find(|s| s.id == id))
        {
            *s = new.clone();
        }
        Ok(new)
    }

    /// Deletes a stream: its queue (with what is left in it) and its user.
    pub async fn delete(
        &self,
        tenant: &str,
        tenant_streams: &TenantStreams,
        id: u64,
    ) -> Result<(), StreamError> {
        let rec = self.get(tenant, id).ok_or(StreamError::NotFound)?;
        self.delete_queue(&rec.queue_name).await?;
        if let Err(e) = self
            .cfg
            .users
            .run(&["delete_user", &rec.user_name], None)
            .await
        {
            tracing::warn!(error = %e, user = %rec.user_name, "could not delete a stream user");
        }
        let mut map = self.streams.lock();
        if let Some(v) = map.get_mut(tenant) {
            v.retain(|s| s.id != id);
        }
        tenant_streams.active.fetch_sub(1, Ordering::AcqRel);
        Ok(())
    }

    async fn delete_queue(&self, queue: &str) -> Result<(), StreamError> {
        let (conn, ch) = self.channel().await?;
        ch.queue_delete(queue.into(), QueueDeleteOptions::default())
            .await
            .map_err(|e| amqp_err("cannot delete the stream queue", e))?;
        let _ = conn.close(200, "ok".into()).await;
        Ok(())
    }

    /// Removes every stream (queues and users) and stops the publisher after it has sent
    /// what is queued (bounded wait).
    pub async fn shutdown(&self) {
        self.flush(Duration::from_secs(5)).await;
        let all = std::mem::take(&mut *self.streams.lock());
        let recs: Vec<StreamRec> = all.into_values().flatten().collect();
        // A few at a time: every `rabbitmqctl` is an Erlang VM of ~50 MB and a second of CPU,
        // and a hundred streams at once once loaded the machine to 70.
        futures::stream::iter(&recs)
            .for_each_concurrent(4, |r| async move {
                let _ = self.delete_queue(&r.queue_name).await;
                let _ = self
                    .cfg
                    .users
                    .run(&["delete_user", &r.user_name], None)
                    .await;
            })
            .await;
        if let Some(t) = self.publisher.lock().take() {
            t.abort();
        }
    }

    /// Last-resort cleanup when the simulator is dropped without `shutdown` (no async
    /// runtime to rely on): users and queues go through `rabbitmqctl`.
    pub fn cleanup_blocking(&self) {
        if let Some(t) = self.publisher.lock().take() {
            t.abort();
        }
        let recs: Vec<StreamRec> = std::mem::take(&mut *self.streams.lock())
            .into_values()
            .flatten()
            .collect();
        if recs.is_empty() {
            return;
        }
        for r in &recs {
            self.cfg
                .users
                .run_blocking(&["delete_queue", &r.queue_name]);
            self.cfg.users.run_blocking(&["delete_user", &r.user_name]);
        }
    }
}

async fn declare_exchange(ch: &Channel) -> lapin::Result<()> {
    ch.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
}

/// Topic binding keys for a stream's filters (see the module docs).
pub(crate) fn binding_keys(org: &str, types: &[u64], groups: &[String]) -> Vec<String> {
    let mut keys = Vec::new();
    match (types.is_empty(), groups.is_empty()) {
        (true, true) => keys.push(format!("{org}.#")),
        (false, true) => keys.extend(types.iter().map(|t| format!("{org}.*.{t}"))),
        (true, false) => keys.extend(groups.iter().map(|g| format!("{org}.*.*.{g}"))),
        (false, false) => {
            for t in types {
                for g in groups {
                    keys.push(format!("{org}.*.{t}.{g}"));
                }
            }
        }
    }
    keys
}

fn random_hex(n: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..n)
        .map(|_| HEX[(rand::random::<u8>() & 15) as usize] as char)
        .collect()
}

fn properties(cc: &[String]) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_content_type(ShortString::from("application/octet-stream"))
        .with_delivery_mode(2)
        .with_priority(0);
    if !cc.is_empty() {
        let mut headers = FieldTable::default();
        let list: Vec<AMQPValue> = cc
            .iter()
            .map(|k| AMQPValue::LongString(LongString::from(k.as_str())))
            .collect();
        headers.insert("CC".into(), AMQPValue::FieldArray(FieldArray::from(list)));
        props = props.with_headers(headers);
    }
    props
}

/// Publishes queued events with confirms, in batches; on a broker failure reconnects (with
/// backoff) and publishes the unconfirmed batch again: at least once, as a real service
/// would, and the consumer's journal folds repeats away.
async fn publisher_loop(
    url: String,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    state: Arc<PublishState>,
) {
    let mut batch: Vec<Outgoing> = Vec::new();
    let mut chan: Option<(Connection, Channel)> = None;
    let mut failures = 0u32;
    loop {
        if batch.is_empty() {
            match rx.recv().await {
                Some(m) => batch.push(m),
                None => return,
            }
            while batch.len() < PUBLISH_BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
        }
        if chan
            .as_ref()
            .is_none_or(|(c, ch)| !c.status().connected() || !ch.status().connected())
        {
            chan = match connect_publisher(&url).await {
                Ok(c) => Some(c),
                Err(e) => {
                    failures += 1;
                    let delay = Duration::from_millis(200 * u64::from(failures.min(10)));
                    tracing::warn!(error = %e, retry_in = ?delay, "stream publisher cannot connect");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
        }
        let Some((_, ch)) = chan.as_ref() else {
            continue;
        };
        match publish_batch(ch, &batch).await {
            Ok(()) => {
                failures = 0;
                state
                    .confirmed
                    .fetch_add(batch.len() as u64, Ordering::AcqRel);
                state.progress.notify_waiters();
                batch.clear();
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "stream publish failed; republishing the batch after reconnecting");
                chan = None;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(10)))).await;
            }
        }
    }
}

async fn connect_publisher(url: &str) -> lapin::Result<(Connection, Channel)> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    declare_exchange(&ch).await?;
    Ok((conn, ch))
}

async fn publish_batch(ch: &Channel, batch: &[Outgoing]) -> Result<(), String> {
    let mut confirms = Vec::with_capacity(batch.len());
    for m in batch {
        let c = ch
            .basic_publish(
                EXCHANGE.into(),
                m.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &m.body,
                properties(&m.cc),
            )
            .await
            .map_err(|e| e.to_string())?;
        confirms.push(c);
    }
    for c in join_all(confirms).await {
        match c {
            Ok(conf) if conf.is_nack() => return Err("broker nacked a message".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_follow_the_filters() {
        assert_eq!(binding_keys("o", &[], &[]), vec!["o.#"]);
        assert_eq!(binding_keys("o", &[1, 2], &[]), vec!["o.*.1", "o.*.2"]);
        assert_eq!(binding_keys("o", &[], &["g".into()]), vec!["o.*.*.g"]);
        assert_eq!(
            binding_keys("o", &[1], &["g".into(), "h".into()]),
            vec!["o.*.1.g", "o.*.1.h"]
        );
    }
}

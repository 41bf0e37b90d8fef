//! `[store]`, `[secrets]` and `[server]`: where sebridge keeps its state and key, and its
//! HTTP endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::DeTable;

use super::de;
use super::reader::{fields, Ctx, Sec};

pub mod defaults {
    pub const SQLITE_PATH: &str = "sebridge.db";
    pub const KEY_FILE: &str = "sebridge.key";
}

/// `[store]`: where the journal and state live.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `kind = "sqlite"` (the default); `path` defaults to `sebridge.db` next to the config.
    Sqlite { path: PathBuf },
    /// `kind = "postgres"`: several replicas may share it. `schema` (created if missing)
    /// defaults to the server's search path.
    Postgres {
        url: de::Secret,
        schema: Option<String>,
    },
}

/// `[secrets]`: the master key file for credentials kept in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretsConfig {
    /// Defaults to `sebridge.key` next to the config.
    pub key_file: PathBuf,
}

/// `[server]`: the HTTP endpoint for metrics and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
}

/// `[store]` as written: which [`StoreConfig`] depends on `kind`.
#[derive(Deserialize)]
struct StoreDe {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "de::opt_path")]
    path: Option<PathBuf>,
    #[serde(default, deserialize_with = "opt_postgres_url")]
    url: Option<de::Secret>,
    #[serde(default, deserialize_with = "schema_name")]
    schema: Option<String>,
}

fn opt_postgres_url<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<de::Secret>, D::Error> {
    de::postgres_url(d).map(Some)
}

/// A plain identifier: it is quoted into `CREATE SCHEMA` and the search path.
fn schema_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let t = de::text(d)?;
    if crate::sinks::postgres::config::is_table_name(&t) && !t.contains('.') {
        return Ok(Some(t));
    }
    Err(serde::de::Error::custom(
        "@must be a-z, 0-9 and `_` (not starting with a digit, ≤ 63 characters)",
    ))
}

#[derive(Deserialize)]
struct SecretsDe {
    #[serde(default, deserialize_with = "de::opt_path")]
    key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct ServerDe {
    #[serde(default)]
    listen: Option<String>,
}

const STORE_KINDS: &[&str] = &["sqlite", "postgres"];

/// A table of the top level, read as `T`: `Some(None)` when absent.
fn section<T: serde::de::DeserializeOwned>(
    cx: &mut Ctx<'_>,
    root: &DeTable<'_>,
    key: &str,
) -> Option<Option<(T, Sec)>> {
    let what = format!("[{key}]");
    let Some((s, v)) = cx.sub_table(root, key, "the top level", &what, fields::<T>())? else {
        return Some(None);
    };
    Some(Some((cx.de(&s, v, &[])?, s)))
}

/// A path relative to the config's directory that must not be a directory.
fn path(
    cx: &mut Ctx<'_>,
    s: &Sec,
    key: &str,
    p: Option<PathBuf>,
    default: &str,
    expected: &str,
) -> Option<PathBuf> {
    let path = cx.base_dir.join(p.as_deref().unwrap_or(Path::new(default)));
    if s.has(key) && path.is_dir() {
        let m = format!(
            "`{key}` in {} is a directory ({}); expected {expected}",
            s.what,
            path.display()
        );
        cx.error(&s.val(key), m);
        return None;
    }
    Some(path)
}

pub(crate) fn store(cx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<StoreConfig> {
    let Some((raw, s)) = section::<StoreDe>(cx, root, "store")? else {
        let path = cx.base_dir.join(defaults::SQLITE_PATH);
        return Some(StoreConfig::Sqlite { path });
    };
    let span = s.val("kind");
    match raw.kind.as_deref().unwrap_or("sqlite") {
        "sqlite" => {
            for key in ["url", "schema"] {
                if s.has(key) {
                    cx.error(
                        &s.key(key),
                        format!(
                            "`{key}` in [store] is only used with kind = \"postgres\"; \
                             use `path` for sqlite, or set kind = \"postgres\""
                        ),
                    );
                }
            }
            let path = path(
                cx,
                &s,
                "path",
                raw.path,
                defaults::SQLITE_PATH,
                "the database file",
            )?;
            Some(StoreConfig::Sqlite { path })
        }
        "postgres" => {
            if s.has("path") {
                cx.error(
                    &s.key("path"),
                    "`path` in [store] is only used with kind = \"sqlite\"; \
                     use `url` for postgres",
                );
            }
            let Some(url) = raw.url else {
                if !s.has("url") {
                    cx.error(
                        &s.span,
                        "missing `url` in [store]: expected a postgres:// URL \
                         (e.g. url = \"${SEBRIDGE_DATABASE_URL}\")",
                    );
                }
                return None;
            };
            Some(StoreConfig::Postgres {
                url,
                schema: raw.schema,
            })
        }
        other => {
            cx.error(
                &span,
                format!(
                    "unknown store kind `{other}` in [store]; expected one of {}",
                    STORE_KINDS.join(", ")
                ),
            );
            None
        }
    }
}

pub(crate) fn secrets(cx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<SecretsConfig> {
    let (file, s) = match section::<SecretsDe>(cx, root, "secrets")? {
        Some((raw, s)) => (raw.key_file, Some(s)),
        None => (None, None),
    };
    let key_file = match &s {
        Some(s) => path(
            cx,
            s,
            "key_file",
            file,
            defaults::KEY_FILE,
            "the key file's path",
        )?,
        None => cx.base_dir.join(defaults::KEY_FILE),
    };
    Some(SecretsConfig { key_file })
}

/// `None` when absent, invalid, or `listen` is absent or empty.
pub(crate) fn server(cx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<ServerConfig> {
    let (raw, s) = section::<ServerDe>(cx, root, "server")??;
    let listen = raw.listen?;
    let text = listen.trim();
    if text.is_empty() {
        return None;
    }
    match text.parse::<SocketAddr>() {
        Ok(listen) => Some(ServerConfig { listen }),
        Err(_) => {
            cx.error(
                &s.val("listen"),
                format!(
                    "`listen` in [server] is not a socket address: found \"{text}\", expected \
                     IP:port such as \"127.0.0.1:8686\" or \"[::1]:8686\" (\"\" disables the server)"
                ),
            );
            None
        }
    }
}

#[derive(Deserialize)]
struct ClusterDe {
    #[serde(default, deserialize_with = "lease")]
    lease: Option<std::time::Duration>,
}

fn lease<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
    let l = de::duration(d)?;
    if !(std::time::Duration::from_secs(3)..=std::time::Duration::from_secs(600)).contains(&l) {
        return Err(serde::de::Error::custom(
            "must be between 3s and 10m (a replica that stops is replaced within one lease)",
        ));
    }
    Ok(Some(l))
}

/// `[cluster]`: lease timing of replicas sharing a PostgreSQL store.
pub(crate) fn cluster(
    cx: &mut Ctx<'_>,
    root: &DeTable<'_>,
    store: Option<&StoreConfig>,
) -> Option<crate::cluster::Timing> {
    let mut timing = crate::cluster::Timing::default();
    let Some((raw, s)) = section::<ClusterDe>(cx, root, "cluster")? else {
        return Some(timing);
    };
    if matches!(store, Some(StoreConfig::Sqlite { .. })) {
        cx.error(
            &s.span,
            "[cluster] is only used with [store] kind = \"postgres\" (replicas share a PostgreSQL store; a SQLite store has one process)",
        );
        return None;
    }
    if let Some(l) = raw.lease {
        timing.lease = l;
    }
    Some(timing)
}

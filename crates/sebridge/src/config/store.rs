//! `[store]`, `[secrets]` and `[server]`: where sebridge keeps its state and key, and its
//! HTTP endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use toml::de::DeTable;

use super::reader::Ctx;
use super::values::Str;

pub mod defaults {
    pub const SQLITE_PATH: &str = "sebridge.db";
    pub const KEY_FILE: &str = "sebridge.key";
}

/// `[store]`: where the journal and state live.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// `kind = "sqlite"` (the default and, for now, the only kind); `path` defaults to
    /// `sebridge.db` next to the config.
    Sqlite { path: PathBuf },
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

#[derive(Deserialize)]
struct StoreRaw {
    kind: Str,
    path: Str,
    /// Known (for kind = "postgres", refused), so only its presence is looked at.
    #[allow(dead_code)]
    url: Str,
}

#[derive(Deserialize)]
struct SecretsRaw {
    key_file: Str,
}

#[derive(Deserialize)]
struct ServerRaw {
    listen: Str,
}

const STORE_KINDS: &[&str] = &["sqlite", "postgres"];

pub(crate) fn store(cx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<StoreConfig> {
    let Some((raw, s)) = cx.sub::<StoreRaw>(root, "store", "the top level", "[store]")? else {
        let path = cx.base_dir.join(defaults::SQLITE_PATH);
        return Some(StoreConfig::Sqlite { path });
    };
    let (kind, span) = match cx.string(&s, "kind", raw.kind)? {
        Some((kind, span)) => (kind, Some(span)),
        None => ("sqlite".to_string(), None),
    };
    match kind.as_str() {
        "sqlite" => {
            if s.has("url") {
                cx.error(
                    &s.key("url"),
                    "`url` in [store] is only used with kind = \"postgres\"; \
                     use `path` for sqlite, or set kind = \"postgres\"",
                );
            }
            let path = match cx.path(&s, "path", raw.path, "the database file")? {
                Some((path, _)) => path,
                None => cx.base_dir.join(defaults::SQLITE_PATH),
            };
            Some(StoreConfig::Sqlite { path })
        }
        // Refused here rather than when the pipeline starts, with every other problem.
        "postgres" => {
            cx.error(
                &span,
                "the PostgreSQL store is not available yet; use kind = \"sqlite\"",
            );
            None
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
    let default = SecretsConfig {
        key_file: cx.base_dir.join(defaults::KEY_FILE),
    };
    let Some((raw, s)) = cx.sub::<SecretsRaw>(root, "secrets", "the top level", "[secrets]")?
    else {
        return Some(default);
    };
    match cx.path(&s, "key_file", raw.key_file, "the key file's path")? {
        Some((key_file, _)) => Some(SecretsConfig { key_file }),
        None => Some(default),
    }
}

/// `None` when absent, invalid, or `listen` is absent or empty.
pub(crate) fn server(cx: &mut Ctx<'_>, root: &DeTable<'_>) -> Option<ServerConfig> {
    let (raw, s) = cx.sub::<ServerRaw>(root, "server", "the top level", "[server]")??;
    let (listen, span) = cx.string(&s, "listen", raw.listen)??;
    let text = listen.trim();
    if text.is_empty() {
        return None;
    }
    match text.parse::<SocketAddr>() {
        Ok(listen) => Some(ServerConfig { listen }),
        Err(_) => {
            cx.error_at(
                &span,
                format!(
                    "`listen` in [server] is not a socket address: found \"{text}\", expected \
                     IP:port such as \"127.0.0.1:8686\" or \"[::1]:8686\" (\"\" disables the server)"
                ),
            );
            None
        }
    }
}

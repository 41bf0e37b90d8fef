//! Configuration: a TOML file (documented key by key in `config/example.toml`) read into
//! typed, validated structures.
//!
//! How a file is read: TOML syntax (`toml`'s parser, the one `toml_edit` uses), then one
//! `${NAME}` pass over every string value ([`env`]), then each table's unknown keys
//! reported against its struct's own field list, and the table deserialized on its own
//! straight into its public struct ([`de`]: each wrong value is reported and its key
//! dropped until the rest reads), then the checks across keys, recording every problem.
//! Each component's part (its struct, defaults and checks) is one file: `tenants.rs`,
//! `store.rs`, `journal.rs`, `sources/*.rs`, `sinks/*.rs`, `incidents/`; the shared
//! machinery is `reader.rs` (places, problems, tables), `de.rs` (reading a table, and one
//! reader per kind of value), `values.rs` (name rules) and `env.rs`, which use none of the
//! sections.
//!
//! Loading reports every problem of a file in one pass, each with file, line and column
//! ([`ConfigErrors`]), so an operator can fix a config in one round instead of one error
//! per run.
//!
//! Rules that apply across sections:
//! - relative paths are resolved against the directory of the config file;
//! - `${NAME}` in any string value is replaced by the environment variable `NAME` (a missing
//!   variable is an error); write `$${` for a literal `${`. Values taken from the
//!   environment are not expanded again;
//! - names of tenants, sources and sinks are 1 to 64 characters of `a-z`, `0-9`, `_`, `-`
//!   (they end up in database keys, metric labels and file names);
//! - a config without any source or sink is refused, since it would do nothing; tenants may
//!   be in the file or only in the store (`sebridge tenants add`), so the tenants a file
//!   names without declaring them are checked once the store is open
//!   ([`Config::check_tenants`]).

pub(crate) mod de;
mod env;
mod error;
pub(crate) mod journal;
mod parse;
#[cfg(test)]
mod props;
pub(crate) mod reader;
mod store;
mod tenants;
#[cfg(test)]
mod tests;
mod validate;
pub mod values;

// Each component's part of the file lives beside the component.
pub(crate) use crate::incidents::config as incidents;
pub(crate) use crate::sinks::config as sinks;
pub(crate) use crate::sources::config as sources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use env::{unset_reference, EnvPolicy};
pub use error::{ConfigError, ConfigErrors};
pub use incidents::{
    defaults as incidents_defaults, IncidentsConfig, RuleConfig, ServiceNowAuth, ServiceNowConfig,
    Templates, TenantOverride, WebhookConfig, XdrConfig, XdrEndpoint, SAMPLE_HIGH_PRIORITY_TYPES,
};
pub use journal::{JournalConfig, LaggingPolicy};
pub use secure_endpoint::Region;
pub use sinks::{
    defaults as sink_defaults, ElasticAuth, ElasticsearchSinkConfig, FileSinkConfig, HecSinkConfig,
    MessageFormat, PostgresSinkConfig, Secret, SentinelRows, SentinelSinkConfig, SinkCommon,
    SinkConfig, SinkFilter, StdoutSinkConfig, SyslogFraming, SyslogProtocol, SyslogSinkConfig,
    SyslogTransport, WebhookSinkConfig,
};
pub use sources::{EventTypeRef, PollSourceConfig, SourceConfig, StreamSourceConfig};
pub use store::{SecretsConfig, ServerConfig, StoreConfig};
pub use tenants::{Endpoint, TenantConfig};
pub use validate::{summary, validate_to};

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (as given, not canonicalised).
    pub path: PathBuf,
    pub store: StoreConfig,
    pub secrets: SecretsConfig,
    /// `None` when `[server]` is absent or `listen` is absent or empty.
    pub server: Option<ServerConfig>,
    /// `[cluster]`: lease timing of replicas sharing a PostgreSQL store.
    pub cluster: crate::cluster::Timing,
    pub tenants: BTreeMap<String, TenantConfig>,
    pub sources: BTreeMap<String, SourceConfig>,
    pub sinks: BTreeMap<String, SinkConfig>,
    /// `[incidents]`: ServiceNow / XDR incidents, response actions and the closed loop.
    pub incidents: Option<IncidentsConfig>,
    /// `[journal]`: retention (defaults when absent).
    pub journal: JournalConfig,
    /// Variables left unset under [`EnvPolicy::Inspect`] (their values are placeholders).
    pub unset_env: std::collections::BTreeSet<String>,
    /// Tenants the file names (a source's or rule's `tenants`, `[incidents.tenants.*]`)
    /// without declaring them: they must be in the store's registry.
    pub tenant_refs: Vec<TenantRef>,
}

/// A tenant named in the file but not declared there, with where it is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRef {
    pub name: String,
    /// Who names it ("source `poll`", "[incidents.tenants.globex]").
    pub what: String,
    /// The place (its message is empty).
    pub at: ConfigError,
}

/// "tenants: acme, beta (this file), gamma (the store)" for messages about unknown tenants.
pub fn known_tenants(in_file: &[&str], registered: &[String]) -> String {
    let mut parts = Vec::new();
    if !in_file.is_empty() {
        parts.push(format!("{} (this file)", in_file.join(", ")));
    }
    if !registered.is_empty() {
        parts.push(format!("{} (the store)", registered.join(", ")));
    }
    if parts.is_empty() {
        "no tenant is configured, in this file or in the store (`sebridge tenants add`)".into()
    } else {
        format!("known tenants: {}", parts.join("; "))
    }
}

/// Defaults, as documented in `config/example.toml`.
pub mod defaults {
    pub use super::sinks::defaults::SINK_WRAP;
    pub use super::sources::poll::defaults::*;
    pub use super::sources::stream::defaults::*;
    pub use super::store::defaults::*;
    pub const SINK_BATCH_SIZE: usize = super::sinks::defaults::BATCH_SIZE;
}

impl Config {
    /// Reads and validates `path`; `${NAME}` references come from the process environment,
    /// and each must be set.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Self::load_with(path, EnvPolicy::Strict)
    }

    /// [`Config::load`] with a choice of how unset variables are treated.
    pub fn load_with(path: &Path, policy: EnvPolicy) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                message: format!("cannot read configuration file: {e}"),
            }])
        })?;
        parse::parse(
            text.as_str(),
            path,
            &|name| std::env::var(name).ok(),
            policy,
        )
    }

    /// Validates `text` as if read from `path` (used for messages and to resolve relative
    /// paths), taking `${NAME}` references from `env`.
    pub fn from_str_with_env(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        parse::parse(text, path, env, EnvPolicy::Strict)
    }

    /// Checks the tenants against the store's registry (`registered`, names): every tenant
    /// the file names but does not declare must be registered, and when `need_one`, there
    /// must be at least one tenant in all. Errors point at the file, like [`Config::load`]'s.
    pub fn check_tenants(&self, registered: &[String], need_one: bool) -> Result<(), ConfigErrors> {
        let mut errors = Vec::new();
        let in_file: Vec<&str> = self.tenants.keys().map(String::as_str).collect();
        let all: Vec<&str> = in_file
            .iter()
            .copied()
            .chain(registered.iter().map(String::as_str))
            .collect();
        for r in &self.tenant_refs {
            if registered.contains(&r.name) {
                continue;
            }
            let mut message = format!("{} names unknown tenant `{}`", r.what, r.name);
            if let Some(close) = reader::closest(&r.name, &all) {
                message.push_str(&format!(" (did you mean `{close}`?)"));
            }
            message.push_str(&format!("; {}", known_tenants(&in_file, registered)));
            errors.push(ConfigError {
                message,
                ..r.at.clone()
            });
        }
        if need_one && self.tenants.is_empty() && registered.is_empty() {
            errors.push(ConfigError {
                file: self.path.clone(),
                line: None,
                column: None,
                message: "no tenants: add a [tenants.<name>] table with region, client_id and \
                          api_key, or store one with `sebridge tenants add` (a configuration \
                          without tenants does nothing)"
                    .into(),
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The enabled tenants, restricted to `selection` when given (a source's `tenants`),
    /// in name order.
    pub fn tenants_for(&self, selection: &Option<Vec<String>>) -> Vec<&TenantConfig> {
        self.tenants
            .values()
            .filter(|t| t.enabled)
            .filter(|t| {
                selection
                    .as_ref()
                    .is_none_or(|names| names.contains(&t.name))
            })
            .collect()
    }

    /// The journal consumers this config runs, with their kind: every sink, and the incident
    /// engine when `[incidents]` is configured. Each keeps a position in the store.
    pub fn consumers(&self) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = self
            .sinks
            .iter()
            .map(|(n, s)| (n.clone(), s.kind()))
            .collect();
        if self.incidents.is_some() {
            out.push((incidents::CONSUMER.to_string(), "incident engine"));
        }
        out
    }

    /// The enabled tenants of a source.
    pub fn tenants_of(&self, source: &SourceConfig) -> Vec<&TenantConfig> {
        self.tenants_for(source.tenants())
    }
}

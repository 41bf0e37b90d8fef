//! The sebridge config written by the simulator, edited for a run.

use crate::baseline::Credentials;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml_edit::{DocumentMut, Item, Table};

/// The API's page limit; also sebridge's default `page_size`.
pub const API_PAGE: u64 = 500;

/// The generated config with the poll interval and the `--set` overrides applied.
pub struct Config {
    pub path: PathBuf,
    doc: DocumentMut,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc = text
            .parse::<DocumentMut>()
            .with_context(|| format!("parsing {}", path.display()))?;
        Ok(Config {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// Sets `dotted` (e.g. `sources.poll.interval`) to `value`, a TOML value as text.
    pub fn set(&mut self, dotted: &str, value: &str) -> Result<()> {
        let parsed = format!("v = {value}")
            .parse::<DocumentMut>()
            .with_context(|| format!("{dotted} = {value}: not a TOML value"))?;
        let item = parsed
            .get("v")
            .cloned()
            .with_context(|| format!("{dotted} = {value}: not a TOML value"))?;
        self.set_item(dotted, item)
    }

    /// Sets `dotted` to a string.
    pub fn set_str(&mut self, dotted: &str, value: &str) -> Result<()> {
        self.set_item(dotted, toml_edit::value(value))
    }

    fn set_item(&mut self, dotted: &str, item: Item) -> Result<()> {
        let mut keys: Vec<&str> = dotted.split('.').collect();
        let last = keys
            .pop()
            .filter(|k| !k.is_empty())
            .with_context(|| format!("{dotted}: empty key"))?;
        let mut table: &mut Table = self.doc.as_table_mut();
        for k in keys {
            let entry = table.entry(k).or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            });
            table = entry
                .as_table_mut()
                .with_context(|| format!("{dotted}: `{k}` is not a table"))?;
        }
        table.insert(last, item);
        Ok(())
    }

    fn get_str(&self, table: &str, sub: &str, key: &str) -> Option<String> {
        self.doc
            .get(table)?
            .get(sub)?
            .get(key)?
            .as_str()
            .map(String::from)
    }

    fn get_int(&self, table: &str, sub: &str, key: &str) -> Option<i64> {
        self.doc.get(table)?.get(sub)?.get(key)?.as_integer()
    }

    /// Writes the config to `path`, which becomes its path.
    pub fn save_as(&mut self, path: &Path) -> Result<()> {
        self.path = path.to_path_buf();
        self.save()
    }

    pub fn save(&self) -> Result<()> {
        std::fs::write(&self.path, self.doc.to_string())
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// The `[sources.poll]` interval.
    pub fn interval(&self) -> Result<Duration> {
        let text = self
            .get_str("sources", "poll", "interval")
            .context("the config has no sources.poll.interval")?;
        humantime::parse_duration(&text).with_context(|| format!("interval {text:?}"))
    }

    pub fn page_size(&self) -> u64 {
        self.get_int("sources", "poll", "page_size")
            .and_then(|p| u64::try_from(p).ok())
            .filter(|p| *p > 0)
            .unwrap_or(API_PAGE)
            .min(API_PAGE)
    }

    /// The first tenant's API base and credentials.
    pub fn first_tenant(&self) -> Result<Credentials> {
        let tenants = self
            .doc
            .get("tenants")
            .and_then(Item::as_table)
            .context("the config has no [tenants]")?;
        let (_, t) = tenants.iter().next().context("the config has no tenant")?;
        let field = |k: &str| -> Result<String> {
            t.get(k)
                .and_then(Item::as_str)
                .map(String::from)
                .with_context(|| format!("the first tenant has no {k}"))
        };
        Ok(Credentials {
            base_url: field("base_url")?,
            client_id: field("client_id")?,
            api_key: field("api_key")?,
        })
    }

    /// A short description of the settings that matter, for the report.
    pub fn describe(&self) -> String {
        let poll = |k: &str| {
            self.doc
                .get("sources")
                .and_then(|s| s.get("poll"))
                .and_then(|p| p.get(k))
                .map(|v| v.to_string().trim().to_string())
                .unwrap_or_else(|| "(default)".into())
        };
        let sink = |k: &str| {
            self.doc
                .get("sinks")
                .and_then(|s| s.get("file"))
                .and_then(|p| p.get(k))
                .map(|v| v.to_string().trim().to_string())
                .unwrap_or_else(|| "(default)".into())
        };
        format!(
            "`[sources.poll]` interval = {}, page_size = {}, concurrency = {}; `[sinks.file]` batch_size = {}, wrap = {}",
            poll("interval"),
            poll("page_size"),
            poll("concurrency"),
            sink("batch_size"),
            sink("wrap"),
        )
    }
}

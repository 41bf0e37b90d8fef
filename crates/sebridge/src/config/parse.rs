//! Builds a [`Config`] from the parsed TOML tree, section by section, recording every
//! problem through the [`Reader`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use toml_edit::{Document, TableLike};
use url::Url;

mod stream;

use super::defaults;
use super::reader::{closest, item_type, key_span, value_type, Reader, Section, Span};
use super::{
    Config, ConfigErrors, Endpoint, EventTypeRef, FileSinkConfig, PollSourceConfig, Region,
    SecretsConfig, ServerConfig, SinkConfig, SourceConfig, StdoutSinkConfig, StoreConfig,
    TenantConfig,
};

const TOP_KEYS: &[&str] = &[
    "store",
    "secrets",
    "server",
    "tenants",
    "sources",
    "sinks",
    "incidents",
    "journal",
];
const STORE_KEYS: &[&str] = &["kind", "path", "url"];
const STORE_KINDS: &[&str] = &["sqlite", "postgres"];
const SECRETS_KEYS: &[&str] = &["key_file"];
const SERVER_KEYS: &[&str] = &["listen"];
const TENANT_KEYS: &[&str] = &["region", "base_url", "client_id", "api_key", "enabled"];
const SOURCE_TYPES: &[&str] = &["poll", "stream"];
const POLL_KEYS: &[&str] = &[
    "type",
    "interval",
    "lookback",
    "since",
    "page_size",
    "concurrency",
    "request_timeout",
    "overlap",
    "event_types",
    "groups",
    "tenants",
];
const SINK_TYPES: &[&str] = &[
    "file",
    "stdout",
    "syslog",
    "splunk_hec",
    "elasticsearch",
    "postgres",
    "webhook",
];
const FILE_SINK_KEYS: &[&str] = &["path", "wrap"];
const STDOUT_SINK_KEYS: &[&str] = &["wrap"];

const NAME_RULE: &str = "1 to 64 characters of a-z, 0-9, `_` and `-`";

pub(super) fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let mut r = Reader::new(path, text, env);
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            // Nothing else can be checked in a file that does not parse.
            let span = e.span();
            let mut message = format!("TOML syntax error: {}", e.message());
            if e.message() == "duplicate key" {
                if let Some(key) = span.clone().and_then(|s| text.get(s)) {
                    message.push_str(&format!(" `{key}` (each key and table may appear once)"));
                }
            }
            r.error(&span, message);
            return Err(ConfigErrors(r.into_errors()));
        }
    };
    let base_dir = base_dir(path);
    let root = Section {
        table: doc.as_table(),
        what: "the top level",
        span: &None,
    };
    let typos = r.check_keys(root, TOP_KEYS);

    let store = store(&mut r, root, &base_dir);
    let secrets = secrets(&mut r, root, &base_dir);
    let server = server(&mut r, root);
    let (tenants, declared) = tenants(&mut r, root, &typos);
    let sources = sources(&mut r, root, &typos, &declared, &base_dir);
    let sinks = sinks(&mut r, root, &typos, &base_dir);
    let incidents = super::incidents::incidents(&mut r, root, &declared);
    let journal = super::sinks::journal(&mut r, root);

    if r.has_errors() {
        return Err(ConfigErrors(r.into_errors()));
    }
    match (store, secrets, incidents, journal) {
        (Some(store), Some(secrets), Some(incidents), Some(journal)) => Ok(Config {
            path: path.to_path_buf(),
            store,
            secrets,
            server,
            tenants,
            sources,
            sinks,
            incidents,
            journal,
        }),
        // Sections only come back empty after recording a problem; this keeps that promise
        // from becoming a panic if it is ever broken.
        _ => {
            r.error(
                &None,
                "internal error: incomplete configuration without a reported problem",
            );
            Err(ConfigErrors(r.into_errors()))
        }
    }
}

/// The directory relative paths are resolved against: the config file's, made absolute so
/// a later change of working directory does not change what the paths mean.
fn base_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

// ---- [store] ----------------------------------------------------------------------------

fn store(r: &mut Reader<'_>, root: Section<'_>, base_dir: &Path) -> Option<StoreConfig> {
    let default = || StoreConfig::Sqlite {
        path: base_dir.join(defaults::SQLITE_PATH),
    };
    if root.table.get("store").is_none() {
        return Some(default());
    }
    let (table, span) = r.table(root, "store")?;
    let s = Section {
        table,
        what: "[store]",
        span: &span,
    };
    let typos = r.check_keys(s, STORE_KEYS);
    let kind = match r.string(s, "kind") {
        Some(k) => k,
        None if table.contains_key("kind") => return None,
        None => super::reader::Spanned {
            value: "sqlite".to_string(),
            span: None,
        },
    };
    match kind.value.as_str() {
        "sqlite" => {
            if let Some(url_span) = key_span(table, "url") {
                r.error(
                    &Some(url_span),
                    "`url` in [store] is only used with kind = \"postgres\"; \
                     use `path` for sqlite, or set kind = \"postgres\"",
                );
            }
            let path = match r.non_empty_string(s, "path") {
                Some(p) => p.value,
                None if table.contains_key("path") => return None,
                None => defaults::SQLITE_PATH.to_string(),
            };
            let path = base_dir.join(path);
            if path.is_dir() {
                r.error(
                    &item_span_of(table, "path"),
                    format!(
                        "`path` in [store] is a directory ({}); expected the database file",
                        path.display()
                    ),
                );
                return None;
            }
            Some(StoreConfig::Sqlite { path })
        }
        "postgres" => {
            if let Some(path_span) = key_span(table, "path") {
                r.error(
                    &Some(path_span),
                    "`path` in [store] is only used with kind = \"sqlite\"; use `url` for postgres",
                );
            }
            if !table.contains_key("url") && !typos.iter().any(|t| t == "url") {
                r.missing(
                    s,
                    "url",
                    "a postgres:// URL when kind = \"postgres\" (e.g. url = \"${SEBRIDGE_DATABASE_URL}\")",
                );
                return None;
            }
            let url = r.secret(s, "url")?;
            let text = url.value.expose_secret();
            // The URL may carry a password: say what is wrong without echoing it.
            if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
                r.error(
                    &url.span,
                    "`url` in [store] must start with postgres:// or postgresql://",
                );
                return None;
            }
            Some(StoreConfig::Postgres { url: url.value })
        }
        other => {
            r.error(
                &kind.span,
                format!(
                    "unknown store kind `{other}` in [store]; expected one of {}",
                    STORE_KINDS.join(", ")
                ),
            );
            None
        }
    }
}

// ---- [secrets] --------------------------------------------------------------------------

fn secrets(r: &mut Reader<'_>, root: Section<'_>, base_dir: &Path) -> Option<SecretsConfig> {
    let default = SecretsConfig {
        key_file: base_dir.join(defaults::KEY_FILE),
    };
    if root.table.get("secrets").is_none() {
        return Some(default);
    }
    let (table, span) = r.table(root, "secrets")?;
    let s = Section {
        table,
        what: "[secrets]",
        span: &span,
    };
    r.check_keys(s, SECRETS_KEYS);
    let Some(key_file) = r.non_empty_string(s, "key_file") else {
        return (!table.contains_key("key_file")).then_some(default);
    };
    let path = base_dir.join(&key_file.value);
    if path.is_dir() {
        r.error(
            &key_file.span,
            format!(
                "`key_file` in [secrets] is a directory ({}); expected the key file's path",
                path.display()
            ),
        );
        return None;
    }
    Some(SecretsConfig { key_file: path })
}

// ---- [server] ---------------------------------------------------------------------------

fn server(r: &mut Reader<'_>, root: Section<'_>) -> Option<ServerConfig> {
    root.table.get("server")?;
    let (table, span) = r.table(root, "server")?;
    let s = Section {
        table,
        what: "[server]",
        span: &span,
    };
    r.check_keys(s, SERVER_KEYS);
    let listen = r.string(s, "listen")?;
    let text = listen.value.trim();
    if text.is_empty() {
        return None;
    }
    match text.parse::<SocketAddr>() {
        Ok(addr) => Some(ServerConfig { listen: addr }),
        Err(_) => {
            r.error(
                &listen.span,
                format!(
                    "`listen` in [server] is not a socket address: found \"{text}\", expected \
                     IP:port such as \"127.0.0.1:8686\" or \"[::1]:8686\" (\"\" disables the server)"
                ),
            );
            None
        }
    }
}

// ---- named tables -----------------------------------------------------------------------

/// One `[<collection>.<name>]` entry.
struct Named<'t> {
    name: String,
    table: &'t dyn TableLike,
    span: Span,
    /// Whether the name follows the naming rule (entries with bad names are still checked,
    /// to report everything, but not kept).
    valid_name: bool,
}

/// The entries of the collection table `key` (tenants, sources, sinks); reports bad names,
/// non-table entries, and an absent or empty collection (`empty_hint`) unless the
/// collection's key was reported as misspelt (`typos`).
fn named_tables<'t>(
    r: &mut Reader<'_>,
    root: Section<'t>,
    typos: &[String],
    key: &str,
    singular: &str,
    empty_hint: &str,
) -> Vec<Named<'t>> {
    let mut out = Vec::new();
    let collection = if root.table.get(key).is_some() {
        match r.table(root, key) {
            Some(t) => Some(t),
            // Wrong type, already reported; an "empty" report would only repeat it.
            None => return out,
        }
    } else {
        None
    };
    let Some((table, collection_span)) = collection else {
        if !typos.iter().any(|t| t == key) {
            r.error(&None, format!("no {key} configured: {empty_hint}"));
        }
        return out;
    };
    if table.is_empty() {
        r.error(
            &collection_span,
            format!("no {key} configured: {empty_hint}"),
        );
        return out;
    }
    for (name, item) in table.iter() {
        let span = key_span(table, name);
        let valid_name = is_valid_name(name);
        if !valid_name {
            r.error(
                &span,
                format!("invalid {singular} name `{name}`: expected {NAME_RULE}"),
            );
        }
        match item.as_table_like() {
            Some(t) => out.push(Named {
                name: name.to_string(),
                table: t,
                span,
                valid_name,
            }),
            None => r.error(
                &item.span(),
                format!(
                    "{singular} `{name}` must be a table ([{key}.{name}]), found {}",
                    item_type(item)
                ),
            ),
        }
    }
    out
}

pub(super) fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn item_span_of(table: &dyn TableLike, key: &str) -> Span {
    table.get(key).and_then(|i| i.span())
}

// ---- [tenants.<name>] -------------------------------------------------------------------

/// The valid tenants, and the names of all declared ones (valid or not), against which
/// sources' `tenants` lists are checked so one broken tenant does not cascade.
fn tenants(
    r: &mut Reader<'_>,
    root: Section<'_>,
    typos: &[String],
) -> (BTreeMap<String, TenantConfig>, BTreeSet<String>) {
    let entries = named_tables(
        r,
        root,
        typos,
        "tenants",
        "tenant",
        "add a [tenants.<name>] table with region, client_id and api_key \
         (a configuration without tenants does nothing)",
    );
    let mut tenants = BTreeMap::new();
    let mut declared = BTreeSet::new();
    for entry in entries {
        declared.insert(entry.name.clone());
        let what = format!("tenant `{}`", entry.name);
        let s = Section {
            table: entry.table,
            what: &what,
            span: &entry.span,
        };
        if let Some(t) = tenant(r, &entry.name, s) {
            if entry.valid_name {
                tenants.insert(entry.name, t);
            }
        }
    }
    (tenants, declared)
}

fn tenant(r: &mut Reader<'_>, name: &str, s: Section<'_>) -> Option<TenantConfig> {
    let typos = r.check_keys(s, TENANT_KEYS);
    // A key reported as a typo of `k` counts as given: its report says what to fix.
    let given = |k: &str| s.table.contains_key(k) || typos.iter().any(|t| t == k);
    let has_region = given("region");
    let has_base_url = given("base_url");
    let endpoint = match (has_region, has_base_url) {
        (true, true) => {
            r.error(
                &key_span(s.table, "base_url"),
                format!(
                    "{} sets both `region` and `base_url`; set exactly one \
                     (region for Cisco's cloud, base_url for a simulator or proxy)",
                    s.what
                ),
            );
            // Still check both values, so their own problems show up in this pass too.
            region(r, s);
            base_url(r, s);
            None
        }
        (false, false) => {
            r.error(
                s.span,
                format!(
                    "{} has neither `region` nor `base_url`; set exactly one \
                     (region = \"us\", \"eu\" or \"apjc\"; or base_url = \"https://...\")",
                    s.what
                ),
            );
            None
        }
        (true, false) => region(r, s).map(Endpoint::Region),
        (false, true) => base_url(r, s).map(Endpoint::BaseUrl),
    };

    let client_id = if given("client_id") {
        r.non_empty_string(s, "client_id").and_then(|c| {
            if c.value.trim() != c.value {
                r.error(
                    &c.span,
                    format!(
                        "`client_id` in {} has leading or trailing whitespace",
                        s.what
                    ),
                );
                None
            } else {
                Some(c.value)
            }
        })
    } else {
        r.missing(
            s,
            "client_id",
            "the API client id (e.g. client_id = \"${ACME_CLIENT_ID}\")",
        );
        None
    };
    let api_key = if given("api_key") {
        r.secret(s, "api_key").map(|k| k.value)
    } else {
        r.missing(
            s,
            "api_key",
            "the API key (e.g. api_key = \"${ACME_API_KEY}\")",
        );
        None
    };
    let enabled = r.boolean(s, "enabled").unwrap_or(true);
    Some(TenantConfig {
        name: name.to_string(),
        endpoint: endpoint?,
        client_id: client_id?,
        api_key: api_key?,
        enabled,
    })
}

fn region(r: &mut Reader<'_>, s: Section<'_>) -> Option<Region> {
    let value = r.string(s, "region")?;
    // Only the documented spellings: one way to write a region keeps configs greppable.
    let found = Region::ALL
        .into_iter()
        .find(|reg| reg.as_str() == value.value);
    if found.is_none() {
        let mut message = format!(
            "unknown region `{}` in {}; expected one of us, eu, apjc",
            value.value, s.what
        );
        if let Ok(alias) = value.value.parse::<Region>() {
            message.push_str(&format!(" (did you mean `{alias}`?)"));
        }
        r.error(&value.span, message);
    }
    found
}

fn base_url(r: &mut Reader<'_>, s: Section<'_>) -> Option<Url> {
    let value = r.non_empty_string(s, "base_url")?;
    let problem = match Url::parse(value.value.trim()) {
        Err(e) => Some(format!("is not a valid URL ({e})")),
        Ok(url) if !matches!(url.scheme(), "http" | "https") => Some(format!(
            "has scheme `{}`; expected http or https",
            url.scheme()
        )),
        Ok(url) if url.host().is_none() => Some("has no host".to_string()),
        Ok(url) if url.query().is_some() || url.fragment().is_some() => {
            Some("must not have a query or fragment".to_string())
        }
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            // Credentials belong in client_id/api_key, which are kept secret.
            Some("must not contain credentials; use client_id and api_key".to_string())
        }
        Ok(url) => return Some(url),
    };
    if let Some(problem) = problem {
        r.error(
            &value.span,
            format!(
                "`base_url` in {} {problem} (e.g. \"https://api.amp.cisco.com\" or \
                 \"http://127.0.0.1:9000\")",
                s.what
            ),
        );
    }
    None
}

// ---- [sources.<name>] -------------------------------------------------------------------

fn sources(
    r: &mut Reader<'_>,
    root: Section<'_>,
    typos: &[String],
    declared_tenants: &BTreeSet<String>,
    base_dir: &Path,
) -> BTreeMap<String, SourceConfig> {
    let entries = named_tables(
        r,
        root,
        typos,
        "sources",
        "source",
        "add e.g. [sources.poll] with type = \"poll\" \
         (a configuration without sources does nothing)",
    );
    let mut sources = BTreeMap::new();
    for entry in entries {
        let what = format!("source `{}`", entry.name);
        let s = Section {
            table: entry.table,
            what: &what,
            span: &entry.span,
        };
        let Some(kind) = kind(r, s, SOURCE_TYPES, "source") else {
            continue;
        };
        let source = match kind.as_str() {
            "poll" => poll_source(r, s, declared_tenants).map(SourceConfig::Poll),
            "stream" => {
                stream::stream_source(r, s, declared_tenants, base_dir).map(SourceConfig::Stream)
            }
            _ => None,
        };
        if let (Some(source), true) = (source, entry.valid_name) {
            sources.insert(entry.name, source);
        }
    }
    sources
}

/// The `type` of a source or sink, checked against `known`. When absent or unknown, the
/// other keys are not checked: which keys are allowed depends on the type.
fn kind(r: &mut Reader<'_>, s: Section<'_>, known: &[&str], singular: &str) -> Option<String> {
    if !s.table.contains_key("type") {
        // The other keys are not checked without a type, so a misspelt `type` is caught here.
        let typo = s
            .table
            .iter()
            .map(|(k, _)| k)
            .find(|k| closest(k, &["type"]).is_some());
        match typo {
            Some(k) => r.error(
                &key_span(s.table, k),
                format!(
                    "unknown key `{k}` in {} (did you mean `type`?); `type` must be one of {}",
                    s.what,
                    known.join(", ")
                ),
            ),
            None => r.missing(s, "type", &format!("one of {}", known.join(", "))),
        }
        return None;
    }
    let kind = r.string(s, "type")?;
    if known.contains(&kind.value.as_str()) {
        return Some(kind.value);
    }
    let mut message = format!(
        "unknown {singular} type `{}` in {}; expected one of {}",
        kind.value,
        s.what,
        known.join(", ")
    );
    if let Some(close) = closest(&kind.value, known) {
        message.push_str(&format!(" (did you mean `{close}`?)"));
    }
    r.error(&kind.span, message);
    None
}

fn poll_source(
    r: &mut Reader<'_>,
    s: Section<'_>,
    declared_tenants: &BTreeSet<String>,
) -> Option<PollSourceConfig> {
    r.check_keys(s, POLL_KEYS);
    // Each getter runs (and reports) before any `?`, so every problem of the source shows up.
    let interval = present_or(
        r.duration(s, "interval", false),
        s,
        "interval",
        defaults::POLL_INTERVAL,
    );
    let lookback = present_or(
        r.duration(s, "lookback", true),
        s,
        "lookback",
        defaults::POLL_LOOKBACK,
    );
    let since = since(r, s);
    let page_size = present_or(
        r.integer_in::<u32>(s, "page_size", 1..=i64::from(defaults::POLL_PAGE_SIZE_MAX)),
        s,
        "page_size",
        defaults::POLL_PAGE_SIZE,
    );
    let concurrency = present_or(
        r.integer_in::<usize>(s, "concurrency", 1..=i64::MAX),
        s,
        "concurrency",
        defaults::POLL_CONCURRENCY,
    );
    let request_timeout = present_or(
        r.duration(s, "request_timeout", false),
        s,
        "request_timeout",
        defaults::POLL_REQUEST_TIMEOUT,
    );
    let overlap = present_or(
        r.duration(s, "overlap", true),
        s,
        "overlap",
        defaults::POLL_OVERLAP,
    );
    let event_types = event_types(r, s);
    let groups = groups(r, s);
    let tenants = source_tenants(r, s, declared_tenants);
    Some(PollSourceConfig {
        interval: interval?,
        lookback: lookback?,
        since: since?,
        page_size: page_size?,
        concurrency: concurrency?,
        request_timeout: request_timeout?,
        overlap: overlap?,
        event_types: event_types?,
        groups: groups?,
        tenants: tenants?,
    })
}

/// The value read, or the default when the key is absent; `None` when it is present but
/// invalid (already reported).
pub(super) fn present_or<T>(read: Option<T>, s: Section<'_>, key: &str, default: T) -> Option<T> {
    match read {
        Some(v) => Some(v),
        None if s.table.contains_key(key) => None,
        None => Some(default),
    }
}

/// `since`: an RFC 3339 string, or a TOML offset date-time. Outer `None` = invalid.
fn since(r: &mut Reader<'_>, s: Section<'_>) -> Option<Option<OffsetDateTime>> {
    const EXPECTED: &str = "an RFC 3339 timestamp such as \"2024-01-01T00:00:00Z\"";
    let Some((item, _, span)) = r.get(s, "since") else {
        return Some(None);
    };
    let text = if let Some(dt) = item.as_datetime() {
        if dt.date.is_none() || dt.time.is_none() || dt.offset.is_none() {
            r.error(
                &span,
                format!(
                    "`since` in {} needs a date, a time and a UTC offset: expected {EXPECTED}",
                    s.what
                ),
            );
            return None;
        }
        dt.to_string()
    } else if item.is_str() {
        r.string(s, "since")?.value
    } else {
        let found = item.as_value().map_or_else(|| item_type(item), value_type);
        r.error(
            &span,
            format!("`since` in {} must be {EXPECTED}, found {found}", s.what),
        );
        return None;
    };
    match OffsetDateTime::parse(text.trim(), &Rfc3339) {
        Ok(t) => Some(Some(t)),
        Err(e) => {
            r.error(
                &span,
                format!(
                    "`since` in {} is not an RFC 3339 timestamp ({e}): expected {EXPECTED}",
                    s.what
                ),
            );
            None
        }
    }
}

/// Ids (integers) or names (strings). Outer `None` = some element invalid.
pub(super) fn event_types(r: &mut Reader<'_>, s: Section<'_>) -> Option<Vec<EventTypeRef>> {
    if !s.table.contains_key("event_types") {
        return Some(Vec::new());
    }
    let array = r.array(s, "event_types")?;
    let mut out = Vec::new();
    let mut ok = true;
    for value in array.value.iter() {
        let span = value.span();
        if let Some(id) = value.as_integer() {
            match u64::try_from(id) {
                Ok(id) if id > 0 => out.push(EventTypeRef::Id(id)),
                _ => {
                    r.error(
                        &span,
                        format!(
                            "event type id {id} in `event_types` of {} must be a positive integer",
                            s.what
                        ),
                    );
                    ok = false;
                }
            }
        } else if value.is_str() {
            match r.element_string(s, "event_types", value) {
                Some(name) if !name.value.trim().is_empty() => {
                    out.push(EventTypeRef::Name(name.value.trim().to_string()))
                }
                Some(name) => {
                    r.error(
                        &name.span,
                        format!("empty event type name in `event_types` of {}", s.what),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        } else {
            r.error(
                &span,
                format!(
                    "elements of `event_types` in {} must be event type ids (integers) or \
                     names (strings), found {}",
                    s.what,
                    value_type(value)
                ),
            );
            ok = false;
        }
    }
    ok.then_some(out)
}

/// Group GUIDs. Outer `None` = some element invalid.
fn groups(r: &mut Reader<'_>, s: Section<'_>) -> Option<Vec<String>> {
    if !s.table.contains_key("groups") {
        return Some(Vec::new());
    }
    let array = r.array(s, "groups")?;
    let mut out = Vec::new();
    let mut ok = true;
    for value in array.value.iter() {
        let Some(guid) = r.element_string(s, "groups", value) else {
            ok = false;
            continue;
        };
        // The API filters by group GUID; a group *name* here would silently match nothing.
        if is_guid(guid.value.trim()) {
            out.push(guid.value.trim().to_ascii_lowercase());
        } else {
            r.error(
                &guid.span,
                format!(
                    "`{}` in `groups` of {} is not a group GUID: expected e.g. \
                     \"b077d6bc-bbdf-42f7-8838-a06053fbd98a\"",
                    guid.value, s.what
                ),
            );
            ok = false;
        }
    }
    ok.then_some(out)
}

pub(super) fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A source's tenant subset. Outer `None` = invalid.
fn source_tenants(
    r: &mut Reader<'_>,
    s: Section<'_>,
    declared: &BTreeSet<String>,
) -> Option<Option<Vec<String>>> {
    if !s.table.contains_key("tenants") {
        return Some(None);
    }
    let array = r.array(s, "tenants")?;
    if array.value.is_empty() {
        r.error(
            &array.span,
            format!(
                "`tenants` in {} is empty, so the source would poll nothing; \
                 remove the key to use every tenant",
                s.what
            ),
        );
        return None;
    }
    let known: Vec<&str> = declared.iter().map(String::as_str).collect();
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for value in array.value.iter() {
        let Some(name) = r.element_string(s, "tenants", value) else {
            ok = false;
            continue;
        };
        if !declared.contains(&name.value) {
            let mut message = format!("{} lists unknown tenant `{}`", s.what, name.value);
            if let Some(close) = closest(&name.value, &known) {
                message.push_str(&format!(" (did you mean `{close}`?)"));
            }
            if known.is_empty() {
                message.push_str("; no tenants are configured");
            } else {
                message.push_str(&format!("; configured tenants: {}", known.join(", ")));
            }
            r.error(&name.span, message);
            ok = false;
        } else if out.contains(&name.value) {
            r.error(
                &name.span,
                format!("{} lists tenant `{}` twice", s.what, name.value),
            );
            ok = false;
        } else {
            out.push(name.value);
        }
    }
    ok.then_some(Some(out))
}

// ---- [sinks.<name>] ---------------------------------------------------------------------

fn sinks(
    r: &mut Reader<'_>,
    root: Section<'_>,
    typos: &[String],
    base_dir: &Path,
) -> BTreeMap<String, SinkConfig> {
    let entries = named_tables(
        r,
        root,
        typos,
        "sinks",
        "sink",
        "add e.g. [sinks.console] with type = \"stdout\" \
         (a configuration without sinks does nothing)",
    );
    let mut sinks = BTreeMap::new();
    // File sinks by path, so two sinks appending to one file (interleaved, each with its own
    // position) are caught.
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    for entry in entries {
        let what = format!("sink `{}`", entry.name);
        let s = Section {
            table: entry.table,
            what: &what,
            span: &entry.span,
        };
        let Some(kind) = kind(r, s, SINK_TYPES, "sink") else {
            continue;
        };
        let sink = match kind.as_str() {
            "file" => file_sink(r, s, base_dir, &entry.name, &mut files).map(SinkConfig::File),
            "stdout" => stdout_sink(r, s).map(SinkConfig::Stdout),
            "syslog" => super::sinks::syslog(r, s, base_dir).map(SinkConfig::Syslog),
            "splunk_hec" => super::sinks::splunk_hec(r, s, base_dir).map(SinkConfig::SplunkHec),
            "elasticsearch" => {
                super::sinks::elasticsearch(r, s, base_dir).map(SinkConfig::Elasticsearch)
            }
            "postgres" => super::sinks::postgres(r, s).map(SinkConfig::Postgres),
            "webhook" => super::sinks::webhook(r, s, base_dir).map(SinkConfig::Webhook),
            _ => None,
        };
        if let (Some(sink), true) = (sink, entry.valid_name) {
            sinks.insert(entry.name, sink);
        }
    }
    sinks
}

fn stdout_sink(r: &mut Reader<'_>, s: Section<'_>) -> Option<StdoutSinkConfig> {
    r.check_keys(s, &super::sinks::keys(STDOUT_SINK_KEYS));
    let (wrap, common) = sink_common(r, s);
    Some(StdoutSinkConfig {
        wrap: wrap?,
        common: common?,
    })
}

/// `wrap` and the keys shared by all sink types (batching, retries, filters) of the file and
/// stdout sinks.
fn sink_common(
    r: &mut Reader<'_>,
    s: Section<'_>,
) -> (Option<bool>, Option<super::sinks::SinkCommon>) {
    let wrap = present_or(r.boolean(s, "wrap"), s, "wrap", defaults::SINK_WRAP);
    let batches = super::sinks::defaults::STREAM_BATCHES;
    (wrap, super::sinks::common(r, s, batches))
}

fn file_sink(
    r: &mut Reader<'_>,
    s: Section<'_>,
    base_dir: &Path,
    name: &str,
    files: &mut BTreeMap<PathBuf, String>,
) -> Option<FileSinkConfig> {
    let typos = r.check_keys(s, &super::sinks::keys(FILE_SINK_KEYS));
    let path = if s.table.contains_key("path") || typos.iter().any(|t| t == "path") {
        r.non_empty_string(s, "path").and_then(|p| {
            let path = base_dir.join(p.value.trim());
            if path.is_dir() {
                r.error(
                    &p.span,
                    format!(
                        "`path` in {} is a directory ({}); expected a file to append events to",
                        s.what,
                        path.display()
                    ),
                );
                return None;
            }
            if let Some(other) = files.get(&path) {
                r.error(
                    &p.span,
                    format!(
                        "`path` in {} is also the path of sink `{other}`; each file sink needs \
                         its own file",
                        s.what
                    ),
                );
                return None;
            }
            files.insert(path.clone(), name.to_string());
            Some(path)
        })
    } else {
        r.missing(
            s,
            "path",
            "the file to append events to (e.g. path = \"events.jsonl\")",
        );
        None
    };
    let (wrap, common) = sink_common(r, s);
    Some(FileSinkConfig {
        path: path?,
        wrap: wrap?,
        common: common?,
    })
}

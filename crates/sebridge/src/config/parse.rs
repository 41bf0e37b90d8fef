//! Reading a whole file: TOML syntax, the `${NAME}` pass, the top-level keys, then every
//! section on its own (so a problem in one never hides those of another), and the
//! collections (`[tenants.*]`, `[sources.*]`, `[sinks.*]`) entry by entry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::reader::{Ctx, Sec, Span};
use super::values::{is_valid_name, NAME_RULE};
use super::{
    env, incidents, journal, sinks, sources, store, tenants, Config, ConfigErrors, EnvPolicy,
};

const TOP_KEYS: &[&str] = &[
    "store",
    "secrets",
    "server",
    "cluster",
    "tenants",
    "sources",
    "sinks",
    "incidents",
    "journal",
];

pub(super) fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    policy: EnvPolicy,
) -> Result<Config, ConfigErrors> {
    let mut cx = Ctx::new(path, text);
    cx.env_policy = policy;
    let mut doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            // Nothing else can be checked in a file that does not parse.
            let span = e.span();
            let mut message = format!("TOML syntax error: {}", e.message().trim_end());
            if e.message().trim_end() == "duplicate key" {
                if let Some(key) = span.clone().and_then(|s| text.get(s)) {
                    message.push_str(&format!(" `{key}` (each key and table may appear once)"));
                }
            }
            cx.error(&span, message);
            return Err(ConfigErrors(cx.into_errors()));
        }
    };
    env::expand_all(&mut cx, doc.get_mut(), env);
    let root = doc.get_ref();
    let typos = cx.check_keys(&Sec::new("the top level", None, root), TOP_KEYS);

    let store = store::store(&mut cx, root);
    let secrets = store::secrets(&mut cx, root);
    let server = store::server(&mut cx, root);
    let cluster = store::cluster(&mut cx, root, store.as_ref());
    // Tenants may also be only in the store (`sebridge tenants add`): none here is fine.
    let (tenants, declared) =
        collection(&mut cx, root, &typos, "tenants", "tenant", None, |cx, e| {
            tenants::tenant(cx, e.name, e.span, e.table, e.value)
        });
    let hint = "add e.g. [sources.poll] with type = \"poll\" \
                (a configuration without sources does nothing)";
    let (sources, _) = collection(
        &mut cx,
        root,
        &typos,
        "sources",
        "source",
        Some(hint),
        |cx, e| sources::source(cx, e.name, e.span, e.table, e.value, &declared),
    );
    let hint = "add e.g. [sinks.console] with type = \"stdout\" \
                (a configuration without sinks does nothing)";
    let mut files = BTreeMap::new();
    let (sinks, _) = collection(
        &mut cx,
        root,
        &typos,
        "sinks",
        "sink",
        Some(hint),
        |cx, e| sinks::sink(cx, e.name, e.span, e.table, e.value, &mut files),
    );
    let incidents = incidents::incidents(&mut cx, root, &declared);
    let journal = journal::journal(&mut cx, root);

    if cx.has_errors() {
        return Err(ConfigErrors(cx.into_errors()));
    }
    match (store, secrets, incidents, journal, cluster) {
        (Some(store), Some(secrets), Some(incidents), Some(journal), Some(cluster)) => Ok(Config {
            path: path.to_path_buf(),
            store,
            secrets,
            server,
            cluster,
            tenants,
            sources,
            sinks,
            incidents,
            journal,
            unset_env: std::mem::take(&mut cx.unset_names),
            tenant_refs: std::mem::take(&mut cx.tenant_refs),
        }),
        // Sections only come back empty after recording a problem; this keeps that promise
        // from becoming a panic if it is ever broken.
        _ => {
            cx.error(
                &None,
                "internal error: incomplete configuration without a reported problem",
            );
            Err(ConfigErrors(cx.into_errors()))
        }
    }
}

/// One `[<collection>.<name>]` table.
struct Entry<'v, 'i> {
    name: &'v str,
    span: Span,
    table: &'v DeTable<'i>,
    value: &'v Spanned<DeValue<'i>>,
}

/// The entries of the collection `key` read with `read`, and the names of all declared
/// ones (valid or not, so that references to a broken one do not cascade). Reports bad
/// names, entries that are not tables, and, when `empty_hint` is given, an absent or empty
/// collection unless the collection's key was reported as misspelt (`typos`).
#[allow(clippy::too_many_arguments)]
fn collection<T>(
    cx: &mut Ctx<'_>,
    root: &DeTable<'_>,
    typos: &[String],
    key: &str,
    singular: &str,
    empty_hint: Option<&str>,
    mut read: impl FnMut(&mut Ctx<'_>, Entry<'_, '_>) -> Option<T>,
) -> (BTreeMap<String, T>, BTreeSet<String>) {
    let (mut out, mut declared) = (BTreeMap::new(), BTreeSet::new());
    let Some((k, value)) = root.get_key_value(key) else {
        if let Some(hint) = empty_hint.filter(|_| !typos.iter().any(|t| t == key)) {
            cx.error(&None, format!("no {key} configured: {hint}"));
        }
        return (out, declared);
    };
    // Wrong type: reported; an "empty" report would only repeat it.
    let Some(table) = cx.as_table(value, key, "the top level") else {
        return (out, declared);
    };
    if let Some(hint) = empty_hint.filter(|_| table.is_empty()) {
        cx.error_at(&k.span(), format!("no {key} configured: {hint}"));
    }
    for (name, value) in table.iter() {
        let (span, name) = (name.span(), name.get_ref().as_ref());
        // Entries with bad names are still checked, to report everything, but not kept.
        let valid_name = is_valid_name(name);
        if !valid_name {
            cx.error_at(
                &span,
                format!("invalid {singular} name `{name}`: expected {NAME_RULE}"),
            );
        }
        let DeValue::Table(table) = value.get_ref() else {
            let found = cx.found(&value.span());
            cx.error_at(
                &value.span(),
                format!("{singular} `{name}` must be a table ([{key}.{name}]), found {found}"),
            );
            continue;
        };
        declared.insert(name.to_string());
        let entry = Entry {
            name,
            span: Some(span),
            table,
            value,
        };
        if let (Some(t), true) = (read(cx, entry), valid_name) {
            out.insert(name.to_string(), t);
        }
    }
    (out, declared)
}

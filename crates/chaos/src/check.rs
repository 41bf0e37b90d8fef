//! The outcome of a scenario, counted against the simulator's ground truth by event id:
//! what each sink lost or holds twice, and duplicate tickets, XDR incidents and work notes.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};

use anyhow::Context as _;
use serde_json::Value;

use crate::world::World;

type Key = (String, u64);

/// One sink's delivery against the truth.
#[derive(Debug, Default, Clone, Copy)]
pub struct Delivery {
    pub lost: usize,
    pub duplicated: usize,
}

impl Delivery {
    fn of(truth: &HashSet<Key>, seen: impl IntoIterator<Item = Key>) -> Delivery {
        let mut counts: HashMap<Key, usize> = HashMap::new();
        for k in seen {
            *counts.entry(k).or_default() += 1;
        }
        Delivery {
            lost: truth.iter().filter(|k| !counts.contains_key(*k)).count(),
            duplicated: counts.values().map(|c| c - 1).sum(),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub truth: usize,
    pub file: Delivery,
    pub pg: Delivery,
    pub hec: Option<Delivery>,
    /// Elasticsearch refuses a second copy of an `_id` (409), so only losses can show.
    pub es_lost: Option<usize>,
    pub tickets: usize,
    pub duplicate_tickets: usize,
    pub xdr_incidents: usize,
    pub duplicate_xdr: usize,
    pub work_notes: usize,
    pub duplicate_notes: usize,
    /// sebridge's incidents that have no ServiceNow ticket or no XDR incident at the end.
    pub incidents: usize,
    pub incidents_unsynced: usize,
    /// A few of the duplicates, to start the diagnosis from.
    pub examples: Vec<String>,
}

impl Outcome {
    /// Every count that must be zero.
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let mut check = |what: &str, n: usize| {
            if n > 0 {
                f.push(format!("{what}: {n}"));
            }
        };
        check("lost in the file sink", self.file.lost);
        check("duplicated in the file sink", self.file.duplicated);
        check("lost in the PostgreSQL sink", self.pg.lost);
        check("duplicated in the PostgreSQL sink", self.pg.duplicated);
        if let Some(h) = self.hec {
            check("lost in Splunk HEC", h.lost);
        }
        if let Some(l) = self.es_lost {
            check("lost in Elasticsearch", l);
        }
        check("duplicate ServiceNow tickets", self.duplicate_tickets);
        check("duplicate XDR incidents", self.duplicate_xdr);
        check("duplicate work notes", self.duplicate_notes);
        check(
            "incidents without a ticket or XDR incident",
            self.incidents_unsynced,
        );
        f
    }
}

fn file_keys(world: &World) -> anyhow::Result<Vec<Key>> {
    let path = world.events_file();
    let Ok(f) = std::fs::File::open(&path) else {
        return Ok(Vec::new());
    };
    let mut keys = Vec::new();
    for (n, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
        let tenant = v["tenant"].as_str().unwrap_or_default().to_string();
        if let Some(id) = v["event"]["id"].as_u64() {
            keys.push((tenant, id));
        }
    }
    Ok(keys)
}

async fn pg_keys(world: &World) -> Vec<Key> {
    let q = format!("SELECT tenant, event_id::text FROM {}.events", world.schema);
    // No table: the sink never wrote (every event is then counted as lost).
    let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(q))
        .fetch_all(&world.pg)
        .await
        .unwrap_or_default();
    rows.into_iter()
        .filter_map(|(t, id)| id.parse().ok().map(|id| (t, id)))
        .collect()
}

/// Counts duplicates of each key: the number of items beyond the first.
fn dups<K: std::hash::Hash + Eq>(keys: impl IntoIterator<Item = K>) -> (usize, usize) {
    let mut counts: HashMap<K, usize> = HashMap::new();
    for k in keys {
        *counts.entry(k).or_default() += 1;
    }
    (counts.len(), counts.values().map(|c| c - 1).sum())
}

pub async fn outcome(world: &World) -> anyhow::Result<Outcome> {
    let truth: HashSet<Key> = world.truth()?.into_iter().collect();
    let mut o = Outcome {
        truth: truth.len(),
        file: Delivery::of(&truth, file_keys(world)?),
        pg: Delivery::of(&truth, pg_keys(world).await),
        ..Outcome::default()
    };
    if let Some(hec) = &world.hec {
        let keys = hec.events().into_iter().filter_map(|e| {
            let tenant = e.fields.as_ref()?["tenant"].as_str()?.to_string();
            Some((tenant, e.event["event"]["id"].as_u64()?))
        });
        o.hec = Some(Delivery::of(&truth, keys));
    }
    if let Some(es) = &world.es {
        let created = usize::try_from(es.stats().created).unwrap_or(usize::MAX);
        o.es_lost = Some(truth.len().saturating_sub(created));
    }
    let records = world.sim.snow_records();
    let (tickets, dup) = dups(records.iter().map(|r| r.get("correlation_id").to_string()));
    (o.tickets, o.duplicate_tickets) = (tickets, dup);
    for r in &records {
        let notes: Vec<&str> = r
            .journal
            .iter()
            .filter(|j| j.element == "work_notes")
            .map(|j| j.value.as_str())
            .collect();
        let (distinct, dup) = dups(notes.iter().copied());
        o.work_notes += distinct;
        o.duplicate_notes += dup;
        if dup > 0 && o.examples.len() < 5 {
            let mut seen = HashSet::new();
            if let Some(n) = notes.iter().find(|n| !seen.insert(**n)) {
                o.examples.push(format!(
                    "work note written twice on {}: {:?}",
                    r.get("number"),
                    n.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    let xdr = world.sim.xdr_incidents();
    let (n, dup) = dups(xdr.iter().map(|i| i["external_ids"].to_string()));
    (o.xdr_incidents, o.duplicate_xdr) = (n, dup);
    let incidents = crate::settle::incidents(world).context("sebridge incidents list --json")?;
    o.incidents = incidents.len();
    o.incidents_unsynced = crate::settle::unsynced(&incidents);
    Ok(o)
}

/// Whether incident work has settled: the same tickets, notes and XDR incidents as at the
/// last call (for the catch-up phase).
pub fn incident_fingerprint(world: &World) -> (usize, usize, usize) {
    let records = world.sim.snow_records();
    let notes = records.iter().map(|r| r.journal.len()).sum();
    (records.len(), notes, world.sim.xdr_incidents().len())
}

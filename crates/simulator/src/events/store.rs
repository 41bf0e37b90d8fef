//! One tenant's stored events: pre-serialized JSON text, kept sorted by time, read newest
//! first with the `/v1/events` filters.

use std::sync::Arc;

use serde_json::Value;

/// The JSON text of one event, stored pre-serialized.
#[derive(Debug, Clone)]
pub(crate) enum EventText {
    /// Verbatim text (inserted or file-loaded events).
    Raw(Arc<str>),
    /// Generated: `head` + shared `computer` object + shared `tail`.
    Gen {
        head: Box<str>,
        computer: Arc<str>,
        tail: Arc<str>,
    },
}

impl EventText {
    pub fn len(&self) -> usize {
        match self {
            EventText::Raw(s) => s.len(),
            EventText::Gen {
                head,
                computer,
                tail,
            } => head.len() + computer.len() + tail.len(),
        }
    }

    pub fn push_to(&self, out: &mut String) {
        match self {
            EventText::Raw(s) => out.push_str(s),
            EventText::Gen {
                head,
                computer,
                tail,
            } => {
                out.push_str(head);
                out.push_str(computer);
                out.push_str(tail);
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.len());
        self.push_to(&mut s);
        s
    }
}

/// One stored event: its sort key, the fields filters look at, and its text.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub ts: i64,
    pub ns: u32,
    /// Insertion sequence (assigned by the store): later insertions sort as newer on ties.
    pub seq: u64,
    pub id: Option<u64>,
    pub type_id: Option<u32>,
    pub connector: Option<Arc<str>>,
    pub groups: Box<[Arc<str>]>,
    /// `file.identity.sha256`, lowercased.
    pub det_sha: Option<Arc<str>>,
    /// `file.parent.identity.sha256` (or `network_info.parent...`), lowercased.
    pub app_sha: Option<Arc<str>>,
    pub text: EventText,
}

impl StoredEvent {
    pub(super) fn key(&self) -> (i64, u32, u64) {
        (self.ts, self.ns, self.seq)
    }

    /// Builds a stored event from verbatim JSON text. The text must be a JSON object with an
    /// integer `timestamp` or a parseable `date`.
    pub fn from_raw(text: Arc<str>) -> Result<StoredEvent, String> {
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
        Self::from_value(&v, EventText::Raw(text))
    }

    pub fn from_value(v: &Value, text: EventText) -> Result<StoredEvent, String> {
        let obj = v.as_object().ok_or("not a JSON object")?;
        // A `timestamp` of digits in a string, or one of another type beside a `date`, is
        // accepted too: tests serve events of an API that changed a field's type.
        let date = obj.get("date").and_then(Value::as_str);
        let from_date = |d: &str| {
            crate::util::parse_start_date(d).ok_or_else(|| format!("unparseable `date` {d:?}"))
        };
        let ts = match (obj.get("timestamp"), date) {
            (Some(t), date) => match t
                .as_i64()
                .or_else(|| t.as_str().and_then(|s| s.trim().parse().ok()))
            {
                Some(ts) => ts,
                None => match date {
                    Some(d) => from_date(d)?,
                    None => return Err("`timestamp` is not an integer number of seconds".into()),
                },
            },
            (None, Some(d)) => from_date(d)?,
            (None, None) => return Err("event has neither `timestamp` nor `date`".into()),
        };
        let ns = obj
            .get("timestamp_nanoseconds")
            .and_then(Value::as_u64)
            .map(|n| n.min(999_999_999) as u32)
            .unwrap_or(0);
        let id = obj.get("id").and_then(Value::as_u64);
        let type_id = obj
            .get("event_type_id")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok());
        let connector = obj
            .get("connector_guid")
            .and_then(Value::as_str)
            .or_else(|| {
                v.pointer("/computer/connector_guid")
                    .and_then(Value::as_str)
            })
            .map(Arc::from);
        let groups = obj
            .get("group_guids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(Arc::from)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_boxed_slice();
        let lower = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .map(|s| Arc::from(s.to_ascii_lowercase()))
        };
        let det_sha = lower("/file/identity/sha256");
        let app_sha = lower("/file/parent/identity/sha256")
            .or_else(|| lower("/network_info/parent/identity/sha256"));
        Ok(StoredEvent {
            ts,
            ns,
            seq: 0,
            id,
            type_id,
            connector,
            groups,
            det_sha,
            app_sha,
            text,
        })
    }
}

/// Filters of `GET /v1/events` other than paging. OR within a field, AND across fields.
#[derive(Debug, Default, Clone)]
pub(crate) struct Filter {
    /// Inclusive lower bound on `timestamp` (epoch seconds).
    pub start: Option<i64>,
    pub types: Vec<u32>,
    pub connectors: Vec<String>,
    pub groups: Vec<String>,
    pub det_sha: Option<String>,
    pub app_sha: Option<String>,
}

impl Filter {
    fn is_time_only(&self) -> bool {
        self.types.is_empty()
            && self.connectors.is_empty()
            && self.groups.is_empty()
            && self.det_sha.is_none()
            && self.app_sha.is_none()
    }

    fn matches(&self, e: &StoredEvent) -> bool {
        if !self.types.is_empty() && !e.type_id.is_some_and(|t| self.types.contains(&t)) {
            return false;
        }
        if !self.connectors.is_empty()
            && !e
                .connector
                .as_ref()
                .is_some_and(|c| self.connectors.iter().any(|x| x.eq_ignore_ascii_case(c)))
        {
            return false;
        }
        if !self.groups.is_empty()
            && !e
                .groups
                .iter()
                .any(|g| self.groups.iter().any(|x| x.eq_ignore_ascii_case(g)))
        {
            return false;
        }
        if let Some(s) = &self.det_sha {
            if !e
                .det_sha
                .as_ref()
                .is_some_and(|d| d.eq_ignore_ascii_case(s))
            {
                return false;
            }
        }
        if let Some(s) = &self.app_sha {
            if !e
                .app_sha
                .as_ref()
                .is_some_and(|d| d.eq_ignore_ascii_case(s))
            {
                return false;
            }
        }
        true
    }
}

/// One tenant's events, sorted ascending by (timestamp, nanoseconds, insertion order).
#[derive(Debug, Default)]
pub(crate) struct EventStore {
    pub(super) events: Vec<StoredEvent>,
    next_seq: u64,
}

impl EventStore {
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn get(&self, i: usize) -> &StoredEvent {
        &self.events[i]
    }

    /// Oldest event's timestamp (seconds), if any.
    pub fn oldest_ts(&self) -> Option<i64> {
        self.events.first().map(|e| e.ts)
    }

    /// Ids in API order (newest first); `None` for events without an `id`.
    pub fn ids_newest_first(&self) -> Vec<Option<u64>> {
        self.events.iter().rev().map(|e| e.id).collect()
    }

    /// Inserts events; ties on (timestamp, nanoseconds) are broken by insertion order
    /// (later insertions are "newer" and come first in API order).
    pub fn insert_many(&mut self, mut batch: Vec<StoredEvent>) {
        if batch.is_empty() {
            return;
        }
        for e in &mut batch {
            e.seq = self.next_seq;
            self.next_seq += 1;
        }
        let batch_sorted = batch.windows(2).all(|w| w[0].key() <= w[1].key());
        let appends = self
            .events
            .last()
            .is_none_or(|last| last.key() <= batch[0].key());
        if batch_sorted && appends {
            self.events.extend(batch);
        } else if batch.len() <= 16 {
            for e in batch {
                let key = e.key();
                let pos = self.events.partition_point(|x| x.key() <= key);
                self.events.insert(pos, e);
            }
        } else {
            // Stable sort of two sorted runs is a linear merge in practice.
            self.events.extend(batch);
            self.events.sort_by_key(StoredEvent::key);
        }
    }

    /// Selects one page. Returns `(total matching, indices of the page, newest first)`.
    pub fn select(&self, f: &Filter, offset: usize, limit: usize) -> (usize, Vec<usize>) {
        let n = self.events.len();
        let lo = match f.start {
            Some(s) => self.events.partition_point(|e| e.ts < s),
            None => 0,
        };
        if f.is_time_only() {
            let total = n - lo;
            let end = offset.saturating_add(limit).min(total);
            let idx = (offset.min(total)..end).map(|k| n - 1 - k).collect();
            return (total, idx);
        }
        let mut total = 0usize;
        let mut idx = Vec::new();
        for i in (lo..n).rev() {
            if f.matches(&self.events[i]) {
                if total >= offset && idx.len() < limit {
                    idx.push(i);
                }
                total += 1;
            }
        }
        (total, idx)
    }
}

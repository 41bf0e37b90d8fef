//! Events per second per tenant and per sink over the last minutes, for the dashboard's
//! charts. Sampled from the status board once a second into fixed-size rings: no extra
//! service, and memory bounded by `POINTS` numbers per tenant and sink.

use crate::status::{Snapshot, StatusBoard};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Samples kept per series: five minutes at one a second.
pub const POINTS: usize = 300;
const EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Inner {
    /// The cumulative counters at the previous sample.
    last: HashMap<(bool, String), u64>,
    last_at: Option<Instant>,
    /// Epoch seconds of the newest sample.
    end: i64,
    tenants: BTreeMap<String, VecDeque<f32>>,
    sinks: BTreeMap<String, VecDeque<f32>>,
}

/// The rings. Cheap to clone; the sampler stops when the last clone is dropped.
#[derive(Clone, Default)]
pub struct Series {
    inner: Arc<Mutex<Inner>>,
}

/// What `/series.json` answers: rates (events/s), oldest first, the last at `end`.
#[derive(Debug, Serialize)]
pub struct SeriesJson {
    pub interval_secs: u64,
    pub end: i64,
    pub tenants: BTreeMap<String, Vec<f32>>,
    pub sinks: BTreeMap<String, Vec<f32>>,
}

fn push(ring: &mut VecDeque<f32>, v: f32) {
    if ring.len() == POINTS {
        ring.pop_front();
    }
    ring.push_back(v);
}

impl Series {
    /// Starts sampling `status` every second, until every clone of the result is dropped.
    pub fn start(status: StatusBoard) -> Series {
        let series = Series::default();
        let weak: Weak<Mutex<Inner>> = Arc::downgrade(&series.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                Series { inner }.sample(&status.snapshot(0), Instant::now());
            }
        });
        series
    }

    /// Adds one sample: the growth of each counter since the previous sample, per second.
    pub fn sample(&self, snap: &Snapshot, now: Instant) {
        let mut tenants: BTreeMap<&str, u64> = BTreeMap::new();
        for t in &snap.tenants {
            // A tenant with a poll and a stream source: one series, both counted.
            *tenants.entry(t.tenant.as_str()).or_default() += t.events_ingested;
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let secs = g
            .last_at
            .map(|t| now.duration_since(t).as_secs_f32())
            .filter(|s| *s > 0.0);
        let rate = |g: &mut Inner, key: (bool, String), total: u64| -> f32 {
            let before = g.last.insert(key, total);
            match (before, secs) {
                (Some(b), Some(s)) => total.saturating_sub(b) as f32 / s,
                _ => 0.0,
            }
        };
        for (name, total) in tenants {
            let r = rate(&mut g, (false, name.to_string()), total);
            push(g.tenants.entry(name.to_string()).or_default(), r);
        }
        for s in &snap.sinks {
            let r = rate(&mut g, (true, s.sink.clone()), s.events_written);
            push(g.sinks.entry(s.sink.clone()).or_default(), r);
        }
        g.last_at = Some(now);
        g.end = time::OffsetDateTime::now_utc().unix_timestamp();
    }

    /// The sinks' series and those of `tenants` (all tenants when `None`: with a thousand
    /// of them the dashboard asks only for the page it shows).
    pub fn json(&self, tenants: Option<&[&str]>) -> SeriesJson {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let pick = |name: &str| tenants.is_none_or(|t| t.contains(&name));
        SeriesJson {
            interval_secs: EVERY.as_secs(),
            end: g.end,
            tenants: g
                .tenants
                .iter()
                .filter(|(n, _)| pick(n))
                .map(|(n, r)| (n.clone(), r.iter().copied().collect()))
                .collect(),
            sinks: g
                .sinks
                .iter()
                .map(|(n, r)| (n.clone(), r.iter().copied().collect()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_the_growth_per_second_and_the_rings_stay_bounded() {
        let board = StatusBoard::default();
        board.register_tenant("acme", "poll");
        board.register_tenant("acme", "stream");
        board.register_tenant("globex", "poll");
        board.register_sink("file", "file", 0);
        let series = Series::default();
        let t0 = Instant::now();
        series.sample(&board.snapshot(0), t0);
        board.update_tenant("acme", "poll", |t| t.events_ingested = 30);
        board.update_tenant("acme", "stream", |t| t.events_ingested = 10);
        board.update_sink("file", |s| s.events_written = 20);
        series.sample(&board.snapshot(0), t0 + Duration::from_secs(2));
        let j = series.json(None);
        assert_eq!(
            j.tenants["acme"],
            vec![0.0, 20.0],
            "both sources, per second"
        );
        assert_eq!(j.tenants["globex"], vec![0.0, 0.0]);
        assert_eq!(j.sinks["file"], vec![0.0, 10.0]);
        assert_eq!(series.json(Some(&["globex"])).tenants.len(), 1);
        for i in 0..(POINTS + 50) {
            series.sample(&board.snapshot(0), t0 + Duration::from_secs(3 + i as u64));
        }
        assert_eq!(series.json(None).tenants["acme"].len(), POINTS);
    }
}

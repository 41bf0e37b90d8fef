//! Waiting for a running sebridge to have delivered everything: every sink holds as many
//! events as the simulator served, and incident work (tickets, notes, XDR) has stopped
//! changing.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::check::incident_fingerprint;
use crate::world::World;

/// Counts the lines of a growing file without reading it twice; starts over when the file
/// got shorter (the file sink cuts an uncommitted tail after a crash).
#[derive(Default)]
pub struct LineCounter {
    offset: u64,
    lines: usize,
}

impl LineCounter {
    pub fn count(&mut self, path: &Path) -> usize {
        let Ok(mut f) = std::fs::File::open(path) else {
            return 0;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            *self = LineCounter::default();
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return self.lines;
        }
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.lines += buf[..n].iter().filter(|b| **b == b'\n').count();
                    self.offset += n as u64;
                }
            }
        }
        self.lines
    }
}

/// What the sinks hold so far, as counts.
pub async fn progress(world: &World, file: &mut LineCounter) -> (usize, usize, usize) {
    let f = file.count(&world.events_file());
    let pg = usize::try_from(world.pg_rows().await).unwrap_or(0);
    let siem = match (&world.hec, &world.es) {
        (Some(h), Some(e)) => {
            let h = usize::try_from(h.stats().events).unwrap_or(0);
            h.min(usize::try_from(e.stats().created).unwrap_or(0))
        }
        _ => usize::MAX,
    };
    (f, pg, siem)
}

/// sebridge's incidents (`None`: the list cannot be read).
pub fn incidents(world: &World) -> Option<Vec<serde_json::Value>> {
    let list = world
        .cli(&["incidents", "list", "--json", "--limit", "100000000"])
        .ok()?;
    match serde_json::from_str(&list).ok()? {
        serde_json::Value::Array(a) => Some(a),
        _ => None,
    }
}

/// Incidents without a ticket or an XDR incident.
pub fn unsynced(incidents: &[serde_json::Value]) -> usize {
    incidents
        .iter()
        .filter(|i| i["snow_number"].is_null() || i["xdr_id"].is_null())
        .count()
}

/// Waits until every sink holds the truth's count and incident work has been still for
/// `quiet`. Returns the time it took, or `None` after `limit`.
pub async fn settled(world: &World, quiet: Duration, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut file = LineCounter::default();
    let mut last = incident_fingerprint(world);
    let mut still_since = Instant::now();
    let mut delivered_at = None;
    while start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let truth = world.truth_count();
        let (f, pg, siem) = progress(world, &mut file).await;
        let fp = incident_fingerprint(world);
        if fp != last {
            last = fp;
            still_since = Instant::now();
        }
        let mut delivered = f >= truth && pg >= truth && siem >= truth;
        // Incident work can wait on a retry for a while without changing anything visible:
        // settled also means every incident has its ticket and its XDR incident.
        if delivered && still_since.elapsed() >= quiet {
            delivered = incidents(world).is_some_and(|i| unsynced(&i) == 0);
        }
        if delivered && delivered_at.is_none() {
            delivered_at = Some(start.elapsed());
        }
        if delivered && still_since.elapsed() >= quiet {
            return delivered_at;
        }
        if !delivered {
            delivered_at = None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_counter_follows_growth_and_starts_over_after_a_cut() {
        let dir = std::env::temp_dir().join(format!("chaos-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        let mut c = LineCounter::default();
        assert_eq!(c.count(&p), 0, "no file yet");
        std::fs::write(&p, "a\nb\nc").unwrap();
        assert_eq!(c.count(&p), 2, "an unfinished line is not counted");
        std::fs::write(&p, "a\nb\nc\nd\n").unwrap();
        assert_eq!(c.count(&p), 4);
        // The file sink cuts an uncommitted tail after a crash.
        std::fs::write(&p, "a\n").unwrap();
        assert_eq!(c.count(&p), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

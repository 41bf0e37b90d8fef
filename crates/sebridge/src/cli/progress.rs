//! Progress of long work (`backfill`, `replay --deliver`): a bar with events, rate and ETA
//! on a terminal; plain periodic lines otherwise (a log file, CI, `systemd-run`), so the
//! output of a non-interactive run stays readable.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the plain form prints a line.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    label: String,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Option<Instant>,
    every: Duration,
    /// The latest state and whether it was printed (the plain form prints it on finish).
    latest: Option<(u64, Option<u64>, String)>,
    printed_latest: bool,
}

impl Progress {
    /// Progress in events; `total` is how many there are to move, once known.
    pub fn new(label: impl Into<String>, total: Option<u64>) -> Progress {
        let label = label.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {percent:>3}% ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            label,
            bar,
            started: Instant::now(),
            last_line: None,
            every: std::env::var("SEBRIDGE_PROGRESS_EVERY")
                .ok()
                .and_then(|v| humantime::parse_duration(&v).ok())
                .unwrap_or(LINE_EVERY),
            latest: None,
            printed_latest: false,
        }
    }

    /// `done` events of `total` (when known) so far, in this run; percent and ETA come
    /// from them and this run's pace, so a resumed job is not taken as nearly done.
    pub fn update(&mut self, done: u64, total: Option<u64>, detail: &str) {
        let state = (done, total, detail.to_string());
        if self.latest.as_ref() != Some(&state) {
            self.printed_latest = false;
        }
        self.latest = Some(state);
        let elapsed = self.started.elapsed();
        let rate = rate(done, elapsed);
        let msg = format!("{done} events, {rate:.0}/s{detail}");
        if let Some(bar) = &self.bar {
            if let Some(total) = total {
                bar.set_length(total.max(done));
            }
            bar.set_position(done);
            bar.set_message(msg);
            return;
        }
        if self.last_line.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        self.last_line = Some(Instant::now());
        self.printed_latest = true;
        let tail = match total {
            Some(total) => format!(
                ", {}% done, ETA {}",
                percent(done, total),
                eta(done, total, elapsed)
            ),
            None => ", total not known yet".to_string(),
        };
        eprintln!("{}: {msg}{tail}", self.label);
    }

    /// Ends the bar (the caller prints the summary line); the plain form prints where the
    /// work got to, unless its last line already said it (short work has one line only).
    pub fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            return;
        }
        if let (false, Some((done, total, detail))) = (self.printed_latest, self.latest.take()) {
            self.last_line = None;
            self.update(done, total, &detail);
        }
    }
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        events as f64 / secs
    } else {
        0.0
    }
}

fn percent(done: u64, total: u64) -> u64 {
    (done.min(total) * 100).checked_div(total).unwrap_or(100)
}

/// Time left at the pace so far ("?" before there is a pace).
fn eta(done: u64, total: u64, elapsed: Duration) -> String {
    if done == 0 || total == 0 {
        return "?".into();
    }
    if done >= total {
        return "0s".into();
    }
    let left = elapsed.as_secs_f64() * (total - done) as f64 / done as f64;
    humantime::format_duration(Duration::from_secs(left.round() as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_form_computes_percent_and_eta_from_the_events_and_pace_so_far() {
        assert_eq!(percent(25, 100), 25);
        assert_eq!(percent(150, 100), 100);
        assert_eq!(percent(0, 0), 100);
        assert_eq!(eta(0, 100, Duration::from_secs(10)), "?");
        assert_eq!(eta(25, 100, Duration::from_secs(10)), "30s");
        assert_eq!(eta(100, 100, Duration::from_secs(10)), "0s");
        assert_eq!(rate(500, Duration::from_secs(2)), 250.0);
    }
}

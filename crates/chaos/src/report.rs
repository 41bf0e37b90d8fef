//! The Markdown report: the crash loop's counts and one row per fault.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::crash::CrashReport;
use crate::faults::FaultReport;

pub struct Report {
    text: String,
    failures: Vec<String>,
    fault_rows: Vec<String>,
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

impl Report {
    pub fn new(mode: &str, seed: u64, bin: &Path) -> Report {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "## Chaos report ({mode} mode, seed {seed})\n\nBinary: `{}`.\n",
            bin.display()
        );
        Report {
            text,
            failures: Vec::new(),
            fault_rows: Vec::new(),
        }
    }

    pub fn crash(&mut self, r: &CrashReport) {
        let o = &r.outcome;
        let t = &mut self.text;
        let _ = writeln!(
            t,
            "### Crash loop: {} SIGKILLs of `sebridge run`, poll + Event Streams, 3 tenants\n",
            r.kills.len()
        );
        let mut by: BTreeMap<_, (usize, usize)> = BTreeMap::new();
        for k in &r.kills {
            let e = by.entry(k.trigger).or_default();
            e.0 += 1;
            e.1 += usize::from(k.hit);
        }
        let moments: Vec<String> = by
            .iter()
            .map(|(t, (n, hit))| format!("{} {n} ({hit} seen)", t.label()))
            .collect();
        let _ = writeln!(t, "Kill moments: {}.", moments.join("; "));
        let up: Vec<f64> = r.kills.iter().map(|k| k.uptime.as_secs_f64()).collect();
        let mean = up.iter().sum::<f64>() / up.len().max(1) as f64;
        let _ = writeln!(
            t,
            "{} events served during the loop. Mean uptime before a kill {mean:.1} s; catch-up after the last kill {}; clean exit on SIGTERM: {}; wall time {:.0} s. Log: `{}`.\n",
            r.events,
            secs(r.catch_up),
            if r.clean_exit { "yes" } else { "NO" },
            r.wall.as_secs_f64(),
            r.log.display()
        );
        let _ = writeln!(t, "| measure | count | target |\n|---|---:|---:|");
        let rows = [
            ("events served (ground truth)", o.truth, None),
            ("events lost (file sink)", o.file.lost, Some(0)),
            (
                "events duplicated in the file sink",
                o.file.duplicated,
                Some(0),
            ),
            ("events lost (PostgreSQL sink)", o.pg.lost, Some(0)),
            (
                "duplicated rows in the PostgreSQL sink",
                o.pg.duplicated,
                Some(0),
            ),
            ("incidents (sebridge)", o.incidents, None),
            ("ServiceNow tickets", o.tickets, None),
            ("duplicate ServiceNow tickets", o.duplicate_tickets, Some(0)),
            ("XDR incidents", o.xdr_incidents, None),
            ("duplicate XDR incidents", o.duplicate_xdr, Some(0)),
            ("work notes", o.work_notes, None),
            ("duplicate work notes", o.duplicate_notes, Some(0)),
            (
                "incidents without ticket or XDR incident",
                o.incidents_unsynced,
                Some(0),
            ),
        ];
        for (what, n, target) in rows {
            let target = target.map_or(String::new(), |v: usize| v.to_string());
            let _ = writeln!(t, "| {what} | {n} | {target} |");
        }
        let _ = writeln!(t);
        for f in o.failures() {
            self.failures.push(format!("crash loop: {f}"));
        }
        for e in &o.examples {
            self.failures.push(format!("crash loop, e.g. {e}"));
        }
        if r.catch_up.is_none() {
            self.failures.push("crash loop: never caught up".into());
        }
        if !r.clean_exit {
            self.failures
                .push("crash loop: no clean exit on SIGTERM".into());
        }
    }

    pub fn fault(&mut self, r: &FaultReport) {
        if let Some(why) = &r.skipped {
            self.fault_rows.push(format!(
                "| {} | {} | skipped: {why} | | | | | |",
                r.name, r.what
            ));
            return;
        }
        let o = &r.outcome;
        let fails = o.failures();
        let lost = o.file.lost + o.pg.lost + o.hec.map_or(0, |h| h.lost) + o.es_lost.unwrap_or(0);
        let dup = o.file.duplicated + o.pg.duplicated;
        let tickets = o.duplicate_tickets + o.duplicate_xdr + o.duplicate_notes;
        let mut said = r
            .said
            .as_deref()
            .map_or("(nothing logged)".to_string(), |s| {
                format!("`{}`", s.replace('|', "\\|").replace('`', "'"))
            });
        if let Some(i) = &r.injected {
            said = format!("{said}; injected: {i}");
        }
        self.fault_rows.push(format!(
            "| {} | {} ({:.0} s) | {} | {lost} | {dup} | {tickets} | {} | {said} |",
            r.name,
            r.what,
            r.outage.as_secs_f64(),
            r.events,
            secs(r.recovery),
        ));
        for f in fails {
            self.failures.push(format!("{}: {f}", r.name));
        }
        if r.recovery.is_none() {
            self.failures.push(format!("{}: never caught up", r.name));
        }
        if !r.clean_exit {
            self.failures
                .push(format!("{}: no clean exit on SIGTERM", r.name));
        }
        // Faults that retries absorb need not be logged; outages must be.
        if r.said.is_none() && r.injected.is_none() {
            self.failures
                .push(format!("{}: sebridge said nothing while it lasted", r.name));
        }
    }

    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    pub fn render(&self) -> String {
        let mut t = self.text.clone();
        if !self.fault_rows.is_empty() {
            let _ = writeln!(
                t,
                "### Fault matrix: each fault on a running pipeline, lifted, then caught up without a restart\n\n\
                 | row | fault (outage) | events | lost | duplicated | duplicate tickets/XDR/notes | recovery | what sebridge said |\n\
                 |---|---|---:|---:|---:|---:|---:|---|"
            );
            for r in &self.fault_rows {
                let _ = writeln!(t, "{r}");
            }
            let _ = writeln!(t);
        }
        match self.failures.is_empty() {
            true => {
                let _ = writeln!(t, "**Result: every count at its target.**");
            }
            false => {
                let _ = writeln!(t, "**Result: FAILED**");
                for f in &self.failures {
                    let _ = writeln!(t, "- {f}");
                }
            }
        }
        t
    }
}

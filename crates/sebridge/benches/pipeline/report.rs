//! The Markdown report.

use crate::options::Options;
use crate::Paths;
use std::fmt::Write as _;
use std::time::Duration;

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Bytes as MB (10^6) with MiB alongside.
pub fn mb(bytes: u64) -> String {
    format!(
        "{:.1} MB ({:.1} MiB)",
        bytes as f64 / 1e6,
        bytes as f64 / (1024.0 * 1024.0)
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A performance target: binding at full scale only.
    Target,
    /// A correctness check: always binding.
    Check,
    Info,
}

pub struct Row {
    metric: String,
    value: String,
    target: String,
    kind: Kind,
    passed: bool,
}

impl Row {
    /// A performance target, met or not.
    pub fn target(passed: bool, metric: &str, value: String, target: &str) -> Row {
        Row {
            metric: metric.into(),
            value,
            target: target.into(),
            kind: Kind::Target,
            passed,
        }
    }

    /// A correctness check, passed or not.
    pub fn check(passed: bool, metric: &str, value: String, target: &str) -> Row {
        Row {
            metric: metric.into(),
            value,
            target: target.into(),
            kind: Kind::Check,
            passed,
        }
    }

    pub fn info(metric: &str, value: String) -> Row {
        Row {
            metric: metric.into(),
            value,
            target: "-".into(),
            kind: Kind::Info,
            passed: true,
        }
    }
}

pub struct Section {
    title: String,
    command: String,
    setup: Vec<String>,
    rows: Vec<Row>,
    /// Performance targets are binding (full scale).
    strict: bool,
    pub ok: bool,
}

impl Section {
    /// `strict`: whether missed performance targets fail the run (not at `--quick` scale,
    /// where start-up costs dominate and the targets do not apply).
    pub fn new(
        title: String,
        command: String,
        setup: Vec<String>,
        rows: Vec<Row>,
        strict: bool,
    ) -> Section {
        let ok = rows
            .iter()
            .all(|r| r.passed || (r.kind == Kind::Target && !strict));
        Section {
            title,
            command,
            setup,
            rows,
            strict,
            ok,
        }
    }
}

pub struct Report {
    header: String,
    sections: Vec<String>,
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// nproc, RAM, kernel, CPU model.
fn machine() -> String {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let ram = read_trim("/proc/meminfo")
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb as f64 / (1024.0 * 1024.0)))
        .unwrap_or_else(|| "?".into());
    let kernel = read_trim("/proc/sys/kernel/osrelease").unwrap_or_else(|| "?".into());
    let cpu = read_trim("/proc/cpuinfo")
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    format!("nproc {nproc}, RAM {ram}, kernel (`uname -r`) {kernel}, CPU {cpu}")
}

impl Report {
    pub fn new(opts: &Options, paths: &Paths, notes: Vec<String>) -> Report {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut h = String::new();
        let _ = writeln!(h, "# sebridge pipeline benchmark\n");
        let _ = writeln!(h, "- date: {now}");
        let _ = writeln!(h, "- machine: {}", machine());
        let _ = writeln!(
            h,
            "- binaries: `{}`, `{}` (release profile)",
            paths.sebridge.display(),
            paths.simulator.display()
        );
        let _ = writeln!(
            h,
            "- scale: {}",
            if opts.quick {
                "quick (smoke test)"
            } else {
                "full"
            }
        );
        for n in notes {
            let _ = writeln!(h, "- {n}");
        }
        Report {
            header: h,
            sections: Vec::new(),
        }
    }

    pub fn push(&mut self, s: Section) {
        let mut out = String::new();
        let _ = writeln!(out, "## {}\n", s.title);
        let _ = writeln!(out, "```sh\n{}\n```\n", s.command);
        for line in &s.setup {
            let _ = writeln!(out, "- {line}");
        }
        let _ = writeln!(out, "\n| metric | measured | target | result |");
        let _ = writeln!(out, "|---|---|---|---|");
        for r in &s.rows {
            let verdict = match (r.kind, r.passed, s.strict) {
                (Kind::Info, _, _) => "",
                (_, true, _) => "PASS",
                (Kind::Target, false, false) => "missed (quick scale: not binding)",
                (_, false, _) => "**FAIL**",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {verdict} |",
                r.metric, r.value, r.target
            );
        }
        self.sections.push(out);
    }

    pub fn push_error(&mut self, scenario: &str, error: &str) {
        self.sections.push(format!(
            "## Scenario `{scenario}`: did not complete\n\n```text\n{error}\n```\n"
        ));
    }

    pub fn render(&self) -> String {
        let mut out = self.header.clone();
        for s in &self.sections {
            out.push('\n');
            out.push_str(s);
        }
        out
    }
}

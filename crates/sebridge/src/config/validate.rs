//! The file part of `sebridge validate -c FILE`: check a configuration and report every
//! problem (the command then checks the tenants against the store as well).

use std::io::Write;
use std::path::Path;

use super::Config;

/// Exit status for an invalid configuration (2, like other usage errors).
pub const EXIT_INVALID: i32 = 2;

/// Validates the file at `path` with the process environment, writing
/// `<file>: OK (N tenants, M sources, K sinks)` to `out` and returning 0, or every problem to
/// `err`, one per line, returning [`EXIT_INVALID`].
pub fn validate_to(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    // A closed stdout/stderr must not turn a verdict into a panic; the exit status still
    // tells the result.
    match Config::load(path) {
        Ok(config) => {
            let _ = writeln!(out, "{}: OK ({})", path.display(), summary(&config, 0));
            0
        }
        Err(errors) => {
            for e in &errors {
                let _ = writeln!(err, "{e}");
            }
            EXIT_INVALID
        }
    }
}

/// "2 tenants (1 disabled), 1 source, 3 sinks"; `registered` tenants are those of the
/// store's registry.
pub fn summary(config: &Config, registered: usize) -> String {
    let disabled = config.tenants.values().filter(|t| !t.enabled).count();
    let mut tenants = plural(config.tenants.len() + registered, "tenant");
    let mut notes = Vec::new();
    if registered > 0 {
        notes.push(format!("{registered} in the store"));
    }
    if disabled > 0 {
        notes.push(format!("{disabled} disabled"));
    }
    if !notes.is_empty() {
        tenants.push_str(&format!(" ({})", notes.join(", ")));
    }
    format!(
        "{tenants}, {}, {}",
        plural(config.sources.len(), "source"),
        plural(config.sinks.len(), "sink")
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

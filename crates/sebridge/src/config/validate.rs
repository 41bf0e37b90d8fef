//! `sebridge validate -c FILE`: check a configuration and report every problem.

use std::io::Write;
use std::path::Path;

use super::Config;

/// Exit status for an invalid configuration (2, like other usage errors).
pub const EXIT_INVALID: i32 = 2;

/// Validates `path` with the process environment. Prints
/// `<file>: OK (N tenants, M sources, K sinks)` to stdout and returns 0, or prints every
/// problem to stderr, one per line, and returns [`EXIT_INVALID`].
pub fn validate_command(path: &Path) -> i32 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    validate_to(path, &mut stdout.lock(), &mut stderr.lock())
}

/// [`validate_command`] writing to the given streams (for tests and embedding).
pub fn validate_to(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    // A closed stdout/stderr must not turn a verdict into a panic; the exit status still
    // tells the result.
    match Config::load(path) {
        Ok(config) => {
            let _ = writeln!(out, "{}: OK ({})", path.display(), summary(&config));
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

fn summary(config: &Config) -> String {
    let disabled = config.tenants.values().filter(|t| !t.enabled).count();
    let mut tenants = plural(config.tenants.len(), "tenant");
    if disabled > 0 {
        tenants.push_str(&format!(" ({disabled} disabled)"));
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

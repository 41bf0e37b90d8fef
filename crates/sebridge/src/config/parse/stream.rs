//! `[sources.<name>] type = "stream"`: Event Streams consumption.

use std::collections::BTreeSet;
use std::path::Path;

use super::super::reader::{Reader, Section};
use super::super::{defaults, StreamSourceConfig};
use super::{present_or, source_tenants};

const STREAM_KEYS: &[&str] = &[
    "type",
    "streams",
    "tenants",
    "prefetch",
    "batch_size",
    "batch_wait",
    "heartbeat",
    "connect_timeout",
    "max_backoff",
    "ca_file",
    "insecure",
];

pub(super) fn stream_source(
    r: &mut Reader<'_>,
    s: Section<'_>,
    declared_tenants: &BTreeSet<String>,
    base_dir: &Path,
) -> Option<StreamSourceConfig> {
    r.check_keys(s, STREAM_KEYS);
    let streams = stream_names(r, s);
    let tenants = source_tenants(r, s, declared_tenants);
    let prefetch = present_or(
        r.integer_in::<u16>(s, "prefetch", 1..=i64::from(u16::MAX)),
        s,
        "prefetch",
        defaults::STREAM_PREFETCH,
    );
    let batch_size = present_or(
        r.integer_in::<usize>(s, "batch_size", 1..=i64::from(u16::MAX)),
        s,
        "batch_size",
        defaults::STREAM_BATCH_SIZE,
    );
    let batch_wait = present_or(
        r.duration(s, "batch_wait", true),
        s,
        "batch_wait",
        defaults::STREAM_BATCH_WAIT,
    );
    let heartbeat = present_or(
        r.duration(s, "heartbeat", true),
        s,
        "heartbeat",
        defaults::STREAM_HEARTBEAT,
    );
    let connect_timeout = present_or(
        r.duration(s, "connect_timeout", false),
        s,
        "connect_timeout",
        defaults::STREAM_CONNECT_TIMEOUT,
    );
    let max_backoff = present_or(
        r.duration(s, "max_backoff", false),
        s,
        "max_backoff",
        defaults::STREAM_MAX_BACKOFF,
    );
    let insecure = present_or(r.boolean(s, "insecure"), s, "insecure", false);
    let ca_file = if s.table.contains_key("ca_file") {
        r.non_empty_string(s, "ca_file").and_then(|p| {
            let path = base_dir.join(p.value.trim());
            if !path.is_file() {
                r.error(
                    &p.span,
                    format!(
                        "`ca_file` in {} is not a readable file ({}); expected a PEM file of \
                         the CA that signs the broker's certificate",
                        s.what,
                        path.display()
                    ),
                );
                return None;
            }
            Some(Some(path))
        })
    } else {
        Some(None)
    };
    if let (Some(p), Some(b)) = (prefetch, batch_size) {
        if b > usize::from(p) {
            let span = r
                .get(s, "batch_size")
                .map(|(_, _, span)| span)
                .unwrap_or(None);
            r.error(
                &span,
                format!(
                    "`batch_size` ({b}) in {} is larger than `prefetch` ({p}): the broker \
                     never sends more than `prefetch` unacknowledged deliveries, so a batch \
                     could never fill",
                    s.what
                ),
            );
            return None;
        }
    }
    if insecure == Some(true) && matches!(ca_file, Some(Some(_))) {
        let span = r
            .get(s, "insecure")
            .map(|(_, _, span)| span)
            .unwrap_or(None);
        r.error(
            &span,
            format!(
                "{} sets both `ca_file` and `insecure = true`; `insecure` turns certificate \
                 checks off, so the CA file would be ignored: keep only `ca_file`",
                s.what
            ),
        );
        return None;
    }
    Some(StreamSourceConfig {
        streams: streams?,
        tenants: tenants?,
        prefetch: prefetch?,
        batch_size: batch_size?,
        batch_wait: batch_wait?,
        heartbeat: heartbeat?,
        connect_timeout: connect_timeout?,
        max_backoff: max_backoff?,
        ca_file: ca_file?,
        insecure: insecure?,
    })
}

/// Stream names. Outer `None` = some element invalid.
fn stream_names(r: &mut Reader<'_>, s: Section<'_>) -> Option<Vec<String>> {
    if !s.table.contains_key("streams") {
        return Some(Vec::new());
    }
    let array = r.array(s, "streams")?;
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for value in array.value.iter() {
        match r.element_string(s, "streams", value) {
            Some(n) if !n.value.trim().is_empty() => {
                if out.contains(&n.value) {
                    r.error(
                        &n.span,
                        format!("{} lists stream `{}` twice", s.what, n.value),
                    );
                    ok = false;
                } else {
                    out.push(n.value);
                }
            }
            Some(n) => {
                r.error(
                    &n.span,
                    format!("empty stream name in `streams` of {}", s.what),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

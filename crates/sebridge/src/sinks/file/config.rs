//! `[sinks.<name>] type = "file"`: JSON lines appended to a file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::{Bool, Str};
use crate::sinks::util::config::{defaults::STREAM_BATCHES, SinkCommon};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    /// true: `{"tenant":..,"received_at":..,"event":<raw event>}`; false: the raw event.
    pub wrap: bool,
    /// Batching (default 1000 events per write and fsync), retries, filters.
    pub common: SinkCommon,
}

pub(crate) const BATCHES: (usize, Duration) = STREAM_BATCHES;

#[derive(Deserialize)]
pub(crate) struct FileRaw {
    path: Str,
    wrap: Bool,
}

/// `files`: the paths of the file sinks read so far, so two sinks appending to one file
/// (interleaved, each with its own position) are caught.
pub(crate) fn file(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: FileRaw,
    common: Option<SinkCommon>,
    name: &str,
    files: &mut BTreeMap<PathBuf, String>,
    typos: &[String],
) -> Option<FileSinkConfig> {
    if raw.path.is_none() && !typos.iter().any(|t| t == "path") {
        let hint = "the file to append events to (e.g. path = \"events.jsonl\")";
        cx.missing(s, "path", hint);
    }
    let path = cx
        .path(s, "path", raw.path, "a file to append events to")
        .flatten()
        .and_then(|(path, span)| {
            if let Some(other) = files.get(&path) {
                let message = format!(
                    "`path` in {} is also the path of sink `{other}`; each file sink needs its own file",
                    s.what
                );
                cx.error_at(&span, message);
                return None;
            }
            files.insert(path.clone(), name.to_string());
            Some(path)
        });
    let wrap = cx.bool_or(
        s,
        "wrap",
        raw.wrap,
        crate::sinks::util::config::defaults::SINK_WRAP,
    );
    Some(FileSinkConfig {
        path: path?,
        wrap: wrap?,
        common: common?,
    })
}

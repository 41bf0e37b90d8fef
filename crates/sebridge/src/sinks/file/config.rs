//! `[sinks.<name>] type = "file"`: JSON lines appended to a file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::de;
use crate::config::reader::{Ctx, Sec};
use crate::sinks::util::config::{
    defaults::STREAM_BATCHES, event_format, wrap_with_ocsf, EventFormat, SinkCommon,
};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileSinkConfig {
    #[serde(deserialize_with = "path")]
    pub path: PathBuf,
    /// true: `{"tenant":..,"received_at":..,"event":<raw event>}`; false: the raw event.
    #[serde(default, deserialize_with = "de::boolean")]
    pub wrap: bool,
    /// `json` (the vendor event, default) or `ocsf` (an OCSF event per line).
    #[serde(default, deserialize_with = "event_format")]
    pub format: EventFormat,
    /// Batching (default 1000 events per write and fsync), retries, filters.
    #[serde(skip, default = "SinkCommon::unset")]
    pub common: SinkCommon,
}

pub(crate) const BATCHES: (usize, Duration) = STREAM_BATCHES;

fn path<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    de::text(d).map(PathBuf::from)
}

/// `files`: the paths of the file sinks read so far, so two sinks appending to one file
/// (interleaved, each with its own position) are caught.
pub(crate) fn file(
    cx: &mut Ctx<'_>,
    s: &Sec,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    name: &str,
    files: &mut BTreeMap<PathBuf, String>,
    typos: &[String],
) -> Option<FileSinkConfig> {
    let hint = "the file to append events to (e.g. path = \"events.jsonl\")";
    let required: &[(&str, &str)] = match typos.iter().any(|t| t == "path") {
        true => &[],
        false => &[("path", hint)],
    };
    let conflict = wrap_with_ocsf(cx, s, value);
    let mut f: FileSinkConfig = cx.de(s, value, required)?;
    if conflict {
        return None;
    }
    f.path = cx.base_dir.join(&f.path);
    let message = if f.path.is_dir() {
        format!(
            "`path` in {} is a directory ({}); expected a file to append events to",
            s.what,
            f.path.display()
        )
    } else if let Some(other) = files.get(&f.path) {
        format!(
            "`path` in {} is also the path of sink `{other}`; each file sink needs its own file",
            s.what
        )
    } else {
        files.insert(f.path.clone(), name.to_string());
        return Some(f);
    };
    cx.error(&s.val("path"), message);
    None
}

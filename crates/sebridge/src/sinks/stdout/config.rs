//! `[sinks.<name>] type = "stdout"`: JSON lines on standard output.

use std::time::Duration;

use serde::Deserialize;

use crate::config::reader::{Ctx, Sec};
use crate::config::values::Bool;
use crate::sinks::util::config::{defaults::STREAM_BATCHES, SinkCommon};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdoutSinkConfig {
    pub wrap: bool,
    pub common: SinkCommon,
}

pub(crate) const BATCHES: (usize, Duration) = STREAM_BATCHES;

#[derive(Deserialize)]
pub(crate) struct StdoutRaw {
    wrap: Bool,
}

pub(crate) fn stdout(
    cx: &mut Ctx<'_>,
    s: &Sec,
    raw: StdoutRaw,
    common: Option<SinkCommon>,
) -> Option<StdoutSinkConfig> {
    let wrap = cx.bool_or(
        s,
        "wrap",
        raw.wrap,
        crate::sinks::util::config::defaults::SINK_WRAP,
    );
    Some(StdoutSinkConfig {
        wrap: wrap?,
        common: common?,
    })
}

//! `[sinks.<name>] type = "stdout"`: JSON lines on standard output.

use std::time::Duration;

use serde::Deserialize;

use crate::sinks::util::config::{defaults::STREAM_BATCHES, SinkCommon};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StdoutSinkConfig {
    #[serde(default, deserialize_with = "crate::config::de::boolean")]
    pub wrap: bool,
    #[serde(skip, default = "SinkCommon::unset")]
    pub common: SinkCommon,
}

pub(crate) const BATCHES: (usize, Duration) = STREAM_BATCHES;

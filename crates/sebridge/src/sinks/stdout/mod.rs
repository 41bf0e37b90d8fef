//! Standard output sink (JSON lines), for piping into other tools and for debugging.

pub mod config;
use crate::sinks::util::render::render_line;
use crate::sinks::util::{Sink, SinkError};
use crate::store::JournalEntry;
use tokio::io::AsyncWriteExt;

pub struct StdoutSink {
    wrap: bool,
    buf: String,
}

impl StdoutSink {
    pub fn new(wrap: bool) -> StdoutSink {
        StdoutSink {
            wrap,
            buf: String::new(),
        }
    }
}

impl Sink for StdoutSink {
    fn kind(&self) -> &'static str {
        "stdout"
    }

    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        self.buf.clear();
        for entry in batch {
            render_line(entry, self.wrap, &mut self.buf);
        }
        let mut out = tokio::io::stdout();
        let io = |source| SinkError::Io {
            context: "cannot write to stdout".into(),
            source,
        };
        out.write_all(self.buf.as_bytes()).await.map_err(io)?;
        out.flush().await.map_err(io)?;
        Ok(None)
    }
}

//! JSON-lines file sink, exactly once across crashes.
//!
//! The committed state is the file length after the last committed batch. On start, bytes
//! past it (a batch written but not committed when the process died) are cut off before the
//! batch is written again, so every event is in the file once.

pub mod config;
use crate::sinks::util::config::EventFormat;
use crate::sinks::util::ocsf::write_ocsf;
use crate::sinks::util::render::render_line;
use crate::sinks::util::{Sink, SinkError};
use crate::store::JournalEntry;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;
use tracing::warn;

pub struct FileSink {
    path: PathBuf,
    wrap: bool,
    format: EventFormat,
    file: Option<tokio::fs::File>,
    len: u64,
    buf: String,
}

#[derive(Serialize, Deserialize)]
struct State {
    len: u64,
}

impl FileSink {
    pub fn new(path: PathBuf, wrap: bool) -> FileSink {
        FileSink {
            path,
            wrap,
            format: EventFormat::Json,
            file: None,
            len: 0,
            buf: String::new(),
        }
    }

    /// Writes `format` lines (OCSF events instead of the vendor JSON with `Ocsf`).
    pub fn with_format(mut self, format: EventFormat) -> FileSink {
        self.format = format;
        self
    }

    fn io(&self, what: &str, source: std::io::Error) -> SinkError {
        SinkError::Io {
            context: format!("{what} {}", self.path.display()),
            source,
        }
    }
}

impl Sink for FileSink {
    fn kind(&self) -> &'static str {
        "file"
    }

    async fn open(&mut self, state: Option<&str>) -> Result<(), SinkError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = tokio::fs::create_dir_all(dir).await {
                // `create_dir_all` says "File exists" when a part of the path is a file.
                let blocker = dir
                    .ancestors()
                    .find(|a| std::fs::metadata(a).is_ok_and(|m| !m.is_dir()));
                return Err(match blocker {
                    Some(b) => SinkError::Other(format!(
                        "cannot create the directory of {}: {} is a file, not a directory",
                        self.path.display(),
                        b.display()
                    )),
                    None => self.io("cannot create the directory of", e),
                });
            }
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| self.io("cannot open", e))?;
        let actual = file
            .metadata()
            .await
            .map_err(|e| self.io("cannot stat", e))?
            .len();
        let committed = match state.map(serde_json::from_str::<State>) {
            Some(Ok(s)) => Some(s.len),
            Some(Err(e)) => {
                warn!(path = %self.path.display(), error = %e, "unreadable file sink state; appending at the end");
                None
            }
            None => None,
        };
        self.len = match committed {
            Some(len) if actual > len => {
                warn!(path = %self.path.display(), committed = len, found = actual,
                    "removing lines written after the last commit (they will be written again)");
                file.set_len(len)
                    .await
                    .map_err(|e| self.io("cannot truncate", e))?;
                file.sync_all()
                    .await
                    .map_err(|e| self.io("cannot sync", e))?;
                len
            }
            Some(len) if actual < len => {
                warn!(path = %self.path.display(), committed = len, found = actual,
                    "the file is shorter than committed (rotated or truncated by someone else?); appending");
                actual
            }
            _ => actual,
        };
        self.file = Some(file);
        Ok(())
    }

    async fn write(&mut self, batch: &[JournalEntry]) -> Result<Option<String>, SinkError> {
        self.buf.clear();
        for entry in batch {
            match self.format {
                EventFormat::Json => render_line(entry, self.wrap, &mut self.buf),
                EventFormat::Ocsf => {
                    write_ocsf(entry, &mut self.buf);
                    self.buf.push('\n');
                }
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Err(SinkError::Other(format!(
                "file sink {} used before open",
                self.path.display()
            )));
        };
        let result = async {
            file.write_all(self.buf.as_bytes()).await?;
            file.flush().await?;
            // Durable before the position is committed; otherwise a power loss could lose
            // lines whose position says "delivered".
            file.sync_data().await
        }
        .await;
        if let Err(e) = result {
            // Cut a partial write back so the retry does not leave half a line behind.
            if let Some(f) = self.file.as_ref() {
                let _ = f.set_len(self.len).await;
            }
            return Err(self.io("cannot write", e));
        }
        self.len += self.buf.len() as u64;
        Ok(Some(
            serde_json::to_string(&State { len: self.len }).unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, raw: &str) -> JournalEntry {
        JournalEntry {
            seq,
            tenant: "acme".into(),
            event_id: seq as u64,
            event_type_id: 1,
            event_time: 0,
            received_at: 1_600_000_000_000,
            source: "poll".into(),
            raw: raw.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn uncommitted_tail_is_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = FileSink::new(path.clone(), false);
        sink.open(None).await.unwrap();
        let state = sink.write(&[entry(1, r#"{"id":1}"#)]).await.unwrap();
        // A second batch is written but the process dies before committing it.
        sink.write(&[entry(2, r#"{"id":2}"#)]).await.unwrap();
        drop(sink);
        let mut sink = FileSink::new(path.clone(), false);
        sink.open(state.as_deref()).await.unwrap();
        sink.write(&[entry(2, r#"{"id":2}"#)]).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"id\":1}\n{\"id\":2}\n"
        );
    }

    #[test]
    fn wrapped_lines_are_json_and_single_line() {
        let mut out = String::new();
        render_line(&entry(1, "{\"id\":1,\n \"x\":\"a\\nb\"}"), true, &mut out);
        assert_eq!(out.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["tenant"], "acme");
        assert_eq!(v["event"]["x"], "a\nb");
        assert_eq!(v["received_at"], "2020-09-13T12:26:40Z");
    }
}

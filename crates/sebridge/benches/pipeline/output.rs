//! JSON-lines output files: counting lines while they grow, and checking them afterwards.

use anyhow::{Context, Result};
use std::collections::HashSet;
use std::fs::File;
use std::hash::Hasher;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

/// Counts the newlines of a file that only grows, reading only the bytes appended since the
/// last call. The file may not exist yet.
pub struct LineCounter {
    path: PathBuf,
    file: Option<File>,
    lines: u64,
    buf: Vec<u8>,
}

impl LineCounter {
    pub fn new(path: &Path) -> LineCounter {
        LineCounter {
            path: path.to_path_buf(),
            file: None,
            lines: 0,
            buf: vec![0; 1 << 20],
        }
    }

    /// Lines seen so far.
    pub fn poll(&mut self) -> Result<u64> {
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(f) => self.file = Some(f),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(e).context("opening"),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(self.lines);
        };
        loop {
            let n = file.read(&mut self.buf).context("reading")?;
            if n == 0 {
                return Ok(self.lines);
            }
            self.lines += self.buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    }
}

/// What a finished output file holds.
#[derive(Debug)]
pub struct Checked {
    pub lines: u64,
    pub distinct: u64,
    pub bytes: u64,
    /// The file does not end with a newline (a torn last line).
    pub torn: bool,
    /// 64-bit hashes of the distinct lines, to compare two outputs as sets.
    pub hashes: HashSet<u64>,
}

impl Checked {
    pub fn is_exactly(&self, n: u64) -> bool {
        self.lines == n && self.distinct == n && !self.torn
    }
}

/// SipHash (std's fixed-key `DefaultHasher`) of a line: with 10^6 lines the chance that two
/// different lines collide is about 3 x 10^-8, so `distinct` is exact in practice.
fn line_hash(line: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(line);
    h.finish()
}

/// Counts the lines of `path` and how many are distinct.
pub fn check(path: &Path) -> Result<Checked> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let bytes = file
        .metadata()
        .with_context(|| format!("reading the metadata of {}", path.display()))?
        .len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hashes = HashSet::new();
    let (mut lines, mut torn) = (0u64, false);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else {
            torn = true;
        }
        lines += 1;
        hashes.insert(line_hash(&line));
    }
    Ok(Checked {
        lines,
        distinct: hashes.len() as u64,
        bytes,
        torn,
        hashes,
    })
}

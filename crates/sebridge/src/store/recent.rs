//! The newest journal rows, kept in memory by the process that appended them, so that
//! consumers keeping up with ingestion (the usual case) read what was just committed without
//! going back to SQLite: reading every row back cost the backfill about an eighth of its CPU.
//!
//! The cache is exact or silent: it answers only for a range `(lo, hi]` in which it holds
//! every row the journal has. Anything else (older rows, rows another process appended)
//! is read from SQLite.

use super::JournalEntry;
use std::collections::VecDeque;

/// Bytes of raw events kept (about 8,000 typical events).
pub(super) const DEFAULT_BUDGET: usize = 8 << 20;

#[derive(Debug)]
pub(super) struct Recent {
    /// Every journal row with `lo < seq <= hi` is in `rows`, oldest first.
    lo: i64,
    hi: i64,
    rows: VecDeque<JournalEntry>,
    bytes: usize,
    budget: usize,
}

impl Recent {
    /// Empty and covering nothing until the first append says where the journal stands.
    pub(super) fn new(budget: usize) -> Recent {
        Recent {
            lo: -1,
            hi: -1,
            rows: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// Whether the cache can take rows appended on top of `head` (the journal's newest seq
    /// before the append): if not, someone else wrote in between.
    pub(super) fn continues(&self, head: i64) -> bool {
        self.hi == head
    }

    /// Records a committed append: `rows` (in seq order) were inserted on top of `before`,
    /// and the journal's newest seq is now `head`.
    pub(super) fn committed(&mut self, before: i64, rows: Vec<JournalEntry>, head: i64) {
        if !self.continues(before) {
            self.rows.clear();
            self.bytes = 0;
            self.lo = before;
        }
        for r in rows {
            self.bytes += r.raw.len();
            self.rows.push_back(r);
        }
        self.hi = head;
        while self.bytes > self.budget {
            let Some(old) = self.rows.pop_front() else {
                break;
            };
            self.bytes -= old.raw.len();
            self.lo = old.seq;
        }
    }

    /// Rows after `after_seq`, at most `limit`, if the cache holds all of them; `None` sends
    /// the reader to SQLite. An empty answer is never given: at or past `hi` the journal may
    /// have rows another process appended.
    pub(super) fn read_after(&self, after_seq: i64, limit: usize) -> Option<Vec<JournalEntry>> {
        if after_seq < self.lo || after_seq >= self.hi || limit == 0 {
            return None;
        }
        let start = self.rows.partition_point(|r| r.seq <= after_seq);
        if start == self.rows.len() {
            return None;
        }
        Some(self.rows.range(start..).take(limit).cloned().collect())
    }

    /// Rows up to `up_to` were deleted from the journal (retention).
    pub(super) fn deleted_through(&mut self, up_to: i64) {
        if up_to <= self.lo {
            return;
        }
        while self.rows.front().is_some_and(|r| r.seq <= up_to) {
            if let Some(old) = self.rows.pop_front() {
                self.bytes -= old.raw.len();
            }
        }
        self.lo = up_to.min(self.hi);
    }

    /// Forgets everything (the writer connection was closed or a write failed oddly).
    pub(super) fn clear(&mut self) {
        *self = Recent::new(self.budget);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, len: usize) -> JournalEntry {
        JournalEntry {
            seq,
            raw: "x".repeat(len).into(),
            ..Default::default()
        }
    }

    fn seqs(v: Option<Vec<JournalEntry>>) -> Option<Vec<i64>> {
        v.map(|v| v.into_iter().map(|r| r.seq).collect())
    }

    #[test]
    fn answers_only_inside_the_range_it_holds_completely() {
        let mut c = Recent::new(1000);
        assert_eq!(seqs(c.read_after(0, 10)), None, "nothing known yet");
        // Journal head was 10; rows 11, 12 and 14 inserted (13 burnt by an ignored duplicate).
        c.committed(10, vec![row(11, 1), row(12, 1), row(14, 1)], 14);
        assert_eq!(seqs(c.read_after(10, 10)), Some(vec![11, 12, 14]));
        assert_eq!(seqs(c.read_after(12, 10)), Some(vec![14]));
        assert_eq!(seqs(c.read_after(13, 10)), Some(vec![14]));
        assert_eq!(seqs(c.read_after(11, 1)), Some(vec![12]));
        assert_eq!(
            seqs(c.read_after(9, 10)),
            None,
            "row 10 is older than the cache"
        );
        assert_eq!(seqs(c.read_after(14, 10)), None, "at the head: ask SQLite");
        // Another append on top continues the range.
        c.committed(14, vec![row(15, 1)], 15);
        assert_eq!(seqs(c.read_after(10, 10)), Some(vec![11, 12, 14, 15]));
        // Another process appended 16..=20: the next append starts a new range.
        assert!(!c.continues(20));
        c.committed(20, vec![row(21, 1)], 21);
        assert_eq!(seqs(c.read_after(15, 10)), None);
        assert_eq!(seqs(c.read_after(20, 10)), Some(vec![21]));
    }

    #[test]
    fn keeps_within_its_budget_and_follows_retention() {
        let mut c = Recent::new(25);
        c.committed(0, (1..=5).map(|s| row(s, 10)).collect(), 5);
        // 50 bytes over a budget of 25: the oldest go, and the range starts after them.
        assert_eq!(seqs(c.read_after(3, 10)), Some(vec![4, 5]));
        assert_eq!(seqs(c.read_after(2, 10)), None);
        c.deleted_through(4);
        assert_eq!(seqs(c.read_after(3, 10)), None);
        assert_eq!(seqs(c.read_after(4, 10)), Some(vec![5]));
        c.clear();
        assert_eq!(seqs(c.read_after(4, 10)), None);
    }
}

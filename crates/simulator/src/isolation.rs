//! Isolation of a computer as the real API has it. Starting or stopping an isolation is a
//! request the connector carries out when it next checks in, so the status passes through
//! `pending_start` / `pending_stop` (reference §8.2; Cisco's `get_connectors_in_transition.py`
//! looks for exactly those). An offline laptop stays pending until it is back. While a
//! computer is in a transitional state, or isolation is not available on it (policy or OS),
//! `PUT` and `DELETE` answer 409.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Isolation state of a computer (`/v1/computers/{guid}/isolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IsolationStatus {
    NotIsolated,
    PendingStart,
    Isolated,
    PendingStop,
}

impl IsolationStatus {
    pub fn name(self) -> &'static str {
        match self {
            IsolationStatus::NotIsolated => "not_isolated",
            IsolationStatus::PendingStart => "pending_start",
            IsolationStatus::Isolated => "isolated",
            IsolationStatus::PendingStop => "pending_stop",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Isolation {
    pub available: bool,
    pub status: IsolationStatus,
    pub comment: Option<String>,
    pub unlock_code: Option<String>,
    pub isolated_by: Option<String>,
    /// When a pending start or stop completes; `None` while the computer is offline.
    due: Option<Instant>,
}

/// What the connector of a computer does about a pending request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckIn {
    /// Whether the computer is online (an offline one checks in when it is back).
    pub online: bool,
    /// How long an online connector takes to carry a request out.
    pub delay: Duration,
}

impl Default for Isolation {
    fn default() -> Self {
        Isolation {
            available: true,
            status: IsolationStatus::NotIsolated,
            comment: None,
            unlock_code: None,
            isolated_by: None,
            due: None,
        }
    }
}

impl Isolation {
    /// Completes a pending request that is due.
    pub fn settle(&mut self, now: Instant) {
        if self.due.is_some_and(|d| d <= now) {
            self.due = None;
            match self.status {
                IsolationStatus::PendingStart => self.status = IsolationStatus::Isolated,
                IsolationStatus::PendingStop => {
                    self.status = IsolationStatus::NotIsolated;
                    self.comment = None;
                    self.unlock_code = None;
                    self.isolated_by = None;
                }
                _ => {}
            }
        }
    }

    /// The state as a reader sees it at `now`.
    pub fn view(&self, now: Instant) -> Isolation {
        let mut v = self.clone();
        v.settle(now);
        v
    }

    fn schedule(&mut self, now: Instant, c: CheckIn) {
        self.due = c.online.then(|| now + c.delay);
        self.settle(now);
    }

    /// `PUT`: asks for an isolation. The error is the 409's detail.
    pub fn start(
        &mut self,
        now: Instant,
        c: CheckIn,
        comment: Option<String>,
        unlock_code: Option<String>,
        by: String,
    ) -> Result<(), String> {
        self.settle(now);
        match self.status {
            IsolationStatus::NotIsolated if !self.available => {
                return Err(
                    "Isolation is not available for this computer (policy or operating system)"
                        .into(),
                )
            }
            IsolationStatus::NotIsolated => {}
            IsolationStatus::Isolated => return Err("Computer is already isolated".into()),
            s => return Err(transitional(s)),
        }
        self.status = IsolationStatus::PendingStart;
        self.comment = comment;
        self.unlock_code = unlock_code;
        self.isolated_by = Some(by);
        self.schedule(now, c);
        Ok(())
    }

    /// `DELETE`: asks for the isolation to stop. The error is the 409's detail.
    pub fn stop(&mut self, now: Instant, c: CheckIn) -> Result<(), String> {
        self.settle(now);
        match self.status {
            IsolationStatus::Isolated => {}
            IsolationStatus::NotIsolated => return Err("Computer is not isolated".into()),
            s => return Err(transitional(s)),
        }
        self.status = IsolationStatus::PendingStop;
        self.schedule(now, c);
        Ok(())
    }

    /// The computer came online (or went offline): a pending request completes after the
    /// connector's delay from now, or waits.
    pub fn connectivity(&mut self, now: Instant, c: CheckIn) {
        self.settle(now);
        if matches!(
            self.status,
            IsolationStatus::PendingStart | IsolationStatus::PendingStop
        ) {
            self.schedule(now, c);
        }
    }
}

fn transitional(s: IsolationStatus) -> String {
    let name = s.name();
    format!(
        "Computer is in a transitional isolation state ({name}); try again when it has checked in"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONLINE: CheckIn = CheckIn {
        online: true,
        delay: Duration::from_secs(5),
    };
    const OFFLINE: CheckIn = CheckIn {
        online: false,
        delay: Duration::from_secs(5),
    };

    #[test]
    fn a_start_is_pending_until_the_connector_has_carried_it_out() {
        let t0 = Instant::now();
        let mut i = Isolation::default();
        i.start(t0, ONLINE, Some("c".into()), None, "api".into())
            .expect("starts");
        assert_eq!(i.view(t0).status, IsolationStatus::PendingStart);
        let err = i
            .start(t0, ONLINE, None, None, "api".into())
            .expect_err("409 while pending");
        assert!(err.contains("pending_start"), "{err}");
        assert!(i.stop(t0, ONLINE).is_err(), "no stop while pending_start");
        let later = t0 + Duration::from_secs(5);
        assert_eq!(i.view(later).status, IsolationStatus::Isolated);
        i.stop(later, ONLINE).expect("stops");
        assert_eq!(i.view(later).status, IsolationStatus::PendingStop);
        assert_eq!(i.view(later).comment.as_deref(), Some("c"));
        let done = i.view(later + Duration::from_secs(5));
        assert_eq!(done.status, IsolationStatus::NotIsolated);
        assert_eq!(done.comment, None);
    }

    #[test]
    fn an_offline_computer_stays_pending_until_it_is_back() {
        let t0 = Instant::now();
        let mut i = Isolation::default();
        i.start(t0, OFFLINE, None, None, "api".into())
            .expect("starts");
        let much_later = t0 + Duration::from_secs(3600);
        assert_eq!(i.view(much_later).status, IsolationStatus::PendingStart);
        i.connectivity(much_later, ONLINE);
        assert_eq!(i.view(much_later).status, IsolationStatus::PendingStart);
        assert_eq!(
            i.view(much_later + Duration::from_secs(5)).status,
            IsolationStatus::Isolated
        );
    }

    #[test]
    fn no_delay_is_instant_and_unavailable_is_refused() {
        let t0 = Instant::now();
        let instant = CheckIn {
            online: true,
            delay: Duration::ZERO,
        };
        let mut i = Isolation::default();
        i.start(t0, instant, None, None, "api".into())
            .expect("starts");
        assert_eq!(i.status, IsolationStatus::Isolated);
        let mut u = Isolation {
            available: false,
            ..Isolation::default()
        };
        let err = u
            .start(t0, instant, None, None, "api".into())
            .expect_err("refused");
        assert!(err.contains("not available"), "{err}");
        assert_eq!(u.status, IsolationStatus::NotIsolated);
    }
}

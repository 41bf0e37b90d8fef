//! What performing an operation yields: a [`Done`] (facts for the incident's columns and
//! the audit line) or an [`OpError`] (retryable or not, with the API's retry-after).

use crate::incidents::store::Val;
use std::time::Duration;

/// Why an operation did not complete.
#[derive(Debug)]
pub struct OpError {
    pub message: String,
    pub retryable: bool,
    pub retry_after: Option<Duration>,
}

impl OpError {
    pub(super) fn permanent(msg: impl Into<String>) -> OpError {
        OpError {
            message: msg.into(),
            retryable: false,
            retry_after: None,
        }
    }
}

impl From<servicenow::Error> for OpError {
    fn from(e: servicenow::Error) -> Self {
        OpError {
            retryable: e.is_retryable() || matches!(e, servicenow::Error::Unauthorized { .. }),
            retry_after: e.retry_after(),
            message: format!("ServiceNow: {e}"),
        }
    }
}

impl From<xdr::Error> for OpError {
    fn from(e: xdr::Error) -> Self {
        OpError {
            retryable: e.is_retryable() || matches!(e, xdr::Error::Unauthorized { .. }),
            retry_after: e.retry_after(),
            message: format!("XDR: {e}"),
        }
    }
}

impl From<secure_endpoint::Error> for OpError {
    fn from(e: secure_endpoint::Error) -> Self {
        // A 403 on a containment write is almost always a key created "Read-only".
        let hint = match e {
            secure_endpoint::Error::Forbidden { .. } => {
                "; the tenant's API key lacks Read & Write scope (a read-only key cannot isolate or move hosts)"
            }
            _ => "",
        };
        OpError {
            retryable: e.is_retryable(),
            retry_after: e.retry_after(),
            message: format!("Secure Endpoint: {e}{hint}"),
        }
    }
}

impl From<crate::store::StoreError> for OpError {
    fn from(e: crate::store::StoreError) -> Self {
        OpError {
            retryable: true,
            retry_after: None,
            message: format!("store: {e}"),
        }
    }
}

/// A successful operation: facts to record and the audit line.
pub struct Done {
    pub(super) updates: Vec<(&'static str, Val)>,
    pub(super) action: String,
    pub(super) detail: String,
    pub(super) noted_up_to: Option<i64>,
    /// Not finished: look again later (see `OpOutcome::Wait`).
    pub(super) wait: bool,
}

pub(super) fn done(action: &str, detail: impl Into<String>) -> Done {
    Done {
        updates: Vec::new(),
        action: action.into(),
        detail: detail.into(),
        noted_up_to: None,
        wait: false,
    }
}

/// Not finished, and nothing failed: the operation looks again later.
pub(super) fn waiting(action: &str, detail: impl Into<String>) -> Done {
    Done {
        wait: true,
        ..done(action, detail)
    }
}

impl Done {
    pub(super) fn set(mut self, col: &'static str, v: Val) -> Done {
        self.updates.push((col, v));
        self
    }
}

pub(super) fn text(s: &str) -> Val {
    Val::Text(Some(s.to_string()))
}

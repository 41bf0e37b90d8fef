//! What a person at the vendor console (or the endpoint itself) does to a computer, for
//! tests and scripts: take it offline or bring it back, turn isolation off in its policy,
//! or isolate it / stop its isolation by hand, as someone other than sebridge.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::sim::{SimHandle, SimInner};
use crate::SimError;

/// One change to a computer (every field optional; applied in this order).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleAction {
    /// The connector goes offline (`false`) or checks in again (`true`).
    #[serde(default)]
    pub online: Option<bool>,
    /// Isolation allowed by the computer's policy and OS.
    #[serde(default)]
    pub isolation_available: Option<bool>,
    /// A console user isolates the computer with this comment.
    #[serde(default)]
    pub isolate: Option<String>,
    /// A console user stops the computer's isolation.
    #[serde(default)]
    pub unisolate: bool,
    /// Who does it (shown as `isolated_by`); default "console user".
    #[serde(default)]
    pub user: Option<String>,
}

impl SimInner {
    /// Applies `action` to computer `guid` of `tenant`. A refused isolation request is
    /// an error with the 409's text.
    pub fn console(
        &self,
        tenant: &str,
        guid: &str,
        action: &ConsoleAction,
    ) -> Result<(), SimError> {
        let t = self.tenant(tenant)?;
        let mut world = t.world.write();
        let i = world
            .computer_index(guid)
            .ok_or_else(|| SimError::Config(format!("tenant {tenant} has no computer {guid}")))?;
        let c = &mut world.computers[i];
        let now = Instant::now();
        if let Some(online) = action.online {
            c.online = online;
            c.isolation.connectivity(now, self.check_in(online));
        }
        if let Some(a) = action.isolation_available {
            c.isolation.available = a;
        }
        let user = action.user.clone().unwrap_or_else(|| "console user".into());
        if let Some(comment) = &action.isolate {
            c.isolation
                .start(
                    now,
                    self.check_in(c.online),
                    Some(comment.clone()),
                    None,
                    user,
                )
                .map_err(SimError::Config)?;
        }
        if action.unisolate {
            c.isolation
                .stop(now, self.check_in(c.online))
                .map_err(SimError::Config)?;
        }
        Ok(())
    }
}

impl SimHandle {
    /// Applies a console action to a computer (see [`ConsoleAction`]).
    pub fn console(&self, tenant: &str, guid: &str, action: ConsoleAction) -> Result<(), SimError> {
        self.inner.console(tenant, guid, &action)
    }

    /// Sets how long an online connector takes to carry out an isolation request.
    pub fn set_isolation_delay(&self, delay: Duration) {
        self.inner.isolation_delay_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

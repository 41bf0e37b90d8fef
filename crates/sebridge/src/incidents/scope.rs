//! At start: does each tenant that a rule asks to contain have an API key that may do it?
//!
//! A read-only key (a common onboarding mistake) reads events fine, so nothing else would
//! notice it before the first incident's isolation is refused. For every tenant with a
//! containment rule ([`rules::containment_rules`]) this task probes the key's scope once
//! with a write that cannot change anything ([`tenants::probe_write_scope`]), logs a
//! read-only key at error level naming the tenant and the rules, and shows the result in
//! `/status` (`containment`) and the metric `sebridge_tenant_read_only{tenant}`. It never
//! stops anything: events, tickets and XDR incidents still flow. When the API does not tell
//! (unreachable, 5xx, rate limited), the scope is "unknown" and the probe is tried again
//! later with backoff. It runs beside the pipeline, never on its path.

use super::{rules, Ctx};
use crate::status::{ContainmentStatus, StatusBoard};
use crate::tenants::{self, WriteScope};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// First wait after an answer that did not tell; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(30);
const MAX_RETRY: Duration = Duration::from_secs(600);

/// The tenants to check: `(tenant, rules asking for containment on it)`, by tenant name.
pub fn targets(ctx: &Ctx) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<&String> = ctx.endpoints.keys().collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|t| {
            let r = rules::containment_rules(&ctx.config, t);
            (!r.is_empty()).then(|| (t.clone(), r))
        })
        .collect()
}

/// Checks every target tenant's write scope (concurrently) until each is known or `stop`.
pub async fn check_write_scopes(ctx: Arc<Ctx>, status: StatusBoard, stop: CancellationToken) {
    let mut set = JoinSet::new();
    for (tenant, rules) in targets(&ctx) {
        status.set_containment(ContainmentStatus {
            tenant: tenant.clone(),
            rules: rules.clone(),
            write_scope: "checking".into(),
            warning: None,
            checked_at: None,
        });
        let (ctx, status, stop) = (ctx.clone(), status.clone(), stop.clone());
        set.spawn(async move {
            let Some(client) = ctx.endpoints.get(&tenant) else {
                return;
            };
            let mut wait = FIRST_RETRY;
            loop {
                let scope = tokio::select! {
                    s = tenants::probe_write_scope(client) => s,
                    _ = stop.cancelled() => return,
                };
                report(&status, &tenant, &rules, &scope, wait);
                if !matches!(scope, WriteScope::Unknown(_)) {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => return,
                }
                wait = (wait * 2).min(MAX_RETRY);
            }
        });
    }
    while set.join_next().await.is_some() {}
}

fn report(
    status: &StatusBoard,
    tenant: &str,
    rules: &[String],
    scope: &WriteScope,
    retry: Duration,
) {
    let rule_list = rules.join(", ");
    let warning = match scope {
        WriteScope::ReadWrite => {
            info!(tenant, rules = %rule_list, "API key has Read & Write scope: containment can work");
            None
        }
        WriteScope::ReadOnly(details) => {
            let w = format!(
                "tenant {tenant}'s API key is read-only: rule(s) {rule_list} ask for containment, \
                 but isolation and group moves will fail (HTTP 403: {details}); events and tickets \
                 still flow. Give the tenant an API key with Read & Write scope"
            );
            error!(tenant, rules = %rule_list, "{w}");
            Some(w)
        }
        WriteScope::Unknown(why) => {
            let w = format!(
                "cannot tell whether tenant {tenant}'s API key may contain hosts (rule(s) \
                 {rule_list}): {why}; checking again in {}s",
                retry.as_secs()
            );
            warn!(tenant, rules = %rule_list, "{w}");
            Some(w)
        }
    };
    metrics::gauge!("sebridge_tenant_read_only", "tenant" => tenant.to_string()).set(match scope {
        WriteScope::ReadOnly(_) => 1.0,
        _ => 0.0,
    });
    status.set_containment(ContainmentStatus {
        tenant: tenant.to_string(),
        rules: rules.to_vec(),
        write_scope: scope.as_str().into(),
        warning,
        checked_at: Some(time::OffsetDateTime::now_utc()),
    });
}

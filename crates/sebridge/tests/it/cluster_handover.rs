//! Leases handed over on purpose (for balance, on a clean stop) on a PostgreSQL store shared
//! by two `sebridge run` processes: the work stops before its lease is freed, so none of its
//! writes is refused, and a replica stops promptly on SIGTERM, whatever it gave away.

use crate::cluster::{env, log_of, per_replica, until, Env, Replica, LEASE};
use std::time::{Duration, Instant};

/// The sink whose lease the tests watch (the one `env` configures).
const SINK: &str = "sink:warehouse";

/// Starts replica `a`, waits until it holds every lease and its sink runs, then starts `b`
/// and waits until `a` has handed the sink over to it (the first units by name go first:
/// the incident service, then the sink).
async fn hand_over(env: &Env) -> (Replica, Replica) {
    let a = Replica::start(&env.config, 0);
    until!(
        Duration::from_secs(60),
        "a holds every lease, its sink runs",
        {
            let units = env.owners().await.len();
            units > 0
                && per_replica(env, &[&a]).await == [units]
                && log_of(&a).contains("sink started")
        }
    );
    let b = Replica::start(&env.config, 1);
    let p = b.id_prefix();
    until!(Duration::from_secs(30), "b runs the sink", {
        let owners = env.owners().await;
        owners
            .iter()
            .any(|(n, o)| n == SINK && o.as_deref().is_some_and(|o| o.contains(&p)))
            && log_of(&b).contains("sink started")
    });
    (a, b)
}

/// WARN and ERROR lines of a log that are about leases, sinks or refused writes.
fn complaints(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("refused"))
        .filter(|l| l.contains("sink") || l.contains("lease") || l.contains("refused"))
        .collect()
}

/// A replica joins while the first one's sink is busy with live events: the first hands the
/// sink over for balance, and says so at INFO; the sink's last batch is committed before
/// the lease is freed, so none of its writes is refused, and nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_given_back_for_balance_stops_its_work_first_and_no_write_is_refused() {
    let env = env(10, 5.0).await;
    let (a, b) = hand_over(&env).await;
    let log = log_of(&a);
    assert!(
        log.lines()
            .any(|l| l.contains("lease given back for balance: stopped") && l.contains(SINK)),
        "the hand-over is an INFO line; log:\n{log}"
    );
    env.sim.set_rate(0.0).expect("live events stop");
    env.assert_exactly_once().await;
    assert_eq!(b.stop(), Some(0));
    let path = a.log.clone();
    assert_eq!(a.stop(), Some(0), "clean stop");
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let bad = complaints(&log);
    assert!(
        bad.is_empty(),
        "no write refused, no warning about the hand-over: {bad:#?}\nlog:\n{log}"
    );
    env.drop().await;
}

/// A replica that ran the sink and handed it over stops promptly on SIGTERM and says so:
/// the stop waits only for the sinks running here (the one handed over never moves here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_gave_its_sink_away_stops_promptly_on_sigterm() {
    let env = env(10, 2.0).await;
    let (a, b) = hand_over(&env).await;
    // The journal moves on (a still polls its tenants) past what a's sink had delivered.
    tokio::time::sleep(LEASE / 3).await;
    let path = a.log.clone();
    let started = Instant::now();
    let code = a.stop();
    let took = started.elapsed();
    let log = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(code, Some(0), "clean stop; log:\n{log}");
    assert!(
        log.contains("stop requested (SIGTERM)") && log.contains("stopped cleanly"),
        "the stop is logged; log:\n{log}"
    );
    // The old stop waited 10 s for the sink given away; this bound is functional, not tight.
    assert!(
        took < Duration::from_secs(5),
        "stopped in {took:?}; log:\n{log}"
    );
    assert_eq!(b.stop(), Some(0));
    env.drop().await;
}

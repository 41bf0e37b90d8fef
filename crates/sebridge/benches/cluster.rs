//! `cargo bench -p sebridge --bench cluster`: several `sebridge run` replicas (real processes,
//! the bench build of the binary) on the machine's PostgreSQL, against the simulator
//! (in this process). Two parts, both printed as Markdown tables:
//!
//! - **scale**: 3,000 tenants × 100 events of history (`SEBRIDGE_BENCH_TENANTS`,
//!   `SEBRIDGE_BENCH_EVENTS_PER_TENANT`), 60 s poll interval, on 1, 2 and 3 replicas
//!   (`SEBRIDGE_BENCH_REPLICAS=1,2,3`), each count on a fresh schema: the time from starting
//!   the replicas until every event is in the journal, the `/v1/events` requests against the
//!   minimum (one page per tenant), the CPU of the PostgreSQL server and of the replicas, and
//!   how the tenants ended up shared.
//! - **failover**: 3 replicas, 300 tenants (`SEBRIDGE_BENCH_FAILOVER_TENANTS`) with live events,
//!   a 1 s poll interval and a 5 s lease (`SEBRIDGE_BENCH_LEASE_SECS`); 20 times
//!   (`SEBRIDGE_BENCH_KILLS`) a replica is killed with SIGKILL, and the time is measured from
//!   the kill to the first event of its tenants journaled by another replica (and to the last
//!   of its tenants resuming). The killed replica is started again, and the next kill waits
//!   until the tenants are shared fairly again. Target: p99 < lease + one poll interval.
//!
//! `SEBRIDGE_BENCH_ONLY=scale` or `failover` runs one part. PostgreSQL is
//! `SEBRIDGE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).

use simulator::{SimConfig, SimHandle};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pg_url() -> String {
    std::env::var("SEBRIDGE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// CPU time (user + system) of a process from `/proc/<pid>/stat`, in seconds; with
/// `children`, also that of its reaped children.
fn cpu_of(pid: u32, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    let ticks = f.first()? + f.get(1)? + if children { f.get(2)? + f.get(3)? } else { 0 };
    Some(ticks as f64 / 100.0)
}

/// CPU seconds of the whole PostgreSQL server: every `postgres` process, plus what the
/// postmaster's exited children (closed connections) used.
fn postgres_cpu() -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "postgres" {
            continue;
        }
        let parent_is_pg = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let rest = s[s.rfind(')')? + 1..].to_string();
                rest.split_whitespace().nth(1)?.parse::<u32>().ok()
            })
            .and_then(|ppid| std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok())
            .is_some_and(|c| c.trim() == "postgres");
        total += cpu_of(pid, !parent_is_pg).unwrap_or(0.0);
    }
    total
}

struct Replica {
    child: Child,
    /// The last CPU reading (it vanishes with the process).
    cpu: f64,
}

impl Replica {
    fn start(config: &Path, n: usize) -> Replica {
        let dir = config.parent().expect("config dir");
        let log = std::fs::File::create(dir.join(format!("replica-{n}.log"))).expect("log");
        let err = log.try_clone().expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_sebridge"))
            .args(["run", "-c"])
            .arg(config)
            .env_remove("SEBRIDGE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("sebridge starts");
        Replica { child, cpu: 0.0 }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn sample(&mut self) {
        if let Some(c) = cpu_of(self.pid(), false) {
            self.cpu = c;
        }
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status();
    }

    /// SIGTERM, then waits for the exit; the CPU it used.
    fn stop(mut self) -> f64 {
        self.sample();
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.cpu;
            }
            self.sample();
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("replica {} did not stop on SIGTERM", self.pid());
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A simulator, a config for it on a fresh schema, and a connection to that schema.
struct Env {
    sim: SimHandle,
    pool: PgPool,
    schema: String,
    config: PathBuf,
    dir: PathBuf,
}

async fn env(tenants: usize, history: usize, rate: f64, interval: &str, lease: u64) -> Env {
    let sim = simulator::start(SimConfig {
        tenants,
        rate,
        history,
        history_span: Duration::from_secs(3600),
        rate_limit: 1_000_000,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts");
    // Kept after the run (logs of every replica), replaced by the next run.
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-cluster-{tenants}-{rate}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let config = dir.join("sebridge.toml");
    sim.write_config(&config).expect("config written");
    let schema = format!(
        "bench_cluster_{}_{}",
        std::process::id(),
        sebridge::store::now_millis()
    );
    let mut text = std::fs::read_to_string(&config).expect("config");
    let store = text
        .find("[store]")
        .and_then(|a| text[a..].find("\n\n").map(|b| a..a + b))
        .expect("a [store] table");
    text.replace_range(
        store,
        &format!(
            "[store]\nkind = \"postgres\"\nurl = \"{}\"\nschema = \"{schema}\"\n\n[cluster]\nlease = \"{lease}s\"",
            pg_url()
        ),
    );
    text = text.replace("interval = \"2s\"", &format!("interval = \"{interval}\""));
    std::fs::write(&config, &text).expect("config written");
    if let Err(e) = sebridge::config::Config::load(&config) {
        panic!("config invalid: {e}");
    }
    // The schema exists once the first replica has migrated it; connect lazily.
    let options = PgConnectOptions::from_str(&pg_url())
        .expect("url")
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_lazy_with(options);
    Env {
        sim,
        pool,
        schema,
        config,
        dir,
    }
}

impl Env {
    async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or(-1)
    }

    /// Live tenant leases per owner.
    async fn tenant_leases(&self) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT owner, COUNT(*) FROM leases WHERE name LIKE 'tenant:%' AND owner IS NOT NULL
             AND expires_at > (extract(epoch FROM clock_timestamp()) * 1000)::bigint
             GROUP BY owner ORDER BY owner",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default()
    }

    async fn finish(self) {
        self.pool.close().await;
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_url()).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            )))
            .execute(&mut conn)
            .await;
        }
        self.sim.shutdown().await;
    }
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    // Nearest rank.
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

async fn scale(tenants: usize, per_tenant: usize, replicas: usize) -> String {
    let env = env(tenants, per_tenant, 0.0, "60s", 15).await;
    let expected = (tenants * per_tenant) as i64;
    let events_requests =
        |s: &simulator::SimStats| -> u64 { s.tenants.iter().map(|t| t.events_requests).sum() };
    let requests_before = events_requests(&env.sim.stats());
    let pg_before = postgres_cpu();
    let t0 = Instant::now();
    let mut running: Vec<Replica> = (0..replicas)
        .map(|n| Replica::start(&env.config, n))
        .collect();
    let caught_up = loop {
        if env.scalar("SELECT COUNT(*) FROM journal").await >= expected {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(900),
            "catch-up took over 15 minutes; see {}",
            env.dir.display()
        );
        for r in &mut running {
            r.sample();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let requests = events_requests(&env.sim.stats()) - requests_before;
    let shares = env.tenant_leases().await;
    let distinct = env
        .scalar("SELECT COUNT(*) FROM (SELECT DISTINCT tenant, event_id FROM journal) d")
        .await;
    let count = env.scalar("SELECT COUNT(*) FROM journal").await;
    let mut replica_cpu = 0.0;
    for r in running.drain(..) {
        replica_cpu += r.stop();
    }
    let pg_cpu = postgres_cpu() - pg_before;
    let fair = tenants.div_ceil(replicas);
    let most = shares.iter().map(|s| s.1).max().unwrap_or(0);
    let ok = count == expected && distinct == expected;
    eprintln!(
        "  {replicas} replica(s): {:.2} s, {requests} requests, store CPU {pg_cpu:.1} s, shares {:?}",
        caught_up.as_secs_f64(),
        shares.iter().map(|s| s.1).collect::<Vec<_>>()
    );
    env.finish().await;
    format!(
        "| {replicas} | {:.2} s | {:.0} | {} ({:.3}×) | {pg_cpu:.1} s ({:.1} µs/event) | {replica_cpu:.1} s | {} (fair share {fair}, most {most}) | {} |",
        caught_up.as_secs_f64(),
        expected as f64 / caught_up.as_secs_f64(),
        requests,
        requests as f64 / tenants as f64,
        pg_cpu * 1e6 / expected as f64,
        shares
            .iter()
            .map(|s| s.1.to_string())
            .collect::<Vec<_>>()
            .join(" / "),
        if ok {
            format!("{count} events, each once")
        } else {
            format!("**{count} rows, {distinct} distinct, {expected} expected**")
        }
    )
}

/// Waits until the tenants are shared again: every tenant lease held by a live replica, each
/// of the `replicas` holding some, none beyond its fair share of all units (tenants, sinks).
async fn wait_balanced(env: &Env, tenants: usize, replicas: usize, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let units = env.scalar("SELECT COUNT(*) FROM leases").await.max(1) as usize;
        let fair = units.div_ceil(replicas) as i64;
        let shares = env.tenant_leases().await;
        if shares.len() == replicas
            && shares.iter().all(|s| s.1 <= fair)
            && shares.iter().map(|s| s.1).sum::<i64>() == tenants as i64
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

async fn failover(tenants: usize, kills: usize, lease: u64) -> String {
    const REPLICAS: usize = 3;
    let env = env(tenants, 0, 2.0, "1s", lease).await;
    let mut running: Vec<Replica> = (0..REPLICAS)
        .map(|n| Replica::start(&env.config, n))
        .collect();
    let mut started = REPLICAS;
    assert!(
        wait_balanced(&env, tenants, REPLICAS, Duration::from_secs(120)).await,
        "the replicas never shared the tenants; see {}",
        env.dir.display()
    );
    let (mut first, mut all, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..kills {
        let victim = k % REPLICAS;
        // At a random moment of the victim's heartbeat, so that the time since its last
        // renewal is spread as in life (balance is reached just after a heartbeat).
        tokio::time::sleep(Duration::from_secs(lease).mul_f64(rand::random::<f64>() / 3.0)).await;
        let pid = running[victim].pid();
        let held: Vec<String> = sqlx::query_scalar(
            "SELECT substr(name, 8) FROM leases WHERE name LIKE 'tenant:%' AND owner LIKE $1",
        )
        .bind(format!("%:{pid}:%"))
        .fetch_all(&env.pool)
        .await
        .expect("leases");
        let killed_at = env
            .scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
            .await;
        let t0 = Instant::now();
        running[victim].signal("-KILL");
        let _ = running[victim].child.wait();
        // A commit already on its way when the process died may still land just after.
        let after = killed_at + 200;
        let mut first_at = None;
        loop {
            let resumed: Vec<(String, i64)> = sqlx::query_as(
                "SELECT tenant, MIN(received_at) FROM journal
                 WHERE received_at > $1 AND tenant = ANY($2) GROUP BY tenant",
            )
            .bind(after)
            .bind(&held)
            .fetch_all(&env.pool)
            .await
            .expect("journal");
            if first_at.is_none() {
                first_at = resumed.iter().map(|r| r.1).min();
            }
            if resumed.len() == held.len() {
                let last = resumed.iter().map(|r| r.1).max().unwrap_or(killed_at);
                first.push((first_at.unwrap_or(last) - killed_at) as f64 / 1000.0);
                all.push((last - killed_at) as f64 / 1000.0);
                counts.push(held.len());
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "kill {k}: {} of {} tenants resumed after 120 s; see {}",
                resumed.len(),
                held.len(),
                env.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "  kill {}/{kills}: {} tenants, first event after {:.2} s, all after {:.2} s",
            k + 1,
            held.len(),
            first[k],
            all[k]
        );
        running[victim] = Replica::start(&env.config, started);
        started += 1;
        assert!(
            wait_balanced(
                &env,
                tenants,
                REPLICAS,
                Duration::from_secs(lease * 10 + 30)
            )
            .await,
            "the tenants were not shared fairly again after kill {k}; see {}",
            env.dir.display()
        );
    }
    for r in running.drain(..) {
        r.stop();
    }
    env.finish().await;
    let target = lease as f64 + 1.0;
    let p99 = percentile(&first, 99.0);
    format!(
        "| first event of the killed replica's tenants journaled by another | {:.2} s | {p99:.2} s | {:.2} s | target < {target:.0} s |\n\
         | the last of its tenants resumed | {:.2} s | {:.2} s | {:.2} s | |\n\n\
         {kills} kills; the killed replica held {}–{} tenants each time. Target p99 < lease + poll \
         interval = {target:.0} s: **{}**.",
        percentile(&first, 50.0),
        first.iter().copied().fold(0.0, f64::max),
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.iter().copied().fold(0.0, f64::max),
        counts.iter().min().unwrap_or(&0),
        counts.iter().max().unwrap_or(&0),
        if p99 < target { "met" } else { "not met" },
    )
}

fn main() {
    let only = std::env::var("SEBRIDGE_BENCH_ONLY").unwrap_or_default();
    let tenants: usize = env_or("SEBRIDGE_BENCH_TENANTS", 3000);
    let per_tenant: usize = env_or("SEBRIDGE_BENCH_EVENTS_PER_TENANT", 100);
    let replicas: Vec<usize> = std::env::var("SEBRIDGE_BENCH_REPLICAS")
        .unwrap_or_else(|_| "1,2,3".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let failover_tenants: usize = env_or("SEBRIDGE_BENCH_FAILOVER_TENANTS", 300);
    let kills: usize = env_or("SEBRIDGE_BENCH_KILLS", 20);
    let lease: u64 = env_or("SEBRIDGE_BENCH_LEASE_SECS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        if only.is_empty() || only == "scale" {
            eprintln!("scale: {tenants} tenants × {per_tenant} events");
            let mut rows = Vec::new();
            for &n in &replicas {
                rows.push(scale(tenants, per_tenant, n).await);
            }
            println!(
                "\n{tenants} tenants × {per_tenant} events, 60 s poll interval, 15 s lease:\n"
            );
            println!("| replicas | catch-up (start → all in the journal) | events/s | `/v1/events` requests (÷ minimum) | PostgreSQL CPU | replicas' CPU | tenants per replica at the end | journal |");
            println!("|---:|---:|---:|---:|---:|---:|---|---|");
            for r in rows {
                println!("{r}");
            }
        }
        if only.is_empty() || only == "failover" {
            eprintln!("failover: 3 replicas, {failover_tenants} tenants, {kills} kills, lease {lease} s");
            let table = failover(failover_tenants, kills, lease).await;
            println!("\n3 replicas, {failover_tenants} tenants with live events (2/s each), 1 s poll interval, {lease} s lease:\n");
            println!("| from SIGKILL to | p50 | p99 | max | |");
            println!("|---|---:|---:|---:|---|");
            println!("{table}");
        }
    });
}

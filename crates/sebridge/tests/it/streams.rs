//! The stream source against the real RabbitMQ on this machine (shared broker, nothing here
//! disrupts it): every event journaled and delivered once, stream + poll together, poison
//! messages, SIGKILL between the journal commit and the ack, a refused login, the `streams`
//! and `tail` commands. Broker outages and TLS are in `broker_faults.rs` (own broker node).

use crate::stream_common::*;
use sebridge::status::TenantState;
use sebridge::topology::Topology;
use simulator::AmqpConfig;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

fn sebridge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sebridge"));
    c.env_remove("SEBRIDGE_MASTER_KEY")
        .env_remove(sebridge::sources::stream::FAILPOINT_ENV)
        .env("SEBRIDGE_LOG", "warn");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_source_delivers_every_event_exactly_once() {
    let sim = sim(2, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    create_stream(&config, "tenant-1", "siem").await;
    create_stream(&config, "tenant-2", "siem").await;
    // Events waiting before the consumer starts, and more while it runs.
    sim.generate_events("tenant-1", 700, None).unwrap();
    let topology = Topology::start(&config, None).await.unwrap();
    sim.generate_events("tenant-2", 400, None).unwrap();
    sim.generate_events("tenant-1", 300, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    wait_lines(&sink_path(&config), 1400, LIMIT).await;
    let snap = topology.status.snapshot(topology.store.head());
    let t1 = snap
        .tenants
        .iter()
        .find(|t| t.tenant == "tenant-1")
        .unwrap();
    assert!(
        t1.connection
            .as_deref()
            .is_some_and(|c| c.starts_with("connected to amqp://")),
        "{:?}",
        t1.connection
    );
    assert_eq!(t1.events_ingested, 1000);
    let report = topology.stop().await;
    assert_eq!(report.journal_events, 1400);
    assert_exactly_once(&sim, &sink_path(&config), &["tenant-1", "tenant-2"]);
    // Everything was acked: the queues are empty.
    for (_, _, queue, _) in sim.event_streams() {
        assert_eq!(queue_depth(&amqp_url(), &queue).await, 0, "{queue}");
    }
    sim.shutdown().await;
}

/// A backlog is committed in groups: each commit takes what arrived while the previous one
/// ran (never more than `batch_size`), and every group is acked once it is journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_committed_in_groups_of_at_most_batch_size() {
    use sebridge::config::SourceConfig;
    use sebridge::sources::stream::{Observed, StreamSource};
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &sim,
        dir.path(),
        "[sources.push]\ntype = \"stream\"\nbatch_size = 400\n",
    );
    let Some(SourceConfig::Stream(settings)) = config.sources.get("push").cloned() else {
        panic!("the stream source is configured");
    };
    assert!(settings.batch_wait.is_zero(), "group commit is the default");
    let stream = create_stream(&config, "tenant-1", "siem").await;
    sim.generate_events("tenant-1", 3000, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    let queue = stream.credentials.queue_name.clone();
    assert_eq!(queue_depth(&amqp_url(), &queue).await, 3000);
    let store = sebridge::store::Store::open_sqlite(&config_store_path(&config))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let source = StreamSource {
        name: "push".into(),
        config: settings,
        streams: vec![stream],
        store: store.clone(),
        status: sebridge::status::StatusBoard::default(),
        observer: Some(tx),
        cluster: sebridge::cluster::Cluster::single(),
        tenant_links: Default::default(),
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(source.run(shutdown.clone()));
    let mut commits = Vec::new();
    let started = Instant::now();
    while commits.iter().sum::<usize>() < 3000 {
        assert!(started.elapsed() < LIMIT, "committed so far: {commits:?}");
        if let Ok(Some(Observed::Events(events))) =
            tokio::time::timeout(Duration::from_secs(1), rx.recv()).await
        {
            commits.push(events.len());
        }
    }
    shutdown.cancel();
    // The consumer may wait on the observer channel while stopping.
    while rx.recv().await.is_some() {}
    task.await.unwrap();
    assert_eq!(commits.iter().sum::<usize>(), 3000, "{commits:?}");
    assert!(commits.iter().all(|&n| n <= 400), "{commits:?}");
    // Grouped: far fewer commits than deliveries (one fsync and one ack each).
    assert!(
        commits.len() <= 300,
        "{} commits: {commits:?}",
        commits.len()
    );
    assert_eq!(store.head_from_db().await.unwrap(), 3000);
    assert_eq!(queue_depth(&amqp_url(), &queue).await, 0, "all acked");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_and_poll_together_fold_duplicates_in_the_journal() {
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let sources = format!(
        "{STREAM_SOURCE}\n[sources.poll]\ntype = \"poll\"\ninterval = \"200ms\"\nlookback = \"1h\"\n"
    );
    let config = config(&sim, dir.path(), &sources);
    create_stream(&config, "tenant-1", "siem").await;
    let topology = Topology::start(&config, None).await.unwrap();
    sim.generate_events("tenant-1", 600, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    wait_lines(&sink_path(&config), 600, LIMIT).await;
    // Let the poller see them too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let snap = topology.status.snapshot(topology.store.head());
    let ingested: u64 = snap.tenants.iter().map(|t| t.events_ingested).sum();
    let duplicates: u64 = snap.tenants.iter().map(|t| t.duplicates).sum();
    assert_eq!(
        ingested, 600,
        "each event journaled once across both sources"
    );
    assert!(
        duplicates > 0,
        "the second source's copies were folded: {snap:?}"
    );
    topology.stop().await;
    assert_exactly_once(&sim, &sink_path(&config), &["tenant-1"]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_and_acked() {
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    let stream = create_stream(&config, "tenant-1", "siem").await;
    let queue = stream.credentials.queue_name.clone();
    sim.generate_events("tenant-1", 50, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    let poison: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        vec![0xff, 0xfe, b'{', 0x80],
        br#"{"id":1,"timestamp":1}"#.to_vec(),
        b"[1,2,3]".to_vec(),
        br#"{"id":6.4e18,"event_type_id":1,"timestamp":1}"#.to_vec(),
    ];
    publish_raw(&amqp_url(), &queue, &poison).await;
    sim.generate_events("tenant-1", 50, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    let topology = Topology::start(&config, None).await.unwrap();
    wait_lines(&sink_path(&config), 100, LIMIT).await;
    let store = topology.store.clone();
    let start = Instant::now();
    let letters = loop {
        let l = store.dead_letters(100).await.unwrap();
        if l.len() >= poison.len() || start.elapsed() > LIMIT {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    topology.stop().await;
    assert_eq!(letters.len(), poison.len(), "{letters:?}");
    let reasons: Vec<&str> = letters.iter().map(|l| l.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("not UTF-8")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not valid JSON")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("no event_type_id")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("not a JSON object")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("unsigned 64-bit")),
        "{reasons:?}"
    );
    assert!(letters.iter().any(|l| &*l.raw == "not json at all"));
    assert!(letters.iter().all(|l| l.tenant == "tenant-1"));
    // Poison was acked with its batch: nothing is stuck in the queue.
    assert_eq!(queue_depth(&amqp_url(), &queue).await, 0);
    assert_exactly_once(&sim, &sink_path(&config), &["tenant-1"]);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_journal_commit_and_ack_redelivers_without_duplicates() {
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let sources =
        "[sources.push]\ntype = \"stream\"\nbatch_size = 100\nprefetch = 200\nbatch_wait = \"50ms\"\n";
    let config = config(&sim, dir.path(), sources);
    let stream = create_stream(&config, "tenant-1", "siem").await;
    let queue = stream.credentials.queue_name.clone();
    sim.generate_events("tenant-1", 500, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    assert_eq!(queue_depth(&amqp_url(), &queue).await, 500);

    // First run: dies by SIGKILL right after its first journal commit, before the ack.
    let out = sebridge()
        .args(["run", "-c"])
        .arg(&config.path)
        .env(
            sebridge::sources::stream::FAILPOINT_ENV,
            "stream-kill-after-commit",
        )
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(out.status.signal(), Some(9), "{out:?}");
    let store = sebridge::store::Store::open_sqlite(&config_store_path(&config))
        .await
        .unwrap();
    let journaled = store.count().await.unwrap();
    store.close().await;
    assert!(
        (1..=100).contains(&journaled),
        "the first batch was committed ({journaled})"
    );
    // Not acked: every message is back in the queue (the committed ones included).
    let start = Instant::now();
    while queue_depth(&amqp_url(), &queue).await != 500 {
        assert!(
            start.elapsed() < LIMIT,
            "unacked messages were not requeued"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Restart: the redelivered batch folds into the journal; the sink has each event once.
    let out = sebridge()
        .args(["run", "--until-idle", "1s", "-c"])
        .arg(&config.path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(line_count(&sink_path(&config)), 500);
    assert_exactly_once(&sim, &sink_path(&config), &["tenant-1"]);
    assert_eq!(queue_depth(&amqp_url(), &queue).await, 0);
    sim.shutdown().await;
}

/// A stream the API still lists but whose stored password is wrong: failed, retried, and
/// not taken for a deleted stream (the API is asked, at most once per `max_backoff`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_marks_the_stream_failed_with_a_clear_error() {
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    create_stream(&config, "tenant-1", "siem").await;
    let w = create_stream(&config, "tenant-1", "wrong").await;
    let started = Instant::now();
    // Store the second stream again with a wrong password.
    let store = sebridge::store::Store::open_sqlite(&config_store_path(&config))
        .await
        .unwrap();
    assert!(store.remove_stream("tenant-1", w.stream_id).await.unwrap());
    let mut creds = w.credentials.clone();
    creds.password = secure_endpoint::SecretString::from("0".repeat(40));
    sebridge::sources::stream::credentials::save(
        &config,
        &store,
        "tenant-1",
        w.stream_id,
        "wrong",
        &creds,
        &[],
        &[],
    )
    .await
    .unwrap();
    store.close().await;
    let topology = Topology::start(&config, None).await.unwrap();
    let start = Instant::now();
    let failed = loop {
        let snap = topology.status.snapshot(0);
        if let Some(t) = snap
            .tenants
            .iter()
            .find(|t| t.source.ends_with(":wrong") && t.state == TenantState::Failed)
        {
            break t.clone();
        }
        assert!(start.elapsed() < LIMIT, "no failed state: {snap:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let err = failed.last_error.unwrap_or_default();
    assert!(err.contains("refused the login"), "{err}");
    assert!(
        err.contains(&format!(
            "(Secure Endpoint still lists event stream wrong (id {}))",
            w.stream_id
        )),
        "{err}"
    );
    assert!(
        !err.contains(&"0".repeat(40)),
        "the password leaked into the error"
    );
    // The good stream of the same tenant is unaffected.
    let good = topology.status.snapshot(0);
    assert!(good
        .tenants
        .iter()
        .any(|t| t.source.ends_with(":siem") && t.state != TenantState::Failed));
    // Retried at `max_backoff` (2s), one question each at most: two creations, then a few.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let asked = sim.stats().tenant("tenant-1").unwrap().by_path["event_streams"] - 2;
    let bound = started.elapsed().as_secs() / 2 + 2;
    assert!(
        (1..=bound).contains(&asked),
        "{asked} questions, at most {bound}"
    );
    topology.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_cli_creates_lists_refuses_the_sixth_and_deletes() {
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    let cfg = config.path.clone();
    let run = |args: &[&str]| {
        let out = sebridge()
            .arg("streams")
            .args(["-c"])
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, text) = run(&[
        "create",
        "--tenant",
        "tenant-1",
        "--name",
        "siem",
        "--event-type",
        "Threat Detected",
        "--event-type",
        "553648143",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("credentials stored encrypted"), "{text}");
    for i in 0..4 {
        let (code, text) = run(&["create", "--tenant", "tenant-1", "--name", &format!("s{i}")]);
        assert_eq!(code, Some(0), "{text}");
    }
    let (code, text) = run(&["create", "--tenant", "tenant-1", "--name", "sixth"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("at most 5"), "{text}");
    let (code, text) = run(&["list"]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains("siem") && text.contains("[1090519054, 553648143]"),
        "{text}"
    );
    assert!(!text.contains("sixth"));
    // The password is in the store only sealed.
    let db = std::fs::read(config_store_path(&config)).unwrap_or_default();
    let wal =
        std::fs::read(config_store_path(&config).with_extension("db-wal")).unwrap_or_default();
    let streams = sim.event_streams();
    assert_eq!(streams.len(), 5);
    for (_, _, _, user) in &streams {
        // The user name is sealed too (it is half of the login).
        assert!(!String::from_utf8_lossy(&db).contains(user.as_str()));
        assert!(!String::from_utf8_lossy(&wal).contains(user.as_str()));
    }
    let (code, text) = run(&["delete", "--tenant", "tenant-1", "--name", "siem"]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(sim.event_streams().len(), 4);
    let (_, text) = run(&["list"]);
    assert!(!text.contains("siem"), "{text}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_events_as_they_arrive_and_journals_them_before_acking() {
    let sim = sim(1, AmqpConfig::local(amqp_url())).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&sim, dir.path(), STREAM_SOURCE);
    let stream = create_stream(&config, "tenant-1", "siem").await;
    let mut child = sebridge()
        .args(["tail", "--tenant", "tenant-1", "--json", "-c"])
        .arg(&config.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give tail time to subscribe, then publish.
    let start = Instant::now();
    while sim.event_streams().is_empty() || start.elapsed() < Duration::from_millis(1500) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made = sim.generate_events("tenant-1", 25, None).unwrap();
    assert!(sim.flush_streams(LIMIT).await);
    let mut got = Vec::new();
    while got.len() < made.len() {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => got.push(l),
            Err(e) => panic!("tail printed {} of {} events: {e}", got.len(), made.len()),
        }
    }
    let texts = sim.all_event_texts("tenant-1").unwrap();
    for l in &got {
        assert!(
            texts.contains(l),
            "tail --json prints the vendor JSON as sent: {l}"
        );
    }
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "Ctrl-C is a clean exit: {status:?}");
    let store = sebridge::store::Store::open_sqlite(&config_store_path(&config))
        .await
        .unwrap();
    assert_eq!(
        store.count().await.unwrap(),
        25,
        "what tail showed is in the journal"
    );
    store.close().await;
    assert_eq!(
        queue_depth(&amqp_url(), &stream.credentials.queue_name).await,
        0
    );
    sim.shutdown().await;
}

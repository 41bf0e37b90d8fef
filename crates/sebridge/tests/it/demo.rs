//! `sebridge demo`'s wrap-up says what happened and points only at what works: a close that
//! was not due yet, a closed loop still under way when the user stops it (not a failure),
//! and for `--dir` commands that run on what is kept (they are run here, as printed).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn demo(args: &[&str], dir: Option<&Path>) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sebridge"));
    c.env_remove("SEBRIDGE_MASTER_KEY")
        .env("SEBRIDGE_LOG", "off")
        .args(["demo", "--listen", "127.0.0.1:0", "--history", "200"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(d) = dir {
        c.arg("--dir").arg(d);
    }
    c.spawn().expect("demo starts")
}

/// Reads the demo's stdout to the end, calling `on_line` on each line (it may signal).
fn lines(child: &mut Child, mut on_line: impl FnMut(&str)) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let mut all = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        on_line(&line);
        all.push_str(&line);
        all.push('\n');
    }
    all
}

#[test]
fn a_close_not_yet_due_is_said_and_a_kept_dir_points_at_commands_that_work() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = demo(
        &["--duration", "10s", "--close-after", "300s"],
        Some(dir.path()),
    );
    let out = lines(&mut child, |_| {});
    let status = child.wait().expect("demo ends");
    assert!(status.success(), "{out}");
    assert!(
        out.contains("the demo's analyst close was due at 300s and the demo stopped at 1")
            && out.contains("s, before it ("),
        "{out}"
    );
    assert!(!out.contains("no contained incident"), "{out}");
    assert!(
        !out.contains("sebridge run -c"),
        "the simulator is gone: {out}"
    );
    let config = dir.path().join("sebridge.toml");
    let text = std::fs::read_to_string(&config).expect("kept config");
    assert!(text.contains("\n[server]\nlisten = "), "{text}");
    // Every command the wrap-up suggests runs, as printed.
    let suggested: Vec<String> = out
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("sebridge -c "))
        .map(str::to_string)
        .collect();
    assert!(suggested.len() >= 3, "{out}");
    for cmd in suggested {
        let words: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let ran = Command::new(env!("CARGO_BIN_EXE_sebridge"))
            .args(&words)
            .env_remove("SEBRIDGE_MASTER_KEY")
            .output()
            .expect("runs");
        assert!(
            ran.status.success(),
            "`{cmd}` failed: {}{}",
            String::from_utf8_lossy(&ran.stdout),
            String::from_utf8_lossy(&ran.stderr)
        );
    }
}

#[test]
fn ctrl_c_right_after_the_close_is_a_clean_stop_not_a_failure() {
    let mut child = demo(&["--duration", "120s", "--close-after", "4s"], None);
    let pid = child.id().to_string();
    let mut signalled = false;
    let out = lines(&mut child, |line| {
        if !signalled && line.contains("demo: an analyst closes") {
            signalled = true;
            std::thread::sleep(Duration::from_millis(300));
            let _ = Command::new("kill").args(["-INT", &pid]).status();
        }
    });
    let status = child.wait().expect("demo ends");
    assert!(signalled, "the demo closed no ticket: {out}");
    assert!(status.success(), "{out}");
    assert!(!out.contains("WARNING"), "{out}");
    assert!(
        out.contains("its release was still under way") || out.contains("closed loop: INC"),
        "{out}"
    );
    // Nothing points at the deleted temporary directory.
    assert!(!out.contains("incidents show"), "{out}");
}

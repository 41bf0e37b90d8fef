//! `sebridge run` as a child process: started, killed with SIGKILL or stopped with SIGTERM,
//! its output appended to one log per scenario (the report points at it).

use std::fs::OpenOptions;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub struct Run {
    child: Child,
    pub started: Instant,
}

impl Run {
    pub fn start(bin: &Path, config: &Path, log: &Path) -> anyhow::Result<Run> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(bin)
            .args(["run", "-c"])
            .arg(config)
            .env("SEBRIDGE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Run {
            child,
            started: Instant::now(),
        })
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }

    /// SIGKILL: no chance to commit anything in hand.
    pub fn kill(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the clean exit (SIGKILL after `limit`). True if it exited
    /// with status 0 in time.
    pub async fn stop(mut self, limit: Duration) -> bool {
        self.signal("-TERM");
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                self.kill();
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process has exited on its own (a crash the harness did not cause).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

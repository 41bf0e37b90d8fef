//! How stream users are made on the broker (`rabbitmqctl`, or the simulator's shared
//! login), and the broker settings.

use std::path::PathBuf;
use std::time::Duration;

/// How stream users are made on the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamUsers {
    /// `rabbitmqctl add_user` / `set_permissions` / `delete_user` (needs broker admin rights,
    /// e.g. root on the broker's machine).
    Rabbitmqctl {
        /// The program (`rabbitmqctl`).
        program: PathBuf,
        /// `-n <node>`, for a node other than the default one.
        node: Option<String>,
        /// `HOME` for the command (where the node's Erlang cookie is), when not the default.
        home: Option<PathBuf>,
    },
    /// Every stream gets the simulator's own broker login (deviation from the real service,
    /// where each stream has its own user).
    Shared,
}

impl StreamUsers {
    /// `rabbitmqctl` on the default node.
    pub fn rabbitmqctl() -> StreamUsers {
        StreamUsers::Rabbitmqctl {
            program: PathBuf::from("rabbitmqctl"),
            node: None,
            home: None,
        }
    }

    /// `rabbitmqctl` when it can talk to the broker (checked with `list_users`), else
    /// [`StreamUsers::Shared`].
    pub async fn detect() -> StreamUsers {
        let ctl = Self::rabbitmqctl();
        match ctl.run(&["-q", "list_users"], None).await {
            Ok(_) => ctl,
            Err(e) => {
                tracing::warn!(error = %e, "rabbitmqctl unusable: event streams share the simulator's broker login");
                StreamUsers::Shared
            }
        }
    }

    pub(crate) async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let StreamUsers::Rabbitmqctl {
            program,
            node,
            home,
        } = self
        else {
            return Ok(String::new());
        };
        let mut cmd = tokio::process::Command::new(program);
        if let Some(n) = node {
            cmd.arg("-n").arg(n);
        }
        if let Some(h) = home {
            cmd.env("HOME", h);
        }
        cmd.args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let what = args
            .iter()
            .find(|a| !a.starts_with('-'))
            .copied()
            .unwrap_or("?");
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if let Some(mut pipe) = child.stdin.take() {
            use tokio::io::AsyncWriteExt as _;
            if let Some(text) = stdin {
                pipe.write_all(text.as_bytes())
                    .await
                    .map_err(|e| format!("rabbitmqctl {what}: {e}"))?;
            }
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .map_err(|_| format!("rabbitmqctl {what} took more than 60 s"))?
            .map_err(|e| format!("rabbitmqctl {what}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "rabbitmqctl {what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Blocking variant for cleanup from `Drop`.
    pub(crate) fn run_blocking(&self, args: &[&str]) {
        let StreamUsers::Rabbitmqctl {
            program,
            node,
            home,
        } = self
        else {
            return;
        };
        let mut cmd = std::process::Command::new(program);
        if let Some(n) = node {
            cmd.arg("-n").arg(n);
        }
        if let Some(h) = home {
            cmd.env("HOME", h);
        }
        let _ = cmd
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Where streams live.
#[derive(Debug, Clone)]
pub struct AmqpConfig {
    /// The broker login the simulator publishes and manages queues with
    /// (e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`).
    pub url: String,
    /// `host` handed out in `amqp_credentials` (default: the URL's host).
    pub host: Option<String>,
    /// `port` handed out (a string, as the API sends it; default: the URL's port).
    pub port: Option<String>,
    /// `proto` handed out: `"amqp"` for a plain local broker (default), `"https"` for TLS as
    /// the real service says.
    pub proto: String,
    /// How per-stream users are made.
    pub users: StreamUsers,
}

impl AmqpConfig {
    /// A local broker at `url`, plain AMQP, users made with `rabbitmqctl`.
    pub fn local(url: impl Into<String>) -> AmqpConfig {
        AmqpConfig {
            url: url.into(),
            host: None,
            port: None,
            proto: "amqp".into(),
            users: StreamUsers::rabbitmqctl(),
        }
    }
}

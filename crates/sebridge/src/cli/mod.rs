//! Command-line interface: one module per subcommand.

mod args;
mod backfill;
mod cluster;
#[cfg(feature = "demo")]
mod demo;
mod events;
mod incidents;
mod packaging;
mod progress;
mod replay;
mod run;
pub mod setup;
mod sinks;
mod store;
mod streams;
mod tail;
mod tenants;
#[cfg(test)]
mod tests;
mod validate;

use clap::{Parser, Subcommand, ValueEnum};
pub use setup::EXIT_INTERRUPTED;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "sebridge",
    version,
    about = "Cisco Secure Endpoint events to your SIEM, ServiceNow and Cisco XDR"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "SEBRIDGE_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// Log filter (tracing syntax, e.g. "info" or "sebridge=debug"); default depends on the command.
    #[arg(long, global = true, env = "SEBRIDGE_LOG")]
    pub log: Option<String>,
    /// Configuration file (before or after the subcommand; `demo` writes its own).
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        default_value = "sebridge.toml",
        env = "SEBRIDGE_CONFIG"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a configuration file and report every problem (exit code 2 when invalid).
    Validate,
    /// Run the pipeline: sources -> journal -> sinks.
    Run(run::RunArgs),
    /// Run the whole flow on this machine against the bundled simulator.
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// Not in this build (built without the `demo` feature, which bundles the simulator).
    #[cfg(not(feature = "demo"))]
    #[command(hide = true)]
    Demo {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Manage tenants (customer organisations) and their encrypted API credentials.
    Tenants(tenants::TenantsArgs),
    /// List a tenant's event types (GET /v1/event_types).
    EventTypes(events::EventTypesArgs),
    /// One-off query of a tenant's events (GET /v1/events), printed as a table or JSON.
    Events(events::EventsArgs),
    /// Read a tenant's history from a given time into the journal (resumable).
    Backfill(backfill::BackfillArgs),
    /// Rewind a sink's position so events are delivered again (the pipeline must be stopped).
    Replay(replay::ReplayArgs),
    /// Show messages that could not be read as events, with the reason.
    DeadLetters(replay::DeadLettersArgs),
    /// Incidents opened in ServiceNow / Cisco XDR: list, show, close.
    Incidents(incidents::IncidentsArgs),
    /// The audit log of every incident step (who did what, when).
    Audit(incidents::AuditArgs),
    /// Journal consumers: positions and backlogs; forget a removed sink.
    Sinks(sinks::SinksArgs),
    /// Manage a tenant's Event Streams (AMQP push) and their encrypted credentials.
    Streams(streams::StreamsArgs),
    /// Print a tenant's events as they arrive on its Event Stream (journaled before acked).
    Tail(tail::TailArgs),
    /// Replicas sharing a PostgreSQL store: heartbeats, and who runs which tenant and sink.
    Cluster(cluster::ClusterArgs),
    /// Copy a single-node SQLite store into PostgreSQL (`store migrate`).
    Store(store::StoreArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(packaging::CompletionsArgs),
    /// Print the manual page, sebridge(1), as roff (or write every page with --dir).
    Man(packaging::ManArgs),
}

pub fn init_tracing(cli: &Cli) {
    let default = match cli.command {
        // lapin logs every closed channel at ERROR (a passive declare of a missing queue, a
        // broker restart); the stream source reports those itself, with the tenant and what
        // happens next, so lapin's own lines are off unless asked for with --log.
        Command::Run(_) => "info,lapin=off",
        _ => "warn,lapin=off",
    };
    let filter = tracing_subscriber::EnvFilter::try_new(cli.log.as_deref().unwrap_or(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a log file or journald gets the plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_path();
    match cli.command {
        Command::Validate => validate::run(config).await,
        Command::Run(a) => run::run(a, config).await,
        #[cfg(feature = "demo")]
        Command::Demo(a) => demo::run(a).await,
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => {
            eprintln!(
                "this sebridge was built without the simulator, so it has no demo: build it with \
                 the default features (cargo build --release) to run `sebridge demo`"
            );
            Ok(ExitCode::from(setup::EXIT_CONFIG))
        }
        Command::Tenants(a) => tenants::run(a, config).await,
        Command::EventTypes(a) => events::event_types(a, config).await,
        Command::Events(a) => events::events(a, config).await,
        Command::Backfill(a) => backfill::run(a, config).await,
        Command::Replay(a) => replay::replay(a, config).await,
        Command::DeadLetters(a) => replay::dead_letters(a, config).await,
        Command::Incidents(a) => incidents::run(a, config).await,
        Command::Audit(a) => incidents::audit(a, config).await,
        Command::Sinks(a) => sinks::run(a, config).await,
        Command::Streams(a) => streams::run(a, config).await,
        Command::Tail(a) => tail::run(a, config).await,
        Command::Cluster(a) => cluster::run(a, config).await,
        Command::Store(a) => store::run(a).await,
        Command::Completions(a) => packaging::completions(a),
        Command::Man(a) => packaging::man(a),
    }
}

/// Registers the SIGINT/SIGTERM handlers at once (a signal that arrives while the pipeline
/// starts is then a clean stop, not the default kill) and returns the future that waits;
/// it yields the signal's name, for the log.
pub fn termination_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = int.recv() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                }
            }
            // Handlers could not be installed: fall back to Ctrl-C only.
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
}

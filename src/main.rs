//! wabridge: a Matrix appservice that bridges WhatsApp.
//!
//! `wabridge -c config.yaml` runs the bridge; `-g -r registration.yaml`
//! generates the appservice registration (and the tokens in the config);
//! `--check` validates the config and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use wabridge::config::{self, Config, LogFormat};

/// A Matrix <-> WhatsApp bridge (appservice).
#[derive(Debug, Parser)]
#[command(name = "wabridge", version, about, long_about = None)]
struct Cli {
    /// Path to the configuration file.
    #[arg(short = 'c', long = "config", default_value = "config.yaml")]
    config: PathBuf,
    /// Generate the appservice registration: writes fresh tokens into the
    /// config file and the registration to --registration, then exits.
    #[arg(short = 'g', long = "generate-registration", conflicts_with = "check")]
    generate: bool,
    /// Where -g writes the registration.
    #[arg(
        short = 'r',
        long = "registration",
        default_value = "registration.yaml"
    )]
    registration: PathBuf,
    /// Validate the configuration and exit.
    #[arg(long)]
    check: bool,
    /// Write a double-puppeting registration for the config's homeserver
    /// domain to this file and print the line for `double_puppet.secrets`,
    /// then exit.
    #[arg(long = "generate-double-puppet", value_name = "FILE", conflicts_with_all = ["check", "generate"])]
    double_puppet: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context, then each cause, e.g.
            // "invalid config config.yaml: appservice.port: expected ...".
            eprintln!("wabridge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.generate {
        let registration = config::generate_registration(&cli.config, &cli.registration)
            .with_context(|| format!("cannot generate from {}", cli.config.display()))?;
        println!(
            "wrote {} (appservice id {:?}) and the new tokens to {}",
            cli.registration.display(),
            registration.id,
            cli.config.display()
        );
        return Ok(());
    }

    let config = Config::load(&cli.config)
        .with_context(|| format!("invalid config {}", cli.config.display()))?;
    if let Some(path) = &cli.double_puppet {
        let domain = &config.homeserver.domain;
        let registration = config::Registration::double_puppet(domain);
        let yaml = registration.to_yaml()?;
        config::write_private(path, &yaml)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // The token stays in the file (readable by its owner only), out of
        // terminals and logs.
        println!(
            "wrote {}; add it to the homeserver like the bridge's registration, \
             then put this under double_puppet.secrets in {}, with the as_token \
             of that file:\n  {domain}: \"as_token:<as_token>\"",
            path.display(),
            cli.config.display(),
        );
        return Ok(());
    }
    if cli.check {
        println!("{}: ok", cli.config.display());
        let source = if config.network.app_version.is_some() {
            "network.app_version"
        } else {
            "compiled in"
        };
        println!("whatsapp web version: {} ({source})", config.web_version());
        return Ok(());
    }

    init_tracing(&config)?;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting wabridge");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(wabridge::bridge::run(
            wabridge::connector::WhatsApp::default(),
            config,
        ))
        .map_err(|e| anyhow::anyhow!(e))
        .context("bridge stopped")
}

/// Logs to stderr: `RUST_LOG` if set, else `logging.level`, in
/// `logging.format`.
fn init_tracing(config: &Config) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => {
            EnvFilter::try_new(&directives).context("invalid RUST_LOG")?
        }
        _ => EnvFilter::try_new(&config.logging.level).context("invalid logging.level")?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.logging.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

//! wabridge: a Matrix appservice that bridges WhatsApp.
//!
//! For now the daemon only knows its name and version; the appservice,
//! bridge core and WhatsApp connector land in later steps (see README).

use clap::Parser;

/// A Matrix <-> WhatsApp bridge (appservice).
#[derive(Debug, Parser)]
#[command(name = "wabridge", version, about, long_about = None)]
struct Cli {
    /// Path to the configuration file.
    #[arg(short = 'c', long = "config", default_value = "config.yaml")]
    config: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::bail!(
        "the bridge daemon is not implemented yet (config {} not read)",
        cli.config.display()
    )
}

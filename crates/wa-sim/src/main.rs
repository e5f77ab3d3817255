//! `wa-sim`: the simulated WhatsApp network's command line.
//!
//! For now it carries the debugging tools for binary nodes: `wa-sim node
//! decode <hex>` prints a frame payload (flags byte first) as JSON, and
//! `wa-sim node encode '<json>'` prints the hex of a node, flags byte first.
//! The server itself (`wa-sim serve`) comes with the simulator.

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wa_core::binary::{self, json};

#[derive(Debug, Parser)]
#[command(
    name = "wa-sim",
    version,
    about = "Simulated WhatsApp network (tests, demos, benchmarks)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Binary node tools.
    Node {
        #[command(subcommand)]
        action: NodeAction,
    },
}

#[derive(Debug, Subcommand)]
enum NodeAction {
    /// Decode a frame payload given in hex (flags byte first) and print JSON.
    Decode {
        /// Hex bytes; `-` reads them from stdin.
        hex: String,
    },
    /// Encode a node given as JSON and print hex (flags byte first).
    Encode {
        /// The node as JSON; `-` reads it from stdin.
        json: String,
    },
}

fn arg_or_stdin(arg: String) -> anyhow::Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        Ok(arg)
    }
}

fn run(cli: Cli) -> anyhow::Result<String> {
    match cli.command {
        Command::Node { action } => match action {
            NodeAction::Decode { hex } => {
                let text = arg_or_stdin(hex)?;
                let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                let bytes =
                    hex::decode(&cleaned).map_err(|e| anyhow::anyhow!("input is not hex: {e}"))?;
                let node = binary::decode(&bytes)?;
                Ok(json::to_json(&node).to_string())
            }
            NodeAction::Encode { json: text } => {
                let text = arg_or_stdin(text)?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("input is not JSON: {e}"))?;
                let node = json::from_json(&value)?;
                Ok(hex::encode(binary::encode(&node)?))
            }
        },
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wa-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

//! `wa-sim`: the simulated WhatsApp network's command line.
//!
//! `wa-sim serve` runs a simulator with its control API and prints one JSON
//! line saying how to reach it:
//!
//! ```text
//! wa-sim serve [--listen 127.0.0.1:0] [--control 127.0.0.1:0]
//! {"url":"ws://...","root_key":"<hex>","media_host":"...","media_ca":"<path>","control":"http://..."}
//! ```
//!
//! The client commands talk to a running server's control API and print its
//! JSON answers:
//!
//! ```text
//! wa-sim account --control URL <pn>
//! wa-sim scan --control URL --account PN <qr>
//! wa-sim devices --control URL --account PN
//! wa-sim unlink --control URL --account PN <device>
//! wa-sim send --control URL --account PN --to PN <text>
//! wa-sim received --control URL --account PN
//! wa-sim registrations --control URL
//! ```
//!
//! And the debugging tools for binary nodes: `wa-sim node decode <hex>`
//! prints a frame payload (flags byte first) as JSON, and `wa-sim node encode
//! '<json>'` prints the hex of a node, flags byte first.
//!
//! Errors print `wa-sim: <message>` and exit with status 1.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing_subscriber::EnvFilter;
use wa_core::binary::{self, json};
use wa_sim::{Sim, control};

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
    /// Run a simulator and its control API until interrupted.
    Serve {
        /// Address for the WebSocket server clients connect to.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Address for the JSON control API.
        #[arg(long, default_value = "127.0.0.1:0")]
        control: String,
        /// Oldest WhatsApp Web version let in (`2.3000.N`); older clients,
        /// and clients that send none, get `<failure reason="405"/>`.
        #[arg(long)]
        min_version: Option<wa_core::payload::WebVersion>,
    },
    /// Create an account (or show an existing one).
    Account {
        #[arg(long)]
        control: String,
        /// Phone number, digits only.
        pn: String,
    },
    /// Let an account's phone scan a companion's QR code.
    Scan {
        #[arg(long)]
        control: String,
        #[arg(long)]
        account: String,
        /// The QR code's text, or a PNG file of it (as saved from the
        /// Matrix client: the phone's camera).
        qr: String,
    },
    /// List an account's linked companions.
    Devices {
        #[arg(long)]
        control: String,
        #[arg(long)]
        account: String,
    },
    /// Unlink a companion from an account.
    Unlink {
        #[arg(long)]
        control: String,
        #[arg(long)]
        account: String,
        /// Device number.
        device: u16,
    },
    /// Send a text from an account's phone.
    Send {
        #[arg(long)]
        control: String,
        #[arg(long)]
        account: String,
        /// Recipient phone number.
        #[arg(long)]
        to: String,
        text: String,
    },
    /// Show the messages an account's phone received.
    Received {
        #[arg(long)]
        control: String,
        #[arg(long)]
        account: String,
    },
    /// Show the companions that registered (their QR refs).
    Registrations {
        #[arg(long)]
        control: String,
    },
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

/// Runs a command; what it returns is printed on stdout.
async fn run(cli: Cli) -> anyhow::Result<String> {
    let answer = match cli.command {
        Command::Serve {
            listen,
            control,
            min_version,
        } => {
            serve(&listen, &control, min_version).await?;
            return Ok(String::new());
        }
        Command::Account { control, pn } => {
            check_pn(&pn)?;
            call(&control, "POST", "/accounts", Some(json!({ "pn": pn }))).await?
        }
        Command::Scan {
            control,
            account,
            qr,
        } => {
            let path = account_path(&account, "scan")?;
            let qr = if qr.ends_with(".png") {
                let png = std::fs::read(&qr).with_context(|| format!("cannot read {qr}"))?;
                read_qr(&png)?
            } else {
                qr
            };
            call(&control, "POST", &path, Some(json!({ "qr": qr }))).await?
        }
        Command::Devices { control, account } => {
            call(&control, "GET", &account_path(&account, "devices")?, None).await?
        }
        Command::Unlink {
            control,
            account,
            device,
        } => {
            let path = format!("{}/{device}", account_path(&account, "devices")?);
            call(&control, "DELETE", &path, None).await?
        }
        Command::Send {
            control,
            account,
            to,
            text,
        } => {
            check_pn(&to)?;
            let path = account_path(&account, "send")?;
            let body = json!({ "to": to, "text": text });
            call(&control, "POST", &path, Some(body)).await?
        }
        Command::Received { control, account } => {
            call(&control, "GET", &account_path(&account, "received")?, None).await?
        }
        Command::Registrations { control } => call(&control, "GET", "/registrations", None).await?,
        Command::Node { action } => return node(action),
    };
    Ok(answer.to_string())
}

fn node(action: NodeAction) -> anyhow::Result<String> {
    match action {
        NodeAction::Decode { hex } => {
            let text = arg_or_stdin(hex)?;
            let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = hex::decode(&cleaned).map_err(|e| anyhow!("input is not hex: {e}"))?;
            let node = binary::decode(&bytes)?;
            Ok(json::to_json(&node).to_string())
        }
        NodeAction::Encode { json: text } => {
            let text = arg_or_stdin(text)?;
            let value: Value =
                serde_json::from_str(&text).map_err(|e| anyhow!("input is not JSON: {e}"))?;
            let node = json::from_json(&value)?;
            Ok(hex::encode(binary::encode(&node)?))
        }
    }
}

/// Starts the simulator and its control API, prints how to reach them, and
/// serves until the process is interrupted.
async fn serve(
    listen: &str,
    control: &str,
    min_version: Option<wa_core::payload::WebVersion>,
) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .try_init();
    let sim_listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let control_listener = TcpListener::bind(control)
        .await
        .with_context(|| format!("cannot listen on {control}"))?;
    let control_url = format!("http://{}", control_listener.local_addr()?);
    let sim = Arc::new(
        Sim::start(sim_listener)
            .await
            .context("cannot start the simulator")?,
    );
    if let Some(min) = min_version {
        sim.set_min_version(min);
    }
    let mut line = control::info(&sim);
    if let Value::Object(fields) = &mut line {
        fields.insert("control".into(), Value::String(control_url));
    }
    println!("{line}");
    // Ctrl-C (or SIGINT) ends serving cleanly; the simulator's Drop removes
    // its media CA file.
    control::serve(sim, control_listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

fn check_pn(pn: &str) -> anyhow::Result<()> {
    if control::valid_pn(pn) {
        Ok(())
    } else {
        bail!("phone number {pn:?} is not 5 to 20 digits")
    }
}

fn account_path(pn: &str, rest: &str) -> anyhow::Result<String> {
    check_pn(pn)?;
    Ok(format!("/accounts/{pn}/{rest}"))
}

/// The text of the one QR code in a PNG image (grey, or colour read as
/// grey).
fn read_qr(png_bytes: &[u8]) -> anyhow::Result<String> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(png_bytes))
        .read_info()
        .context("not a PNG image")?;
    let size = reader.output_buffer_size().context("PNG image too large")?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .context("unreadable PNG image")?;
    let channels = info.color_type.samples();
    if info.bit_depth != png::BitDepth::Eight {
        anyhow::bail!("only 8-bit PNG images are read");
    }
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        buf.get((y * w + x) * channels).copied().unwrap_or(255)
    });
    let grids = img.detect_grids();
    let grid = match grids.as_slice() {
        [one] => one,
        [] => anyhow::bail!("no QR code in the image"),
        _ => anyhow::bail!("more than one QR code in the image"),
    };
    let (_, text) = grid.decode().context("the QR code does not decode")?;
    Ok(text)
}

/// How long a control request may take (a scan waits up to 30 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest control answer read.
const MAX_ANSWER: u64 = 64 << 20;

/// Sends one request to the control API at `base` and returns its JSON
/// answer; a non-2xx answer becomes an error carrying its `error` text.
///
/// A minimal HTTP/1.1 client (`Connection: close`, `Content-Length` bodies):
/// wa-sim enables hyper's client only for its tests.
async fn call(base: &str, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let (host, prefix) = parse_base(base)?;
    let exchange = async {
        let mut tcp = TcpStream::connect(&host)
            .await
            .with_context(|| format!("cannot reach the control API at {base}"))?;
        let mut request = format!(
            "{method} {prefix}{path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\
             Connection: close\r\n"
        );
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        if method == "POST" {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        tcp.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        tcp.take(MAX_ANSWER).read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow!("the control API at {base} did not answer in time"))??;
    let (status, body) = parse_answer(&raw)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| anyhow!("the control API answered {status} without JSON: {e}"))?;
    if !(200..300).contains(&status) {
        match value.get("error").and_then(Value::as_str) {
            Some(error) => bail!("{error}"),
            None => bail!("the control API answered {status}"),
        }
    }
    Ok(value)
}

/// Splits `http://host:port[/prefix]` (the scheme may be left out) into the
/// address to connect to and the path prefix.
fn parse_base(base: &str) -> anyhow::Result<(String, String)> {
    let rest = match base.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => bail!("control URL {base:?}: only http is supported, not {scheme}"),
        None => base,
    };
    let (host, prefix) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if host.is_empty() || host.contains('@') || host.bytes().any(|b| b.is_ascii_whitespace()) {
        bail!("control URL {base:?} has no usable host");
    }
    let host = if host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']')) {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    Ok((host, prefix.trim_end_matches('/').to_owned()))
}

/// The status code and body of a raw HTTP/1.1 answer.
fn parse_answer(raw: &[u8]) -> anyhow::Result<(u16, &[u8])> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("the control API's answer is not HTTP"))?;
    let head = std::str::from_utf8(&raw[..end]).context("the control API's answer is not HTTP")?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|l| l.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("the control API's answer is not HTTP"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && !value.eq_ignore_ascii_case("identity")
        {
            bail!("the control API answered with {value} encoding, which is not supported");
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    let body = match length {
        Some(n) => body
            .get(..n)
            .ok_or_else(|| anyhow!("the control API's answer was cut short"))?,
        None => body,
    };
    Ok((status, body))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wa-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn control_urls() {
        let p = |s| parse_base(s).unwrap();
        assert_eq!(
            p("http://127.0.0.1:8080"),
            ("127.0.0.1:8080".into(), "".into())
        );
        assert_eq!(p("127.0.0.1:8080/"), ("127.0.0.1:8080".into(), "".into()));
        assert_eq!(p("http://sim/api/"), ("sim:80".into(), "/api".into()));
        assert_eq!(p("http://[::1]:9"), ("[::1]:9".into(), "".into()));
        assert_eq!(p("http://[::1]"), ("[::1]:80".into(), "".into()));
        assert!(parse_base("https://x:1").is_err());
        assert!(parse_base("http://").is_err());
        assert!(parse_base("http://u@x:1").is_err());
    }

    #[test]
    fn answers() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}junk";
        assert_eq!(parse_answer(raw).unwrap(), (404, &b"{}"[..]));
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}").is_err());
        assert!(parse_answer(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(
            parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}").is_err()
        );
    }
}

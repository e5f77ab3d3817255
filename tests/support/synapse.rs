//! A real Synapse homeserver for integration tests, from the venv that
//! `scripts/synapse install` creates.
//!
//! Each [`Synapse`] is its own process with its own temp dir (config,
//! signing key, SQLite database, media store, log), listening on a free port
//! of 127.0.0.1; it is killed and its dir removed on drop.
//!
//! The venv is `$WABRIDGE_SYNAPSE_VENV`, else
//! `$HOME/.cache/wabridge/synapse-venv`. When it is missing, tests skip with
//! a notice, unless `WABRIDGE_REQUIRE_SYNAPSE=1` (set by scripts/test), where
//! they fail.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

use super::matrix::MatrixUser;

/// The server name of every test homeserver: user ids are `@name:synapse.test`.
pub const SERVER_NAME: &str = "synapse.test";

/// How long a start may take before the test fails (a loaded 2-core CI
/// machine running several test binaries' homeservers).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A running Synapse, killed on drop.
#[derive(Debug)]
pub struct Synapse {
    child: Child,
    dir: PathBuf,
    port: u16,
    base_url: String,
    shared_secret: String,
    http: reqwest::Client,
    startup: Duration,
}

/// The venv holding Synapse, or `None` (with a printed notice) when it is
/// not installed and not required. Panics when it is required and missing.
pub fn venv() -> Option<PathBuf> {
    let venv = match std::env::var_os("WABRIDGE_SYNAPSE_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/wabridge/synapse-venv")
        }
    };
    if venv.join("bin/python").is_file() && venv.join(".wabridge-synapse").is_file() {
        return Some(venv);
    }
    let required = std::env::var("WABRIDGE_REQUIRE_SYNAPSE").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "WABRIDGE_REQUIRE_SYNAPSE=1 but no Synapse venv at {}: run scripts/synapse install",
        venv.display()
    );
    eprintln!(
        "NOTICE: skipping: no Synapse venv at {} (run scripts/synapse install)",
        venv.display()
    );
    None
}

impl Synapse {
    /// Starts a homeserver with these appservice registration files; panics
    /// (printing the log's tail) if it does not come up, or if Synapse is not
    /// installed.
    pub async fn start(registrations: &[PathBuf]) -> Synapse {
        let venv = match venv() {
            Some(v) => v,
            None => panic!("Synapse is not installed: run scripts/synapse install"),
        };
        Self::start_in(&venv, registrations).await
    }

    /// Like [`Synapse::start`], but `None` (after a printed notice) when
    /// Synapse is not installed and `WABRIDGE_REQUIRE_SYNAPSE` is not `1`.
    pub async fn start_or_skip(registrations: &[PathBuf]) -> Option<Synapse> {
        let venv = venv()?;
        Some(Self::start_in(&venv, registrations).await)
    }

    async fn start_in(venv: &Path, registrations: &[PathBuf]) -> Synapse {
        let began = Instant::now();
        let dir = unique_temp_dir();
        fs::create_dir_all(dir.join("media")).expect("create Synapse temp dir");
        let port = free_port();
        let shared_secret = hex::encode(random_bytes::<16>());
        write_signing_key(&dir.join("signing.key"));
        let regs: Vec<String> = registrations
            .iter()
            .map(|p| {
                let abs = fs::canonicalize(p)
                    .unwrap_or_else(|e| panic!("registration file {}: {e}", p.display()));
                abs.to_string_lossy().into_owned()
            })
            .collect();
        let config = homeserver_config(&dir, port, &shared_secret, &regs);
        let config_path = dir.join("homeserver.yaml");
        // JSON is YAML: no YAML writer needed.
        fs::write(
            &config_path,
            serde_json::to_vec_pretty(&config).expect("config json"),
        )
        .expect("write homeserver.yaml");
        let log_path = dir.join("homeserver.log");
        let log = fs::File::create(&log_path).expect("create Synapse log");
        let child = Command::new(venv.join("bin/python"))
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(&config_path)
            .current_dir(&dir)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn Synapse from {}: {e}", venv.display()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let mut hs = Synapse {
            child,
            dir,
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            shared_secret,
            http,
            startup: Duration::ZERO,
        };
        hs.wait_ready(began).await;
        hs.startup = began.elapsed();
        eprintln!("synapse: up on {} in {:.2?}", hs.base_url, hs.startup);
        hs
    }

    async fn wait_ready(&mut self, began: Instant) {
        let url = format!("{}/_matrix/client/versions", self.base_url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "Synapse exited during startup ({status}); log {}:\n{}",
                    self.log_path().display(),
                    self.log_tail(60)
                );
            }
            if began.elapsed() > START_TIMEOUT {
                panic!(
                    "Synapse did not answer {url} within {START_TIMEOUT:?}; log {}:\n{}",
                    self.log_path().display(),
                    self.log_tail(60)
                );
            }
            let probe = self.http.get(&url).timeout(Duration::from_secs(2)).send();
            if let Ok(resp) = probe.await
                && resp.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Synapse process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The homeserver's name, the part after `:` in its user ids.
    pub fn server_name(&self) -> &str {
        SERVER_NAME
    }

    /// `@localpart:synapse.test`.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{SERVER_NAME}")
    }

    /// Time from `start` to the first successful `/_matrix/client/versions`.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The temp dir holding config, database, media and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("homeserver.log")
    }

    /// The last `lines` lines of Synapse's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log_path(), lines)
    }

    /// Registers a user through the shared-secret admin API and returns a
    /// client logged in as them.
    pub async fn register_user(&self, localpart: &str, password: &str, admin: bool) -> MatrixUser {
        let url = format!("{}/_synapse/admin/v1/register", self.base_url);
        let nonce = self
            .http
            .get(&url)
            .send()
            .await
            .expect("GET register nonce");
        let nonce: Value = json_body(nonce, "GET /_synapse/admin/v1/register").await;
        let nonce = nonce["nonce"].as_str().expect("nonce").to_owned();
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(self.shared_secret.as_bytes())
            .expect("hmac key");
        mac.update(nonce.as_bytes());
        mac.update(b"\x00");
        mac.update(localpart.as_bytes());
        mac.update(b"\x00");
        mac.update(password.as_bytes());
        mac.update(b"\x00");
        mac.update(if admin {
            b"admin".as_slice()
        } else {
            b"notadmin".as_slice()
        });
        let mac = hex::encode(mac.finalize().into_bytes());
        let body = json!({
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac,
        });
        let resp = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("POST register");
        let v: Value = json_body(resp, "POST /_synapse/admin/v1/register").await;
        MatrixUser::new(
            &self.base_url,
            v["user_id"].as_str().expect("user_id"),
            v["access_token"].as_str().expect("access_token"),
        )
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "synapse: test failed; last lines of {}:\n{}",
                self.log_path().display(),
                self.log_tail(40)
            );
        }
        if std::env::var_os("WABRIDGE_KEEP_SYNAPSE").is_some() {
            eprintln!("synapse: kept {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

async fn json_body(resp: reqwest::Response, what: &str) -> Value {
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap_or_default();
    assert!(
        status.is_success(),
        "{what}: {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{what}: bad JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// A rate limit nobody reaches.
fn unlimited() -> Value {
    json!({ "per_second": 100_000, "burst_count": 1_000_000 })
}

fn homeserver_config(
    dir: &Path,
    port: u16,
    shared_secret: &str,
    registrations: &[String],
) -> Value {
    let d = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let rl = unlimited;
    json!({
        "server_name": SERVER_NAME,
        "public_baseurl": format!("http://127.0.0.1:{port}/"),
        "pid_file": d("homeserver.pid"),
        "listeners": [{
            "port": port,
            "bind_addresses": ["127.0.0.1"],
            "type": "http",
            "tls": false,
            "x_forwarded": false,
            "resources": [{ "names": ["client"], "compress": false }],
        }],
        "database": { "name": "sqlite3", "args": { "database": d("homeserver.db") } },
        "media_store_path": d("media"),
        // The benchmarks bridge a 100 MB video.
        "max_upload_size": "600M",
        "signing_key_path": d("signing.key"),
        "trusted_key_servers": [],
        "suppress_key_server_warning": true,
        // Identical initial syncs (invite polling) must not get a cached,
        // stale answer.
        "caches": {"sync_response_cache_duration": 0},
        "report_stats": false,
        "enable_metrics": false,
        "url_preview_enabled": false,
        "enable_registration": false,
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": hex::encode(random_bytes::<32>()),
        "form_secret": hex::encode(random_bytes::<32>()),
        "app_service_config_files": registrations,
        "use_appservice_legacy_authorization": false,
        "federation_domain_whitelist": [],
        "rc_message": rl(),
        "rc_registration": rl(),
        "rc_registration_token_validity": rl(),
        "rc_login": { "address": rl(), "account": rl(), "failed_attempts": rl() },
        "rc_admin_redaction": rl(),
        "rc_joins": { "local": rl(), "remote": rl() },
        "rc_joins_per_room": rl(),
        "rc_3pid_validation": rl(),
        "rc_invites": { "per_room": rl(), "per_user": rl(), "per_issuer": rl() },
        "rc_third_party_invite": rl(),
        "rc_media_create": rl(),
        "rc_room_creation": rl(),
        "rc_reports": rl(),
        "rc_delayed_event_mgmt": rl(),
        "rc_presence": { "per_user": rl() },
        "rc_key_requests": rl(),
    })
}

/// Synapse's signing key file: `ed25519 <key id> <unpadded base64 seed>`.
/// Written here so startup needs no separate `--generate-keys` run.
fn write_signing_key(path: &Path) {
    let seed = random_bytes::<32>();
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(seed);
    fs::write(path, format!("ed25519 a_test {b64}\n")).expect("write signing key");
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn unique_temp_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "wabridge-synapse-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for l in &all[all.len().saturating_sub(lines)..] {
        let _ = writeln!(out, "{l}");
    }
    out
}

//! What the history suites (tests/e2e_history.rs, examples/backfill_bench.rs)
//! share: a bridge set up against wa-sim and Synapse (config, registrations,
//! optional double puppeting), a fresh PostgreSQL database, and reading a
//! portal's messages back through the client API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use wa_sim::Sim;
use wabridge::config::{Config, Registration, generate_token};

use super::matrix::MatrixUser;
use super::synapse::{self, Synapse};

/// A bridge's config and the registrations Synapse needs for it.
#[derive(Debug)]
pub struct Setup {
    /// The bridge's config file (written, and parsed as `config`).
    pub config_path: PathBuf,
    /// The parsed config.
    pub config: Config,
    /// The bridge's registration, plus the double puppet's if any.
    pub registrations: Vec<PathBuf>,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a bridge config into `dir` for `sim`, the appservice on `port`,
/// the database `db` (`sqlite:...` or `postgres://...`), backfill of up to
/// `max_chats` chats, with double puppeting when `double_puppet`. The
/// homeserver address is filled in by [`Setup::point_at`].
pub fn setup(
    dir: &Path,
    sim: &Sim,
    port: u16,
    db: &str,
    max_chats: u32,
    double_puppet: bool,
) -> Setup {
    let domain = synapse::SERVER_NAME;
    let mut registrations = Vec::new();
    let mut puppet_yaml = String::new();
    if double_puppet {
        let puppet = Registration::double_puppet(domain);
        let path = dir.join("doublepuppet.yaml");
        std::fs::write(&path, puppet.to_yaml().unwrap()).unwrap();
        registrations.push(path);
        puppet_yaml = format!(
            "double_puppet:\n    secrets:\n        {domain}: \"as_token:{}\"\n",
            puppet.as_token.expose()
        );
    }
    let yaml = format!(
        r#"
homeserver:
    address: http://127.0.0.1:1
    domain: {domain}
appservice:
    address: http://127.0.0.1:{port}
    hostname: 127.0.0.1
    port: {port}
    id: whatsapp
    bot:
        username: whatsappbot
        displayname: WhatsApp bridge bot
    as_token: {as_token}
    hs_token: {hs_token}
    username_template: whatsapp_{{{{.}}}}
database:
    type: {kind}
    uri: "{db}"
bridge:
    permissions:
        "{domain}": user
network:
    url: {url}
    root_key: {root}
    media_ca_file: {ca}
    device_name: wabridge-test
backfill:
    max_initial_chats: {max_chats}
    max_initial_messages: 100
{puppet_yaml}logging:
    level: info,wabridge=debug
"#,
        as_token = generate_token(),
        hs_token = generate_token(),
        kind = if db.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        },
        url = sim.url(),
        root = hex::encode(sim.root_public_key()),
        ca = sim.media_ca_pem_path().display(),
    );
    let config: Config = yaml.parse().expect("test config is valid");
    let registration = Registration::new(&config, config.appservice.bot.username.clone());
    let reg_path = dir.join("registration.yaml");
    std::fs::write(&reg_path, registration.to_yaml().unwrap()).unwrap();
    registrations.insert(0, reg_path);
    let config_path = dir.join("config.yaml");
    std::fs::write(&config_path, &yaml).unwrap();
    Setup {
        config_path,
        config,
        registrations,
    }
}

impl Setup {
    /// Points the config (parsed and file) at `synapse`.
    pub fn point_at(&mut self, synapse: &Synapse) {
        self.point_at_url(synapse.base_url());
    }

    /// Points the config (parsed and file) at the homeserver `url` (a
    /// proxy in front of Synapse, say).
    pub fn point_at_url(&mut self, url: &str) {
        self.config.homeserver.address = url.to_owned();
        let yaml = std::fs::read_to_string(&self.config_path).unwrap();
        let yaml = yaml.replacen(
            "address: http://127.0.0.1:1\n",
            &format!("address: {url}\n"),
            1,
        );
        std::fs::write(&self.config_path, yaml).unwrap();
    }
}

/// The bridge binary's run before it starts: a new temp folder
/// (`prefix-…`) with its config for `sim` (SQLite, backfill of up to 50
/// chats, no double puppeting) and a fresh Synapse that knows it. Point
/// `setup` at Synapse (or a proxy in front of it) before spawning.
pub struct BinaryRun {
    /// The folder.
    pub dir: PathBuf,
    /// The SQLite database file.
    pub db_path: PathBuf,
    /// Where the bridge's log goes.
    pub log: PathBuf,
    /// Its config.
    pub setup: Setup,
    /// The homeserver.
    pub synapse: Synapse,
    /// The bridge binary (`env!("CARGO_BIN_EXE_wabridge")` in a test).
    pub binary: PathBuf,
}

impl BinaryRun {
    /// Writes the config and starts Synapse.
    pub async fn prepare(sim: &Sim, prefix: &str, binary: &str) -> BinaryRun {
        Self::prepare_on(sim, prefix, binary, None).await
    }

    /// [`BinaryRun::prepare`] with the database at `db_uri` (a PostgreSQL
    /// URL), or SQLite in the folder when `None`.
    pub async fn prepare_on(
        sim: &Sim,
        prefix: &str,
        binary: &str,
        db_uri: Option<&str>,
    ) -> BinaryRun {
        let dir = super::bridge::tempdir(prefix);
        let db_path = dir.join("bridge.db");
        let uri = db_uri.map_or_else(|| format!("sqlite:{}", db_path.display()), str::to_owned);
        let setup = setup(&dir, sim, free_port(), &uri, 50, false);
        let synapse = Synapse::start(&setup.registrations).await;
        BinaryRun {
            log: dir.join("bridge.log"),
            dir,
            db_path,
            setup,
            synapse,
            binary: PathBuf::from(binary),
        }
    }

    /// Starts the bridge binary (again).
    pub fn spawn(&self) -> super::process::BridgeProcess {
        super::process::BridgeProcess::spawn(&self.binary, &self.setup.config_path, &self.log)
    }
}

/// A message event as the test compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The sender's user id.
    pub sender: String,
    /// `content.msgtype`.
    pub msgtype: String,
    /// `content.body`.
    pub body: String,
    /// `origin_server_ts`.
    pub ts: u64,
}

/// The `m.room.message` events of `room` (as `user` sees them through
/// `/messages`), oldest first, edits left out.
pub async fn shown_messages(user: &MatrixUser, room: &str) -> Vec<Shown> {
    user.room_messages(room)
        .await
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter(|e| e["content"]["m.relates_to"]["rel_type"] != "m.replace")
        .map(|e| Shown {
            sender: e["sender"].as_str().unwrap_or_default().to_owned(),
            msgtype: e["content"]["msgtype"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            body: e["content"]["body"].as_str().unwrap_or_default().to_owned(),
            ts: e["origin_server_ts"].as_u64().unwrap_or_default(),
        })
        .collect()
}

/// The portals `user` is in (joining any pending invite first): chat JID
/// (the `m.bridge` channel id) -> room id. Panics if a chat has two rooms:
/// the bridge makes one room per chat, even when it is killed between
/// making a room and recording it.
pub async fn portals(user: &MatrixUser) -> BTreeMap<String, String> {
    for room in user.invites().await {
        user.accept_invite(&room).await;
    }
    let key = format!("{}/whatsapp", synapse::SERVER_NAME);
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    for room in user.joined_rooms().await {
        let Some(state) = user.get_state(&room, "m.bridge", &key).await else {
            continue;
        };
        let Some(chat) = state["channel"]["id"].as_str() else {
            continue;
        };
        if let Some(other) = found.insert(chat.to_owned(), room.clone()) {
            panic!("two rooms for {chat}: {other} and {room}");
        }
    }
    found
}

/// Waits until the bot's notice in `management` reports the backfill done
/// (as a new notice or the edit of one) with `pred` true of its text;
/// returns that text.
pub async fn wait_backfill_notice(
    user: &MatrixUser,
    management: &str,
    wait: Duration,
    mut pred: impl FnMut(&str) -> bool,
) -> String {
    let (_, e) = user
        .sync_until(wait, |room, e| {
            room == management && notice_text(e).is_some_and(&mut pred)
        })
        .await;
    notice_text(&e).unwrap_or_default().to_owned()
}

/// The text of a progress notice (or of its edit's new content).
fn notice_text(e: &Value) -> Option<&str> {
    let content = if e["content"]["m.new_content"].is_object() {
        &e["content"]["m.new_content"]
    } else {
        &e["content"]
    };
    (content["msgtype"] == "m.notice")
        .then(|| content["body"].as_str())
        .flatten()
        .filter(|b| b.starts_with("History bridged:"))
}

/// Polls `probe` until it returns `Some`, panicking with `what` after
/// `timeout`.
pub async fn poll<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the `COUNT(*)` query `sql` says of the SQLite database `db`, read
/// only (0 if it cannot be read).
pub async fn sqlite_count(db: &Path, sql: &str) -> i64 {
    let url = format!("sqlite:{}?mode=ro", db.display());
    let Ok(mut conn) = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await else {
        return 0;
    };
    sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0)
}

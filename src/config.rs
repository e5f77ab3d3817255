//! The bridge's configuration: one YAML file whose sections have the shape
//! mautrix bridge users know (`homeserver`, `appservice`, `database`,
//! `bridge`, `network`, `logging`).
//!
//! Reading a file has two steps. [`Config::parse`] checks the shape: YAML
//! syntax, types, unknown and missing keys. [`Config::validate`] checks the
//! meaning: URLs and their schemes, localparts, the ghost template, the
//! permission keys, and that the tokens are neither missing nor still the
//! example's placeholder. [`Config::load`] and [`str::parse`] do both. Every
//! [`ConfigError`] about the content names the dotted key path first, e.g.
//! `appservice.port: expected a port number 1-65535, got "abc"`.
//!
//! [`generate_registration`] (`wabridge -g`) makes fresh tokens, writes them
//! into the config file and writes the homeserver's registration file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod error;
mod registration;
mod sync;
mod types;
mod validate;

pub use error::ConfigError;
pub use registration::{
    Namespace, Namespaces, Registration, generate_registration, generate_token, set_tokens_in_yaml,
};
pub use sync::{Backfill, DoublePuppet};
pub use types::{Port, RootKey, Token};

/// Writes `contents` to `path`, a file only its owner may read (mode
/// 0600 on Unix) when it is created here: configs and registrations hold
/// tokens.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// Whether `host` is this machine (loopback, or a Unix socket: no host).
fn is_local(host: Option<&str>) -> bool {
    match host {
        None | Some("") | Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
    }
}

/// The placeholder that `config.example.yaml` carries for both tokens;
/// [`Config::validate`] refuses it, [`generate_registration`] replaces it.
pub const TOKEN_PLACEHOLDER: &str = "generate";

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The homeserver the bridge belongs to.
    pub homeserver: Homeserver,
    /// The bridge as an application service.
    pub appservice: Appservice,
    /// Where the bridge keeps its state.
    #[serde(default)]
    pub database: Database,
    /// Bridge behaviour: commands and who may use the bridge.
    #[serde(default)]
    pub bridge: Bridge,
    /// How to reach WhatsApp.
    #[serde(default)]
    pub network: Network,
    /// History bridged at login.
    #[serde(default)]
    pub backfill: Backfill,
    /// Acting as the logged-in users themselves.
    #[serde(default)]
    pub double_puppet: DoublePuppet,
    /// Log level and format.
    #[serde(default)]
    pub logging: Logging,
}

/// `homeserver`: the Matrix server the bridge serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Homeserver {
    /// Client-server API base URL the bridge calls, e.g. `http://localhost:8008`.
    pub address: String,
    /// The server name in user IDs, e.g. `example.com`.
    pub domain: String,
}

/// `appservice`: how the homeserver and the bridge reach each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appservice {
    /// URL the homeserver uses to push transactions to the bridge.
    pub address: String,
    /// Address the bridge's HTTP listener binds.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// Port the bridge's HTTP listener binds.
    #[serde(default)]
    pub port: Port,
    /// The registration's `id`, unique per homeserver.
    #[serde(default = "default_id")]
    pub id: String,
    /// The bridge bot's profile.
    #[serde(default)]
    pub bot: Bot,
    /// Token the bridge presents to the homeserver.
    #[serde(default)]
    pub as_token: Token,
    /// Token the homeserver presents to the bridge.
    #[serde(default)]
    pub hs_token: Token,
    /// Localpart of ghost users; `{{.}}` stands for the WhatsApp ID.
    #[serde(default = "default_username_template")]
    pub username_template: String,
}

/// `appservice.bot`: the bridge bot's profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bot {
    /// Localpart of the bot user.
    #[serde(default = "default_bot_username")]
    pub username: String,
    /// Display name of the bot user.
    #[serde(default = "default_bot_displayname")]
    pub displayname: String,
    /// Avatar as an `mxc://` URI, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// `database`: SQLite (default) or PostgreSQL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// Which backend (`type` in YAML).
    #[serde(rename = "type", default)]
    pub kind: DatabaseKind,
    /// `sqlite:PATH` or `postgres://user:password@host/db`.
    #[serde(default = "default_database_uri")]
    pub uri: String,
}

/// `database.type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// An SQLite file (also accepts mautrix's `sqlite3`, `sqlite3-fk-wal`).
    #[default]
    #[serde(alias = "sqlite3", alias = "sqlite3-fk-wal")]
    Sqlite,
    /// A PostgreSQL server (also accepts `postgresql`).
    #[serde(alias = "postgresql")]
    Postgres,
}

/// `bridge`: behaviour of the bridge core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Prefix of bot commands outside the management room.
    #[serde(default = "default_command_prefix")]
    pub command_prefix: String,
    /// Who may do what: keys are `*`, a server name or a user ID.
    #[serde(default)]
    pub permissions: BTreeMap<String, Level>,
    /// The largest attachment bridged either way, in bytes; bigger ones
    /// become a notice. Attachments are held in memory while bridged.
    #[serde(default = "default_max_media_bytes")]
    pub max_media_bytes: u64,
    /// Presence both ways.
    #[serde(default)]
    pub presence: Presence,
    /// WhatsApp polls as MSC3381 poll events (Matrix clients that know
    /// polls show them with their votes, and the user can vote from
    /// Matrix), not as text; clients that do not know polls show nothing.
    #[serde(default)]
    pub polls_as_events: bool,
    /// A notice in the chat when a WhatsApp call rings, then how it ended
    /// (missed, taken on another device, over). The bridge takes no calls.
    #[serde(default = "default_true")]
    pub call_notices: bool,
}

/// `bridge.presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Presence {
    /// Show contacts' WhatsApp presence on their Matrix ghosts, and show
    /// the user online on WhatsApp while they are active in Matrix.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Seconds without Matrix activity (a message, typing, a read receipt)
    /// after which the user shows offline on WhatsApp again. While a
    /// linked device is online the phone gets no notifications, and while
    /// it is offline WhatsApp sends it no one's presence.
    #[serde(default = "default_idle_seconds")]
    pub idle_seconds: u64,
}

impl Default for Presence {
    fn default() -> Presence {
        Presence {
            enabled: true,
            idle_seconds: default_idle_seconds(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_idle_seconds() -> u64 {
    120
}

/// The most `bridge.max_media_bytes` may be: what the WhatsApp client
/// downloads at most.
pub const MAX_MEDIA_BYTES_LIMIT: u64 = wa_client::media::MAX_DOWNLOAD;

/// A permission level in `bridge.permissions`, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// May talk in rooms that a logged-in user set up as relayed.
    Relay,
    /// May log in with their own WhatsApp account.
    User,
    /// May also manage the bridge and other users' portals.
    Admin,
}

/// `network`: where WhatsApp is and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The WebSocket URL of the chat service.
    #[serde(default = "default_network_url")]
    pub url: String,
    /// Root public key the server's certificate chain must chain to (hex).
    #[serde(default)]
    pub root_key: RootKey,
    /// PEM file of extra CAs trusted for media downloads and uploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_ca_file: Option<PathBuf>,
    /// Name of the companion device as shown on the phone
    /// (`DeviceProps.os`).
    #[serde(default = "default_device_name")]
    pub device_name: String,
    /// The WhatsApp Web version to present (`2.3000.N`); none: the one
    /// compiled in ([`wa_core::payload::DEFAULT_WEB_VERSION`]). Set it
    /// when WhatsApp refuses logins as outdated (405).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The platform the phone shows for the device (`DeviceProps.
    /// platformType`): `unknown` (whatsmeow's default), `chrome`,
    /// `firefox`, `safari`, `edge`, `desktop`, ...
    #[serde(default = "default_platform_type")]
    pub platform_type: String,
    /// Seconds the first login QR code is shown before the next ref
    /// replaces it (the real service: 60).
    #[serde(default = "default_first_qr_seconds")]
    pub first_qr_seconds: u64,
    /// Seconds each later QR code is shown (the real service: 20).
    #[serde(default = "default_later_qr_seconds")]
    pub later_qr_seconds: u64,
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// A level (`info`) or an `EnvFilter` directive (`info,wabridge=debug`);
    /// `RUST_LOG`, when set, wins.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// Output format.
    #[serde(default)]
    pub format: LogFormat,
}

/// `logging.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// Parses YAML and checks its shape (syntax, types, unknown and missing
    /// keys), without [`Config::validate`].
    pub fn parse(yaml: &str) -> Result<Config, ConfigError> {
        let mut value: serde_norway::Value =
            serde_norway::from_str(yaml).map_err(ConfigError::syntax)?;
        if value.is_null() {
            // An empty file: report the missing sections, not a type error.
            value = serde_norway::Value::Mapping(serde_norway::Mapping::new());
        }
        serde_path_to_error::deserialize(value).map_err(ConfigError::from_serde)
    }

    /// Reads, parses and validates the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        text.parse()
    }

    /// Checks what [`Config::parse`] cannot: URLs, names, the ghost
    /// template, permission keys, the database URI, and that the tokens
    /// are set. Returns the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::config(self)
    }

    /// Connections that carry tokens or users' data in the clear to another
    /// machine: an `http://` homeserver or a PostgreSQL server without
    /// `sslmode=require` (or `verify-*`) that is not on this host. Each is a
    /// sentence for the log; the bridge runs anyway (a reverse proxy or a
    /// private network may make them fine).
    pub fn insecure_links(&self) -> Vec<String> {
        let mut found = Vec::new();
        if let Ok(url) = url::Url::parse(&self.homeserver.address)
            && url.scheme() == "http"
            && !is_local(url.host_str())
        {
            found.push(format!(
                "homeserver.address {} is plain http to another host: tokens and messages \
                 cross the network unencrypted",
                self.homeserver.address
            ));
        }
        if let Ok(url) = url::Url::parse(&self.database.uri)
            && matches!(url.scheme(), "postgres" | "postgresql")
            && !is_local(url.host_str())
        {
            let tls = url.query_pairs().any(|(k, v)| {
                k == "sslmode" && matches!(v.as_ref(), "require" | "verify-ca" | "verify-full")
            });
            if !tls {
                found.push(
                    "database.uri names a PostgreSQL server on another host without \
                     sslmode=require: keys and messages may cross the network unencrypted"
                        .to_owned(),
                );
            }
        }
        found
    }

    /// The config as YAML (comments of the original file are not kept).
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        serde_norway::to_string(self).map_err(|e| ConfigError::Serialize(e.to_string()))
    }

    /// The WhatsApp Web version the bridge presents: `network.app_version`,
    /// or the one compiled in.
    pub fn web_version(&self) -> wa_core::payload::WebVersion {
        self.network
            .app_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(wa_core::payload::DEFAULT_WEB_VERSION)
    }

    /// How each login's companion describes itself to WhatsApp: version,
    /// device name and platform from `network`, the history it asks for
    /// from `backfill`.
    pub fn agent(&self) -> wa_core::payload::Agent {
        use wa_core::payload::{Agent, HistoryRequest, platform_type};
        let defaults = Agent::default();
        Agent {
            version: self.web_version(),
            device_name: self.network.device_name.trim().to_owned(),
            device_version: own_version(),
            platform: platform_type(&self.network.platform_type).unwrap_or(defaults.platform),
            history: HistoryRequest {
                full: self.backfill.enabled && self.backfill.request_full_sync,
                full_days: self.backfill.full_sync_days,
            },
            ..defaults
        }
    }

    /// The bot's user ID, `@whatsappbot:example.com`.
    pub fn bot_user_id(&self) -> String {
        format!(
            "@{}:{}",
            self.appservice.bot.username, self.homeserver.domain
        )
    }

    /// The user ID of the ghost for the WhatsApp ID `id`.
    pub fn ghost_user_id(&self, id: &str) -> String {
        format!(
            "@{}:{}",
            self.appservice.ghost_localpart(id),
            self.homeserver.domain
        )
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// [`Config::parse`] then [`Config::validate`].
    fn from_str(yaml: &str) -> Result<Config, ConfigError> {
        let config = Config::parse(yaml)?;
        config.validate()?;
        Ok(config)
    }
}

/// What stands for the remote ID in `appservice.username_template`.
pub const TEMPLATE_MARKER: &str = "{{.}}";

impl Appservice {
    /// The ghost localpart for the WhatsApp ID `id`: the template with
    /// `{{.}}` replaced.
    pub fn ghost_localpart(&self, id: &str) -> String {
        let (prefix, suffix) = self.template_parts();
        format!("{prefix}{id}{suffix}")
    }

    /// The WhatsApp ID inside a ghost localpart, or `None` if `localpart`
    /// is not a ghost's.
    pub fn ghost_id(&self, localpart: &str) -> Option<String> {
        let (prefix, suffix) = self.template_parts();
        let id = localpart.strip_prefix(prefix)?.strip_suffix(suffix)?;
        (!id.is_empty()).then(|| id.to_owned())
    }

    /// The template's text before and after `{{.}}` (a template without it,
    /// refused by validation, is all prefix).
    fn template_parts(&self) -> (&str, &str) {
        self.username_template
            .split_once(TEMPLATE_MARKER)
            .unwrap_or((self.username_template.as_str(), ""))
    }
}

impl Bridge {
    /// The level granted to `mxid`: its own entry, else its server's, else
    /// `*`'s; `None` if none applies.
    pub fn permission_for(&self, mxid: &ruma::UserId) -> Option<Level> {
        self.permissions
            .get(mxid.as_str())
            .or_else(|| self.permissions.get(mxid.server_name().as_str()))
            .or_else(|| self.permissions.get("*"))
            .copied()
    }
}

impl std::fmt::Debug for Database {
    /// Shows the URI without a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("kind", &self.kind)
            .field("uri", &redact_uri_password(&self.uri))
            .finish()
    }
}

/// `scheme://user:password@host...` with the password replaced by `***`.
fn redact_uri_password(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return uri.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => uri.to_owned(),
    }
}

impl Default for Bot {
    fn default() -> Bot {
        Bot {
            username: default_bot_username(),
            displayname: default_bot_displayname(),
            avatar: None,
        }
    }
}

impl Default for Database {
    fn default() -> Database {
        Database {
            kind: DatabaseKind::Sqlite,
            uri: default_database_uri(),
        }
    }
}

impl Default for Bridge {
    fn default() -> Bridge {
        Bridge {
            command_prefix: default_command_prefix(),
            permissions: BTreeMap::new(),
            max_media_bytes: default_max_media_bytes(),
            presence: Presence::default(),
            polls_as_events: false,
            call_notices: true,
        }
    }
}

impl Default for Network {
    fn default() -> Network {
        Network {
            url: default_network_url(),
            root_key: RootKey::default(),
            media_ca_file: None,
            device_name: default_device_name(),
            app_version: None,
            platform_type: default_platform_type(),
            first_qr_seconds: default_first_qr_seconds(),
            later_qr_seconds: default_later_qr_seconds(),
        }
    }
}

impl Default for Logging {
    fn default() -> Logging {
        Logging {
            level: default_log_level(),
            format: LogFormat::Text,
        }
    }
}

fn default_hostname() -> String {
    "127.0.0.1".to_owned()
}

fn default_id() -> String {
    "whatsapp".to_owned()
}

fn default_username_template() -> String {
    format!("whatsapp_{TEMPLATE_MARKER}")
}

fn default_bot_username() -> String {
    "whatsappbot".to_owned()
}

fn default_bot_displayname() -> String {
    "WhatsApp bridge bot".to_owned()
}

fn default_database_uri() -> String {
    "sqlite:wabridge.db".to_owned()
}

fn default_command_prefix() -> String {
    "!wa".to_owned()
}

fn default_max_media_bytes() -> u64 {
    100 << 20
}

fn default_network_url() -> String {
    wa_client::socket::PRODUCTION_URL.to_owned()
}

fn default_first_qr_seconds() -> u64 {
    60
}

fn default_later_qr_seconds() -> u64 {
    20
}

fn default_device_name() -> String {
    "wabridge".to_owned()
}

/// wabridge's own version as `DeviceProps.version`.
fn own_version() -> (u32, u32, u32) {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

fn default_platform_type() -> String {
    "unknown".to_owned()
}

fn default_log_level() -> String {
    "info".to_owned()
}

#[cfg(test)]
mod tests;

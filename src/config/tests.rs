use std::path::PathBuf;

use super::*;

const EXAMPLE: &str = include_str!("../../config.example.yaml");

/// The example with real tokens, as `-g` leaves it.
fn example_with_tokens() -> String {
    set_tokens_in_yaml(EXAMPLE, &generate_token(), &generate_token()).expect("block style")
}

/// A minimal valid config ending inside `appservice:`, so tests can append
/// keys to that section or add sections after it.
fn minimal() -> String {
    "homeserver:\n  address: http://localhost:8008\n  domain: example.com\n\
     appservice:\n  address: http://localhost:29318\n  as_token: aaaa\n  hs_token: bbbb\n"
        .to_owned()
}

/// Parses and validates `yaml`, expecting an error about `key` whose
/// message contains `needle`; returns the message.
fn error_for(yaml: &str, key: &str, needle: &str) -> String {
    let err = yaml
        .parse::<Config>()
        .expect_err("config should be refused");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{key}: ")),
        "message {msg:?} does not start with key {key:?}"
    );
    assert_eq!(err.key(), Some(key), "{msg}");
    assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
    msg
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wabridge-config-{}", &generate_token()[..16]));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn example_parses_and_needs_generated_tokens() {
    let config = Config::parse(EXAMPLE).expect("example parses");
    assert_eq!(config.appservice.as_token.expose(), TOKEN_PLACEHOLDER);
    error_for(EXAMPLE, "appservice.as_token", "placeholder");
}

#[test]
fn example_with_tokens_is_valid_and_matches_defaults() {
    let config: Config = example_with_tokens().parse().expect("valid");
    assert_eq!(config.homeserver.domain, "example.com");
    assert_eq!(config.appservice.port, Port(29318));
    assert_eq!(config.appservice.id, "whatsapp");
    assert_eq!(config.appservice.bot, Bot::default());
    assert_eq!(config.appservice.as_token.expose().len(), 64);
    assert_eq!(config.database, Database::default());
    assert_eq!(config.bridge.command_prefix, "!wa");
    assert_eq!(config.network, Network::default());
    assert_eq!(config.backfill, Backfill::default());
    assert_eq!(config.double_puppet, DoublePuppet::default());
    assert_eq!(config.logging, Logging::default());
    assert_eq!(
        config.network.root_key.0,
        wa_core::noise::cert::PRODUCTION_ROOT_KEY
    );
}

#[test]
fn minimal_config_takes_the_defaults() {
    let config: Config = minimal().parse().expect("valid");
    assert_eq!(config.database.kind, DatabaseKind::Sqlite);
    assert_eq!(config.database.uri, "sqlite:wabridge.db");
    assert_eq!(config.network.url, "wss://web.whatsapp.com/ws/chat");
    assert_eq!(config.network.device_name, "wabridge");
    assert_eq!(config.appservice.username_template, "whatsapp_{{.}}");
    assert_eq!(config.appservice.hostname, "127.0.0.1");
    assert!(config.bridge.permissions.is_empty());
    assert!(config.backfill.enabled, "backfill is on unless turned off");
    assert_eq!(config.backfill.max_initial_chats, 50);
    assert_eq!(config.backfill.max_initial_messages, 100);
    assert_eq!(config.double_puppet.as_token("example.com"), None);
}

#[test]
fn double_puppet_secrets_are_checked_and_not_shown() {
    let yaml = format!(
        "{}double_puppet:\n  secrets:\n    example.com: \"as_token:s3cr3t\"\n",
        minimal()
    );
    let config: Config = yaml.parse().expect("valid");
    assert_eq!(config.double_puppet.as_token("example.com"), Some("s3cr3t"));
    assert_eq!(config.double_puppet.as_token("other.org"), None);
    assert!(!format!("{config:?}").contains("s3cr3t"), "Debug hides it");
    error_for(
        &format!(
            "{}double_puppet:\n  secrets:\n    example.com: \"s3cr3t\"\n",
            minimal()
        ),
        "double_puppet.secrets.example.com",
        "as_token:",
    );
    error_for(
        &format!(
            "{}double_puppet:\n  secrets:\n    \"https://x\": \"as_token:a\"\n",
            minimal()
        ),
        "double_puppet.secrets.https://x",
        "server name",
    );
}

#[test]
fn syntax_errors_carry_the_position() {
    let err = "homeserver: [1\n".parse::<Config>().expect_err("bad yaml");
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::Syntax(_)), "{msg}");
    assert!(msg.contains("line"), "{msg}");
}

#[test]
fn empty_file_names_the_first_missing_section() {
    error_for("", "homeserver", "required key is missing");
}

#[test]
fn missing_keys_are_named() {
    error_for(
        "homeserver:\n  address: http://x\nappservice:\n  address: http://y\n",
        "homeserver.domain",
        "required key is missing",
    );
    let yaml = minimal().replace("  address: http://localhost:29318\n", "");
    error_for(&yaml, "appservice.address", "required key is missing");
}

#[test]
fn unknown_keys_are_named() {
    let msg = error_for(
        &format!("{}colour: blue\n", minimal()),
        "colour",
        "unknown key",
    );
    assert!(
        msg.contains("`homeserver`"),
        "lists the allowed keys: {msg}"
    );
    error_for(
        &format!("{}  prot: 1\n", minimal()),
        "appservice.prot",
        "unknown key",
    );
    error_for(
        &format!("{}network:\n  device: x\n", minimal()),
        "network.device",
        "unknown key",
    );
}

#[test]
fn port_errors() {
    let msg = error_for(
        &format!("{}  port: abc\n", minimal()),
        "appservice.port",
        "",
    );
    assert_eq!(
        msg,
        "appservice.port: expected a port number 1-65535, got \"abc\""
    );
    error_for(
        &format!("{}  port: 70000\n", minimal()),
        "appservice.port",
        "got 70000",
    );
    error_for(
        &format!("{}  port: 0\n", minimal()),
        "appservice.port",
        "got 0",
    );
    error_for(
        &format!("{}  port: -1\n", minimal()),
        "appservice.port",
        "got -1",
    );
    let ok: Config = format!("{}  port: \"8080\"\n", minimal())
        .parse()
        .expect("a quoted port is fine");
    assert_eq!(ok.appservice.port, Port(8080));
}

#[test]
fn wrong_types_say_what_was_expected() {
    error_for(
        &format!("{}logging:\n  level: [a]\n", minimal()),
        "logging.level",
        "expected a string, got sequence",
    );
    error_for("homeserver: 3\n", "homeserver", "expected a mapping");
}

#[test]
fn enum_values_are_listed() {
    error_for(
        &format!("{}database:\n  type: mysql\n", minimal()),
        "database.type",
        "got `mysql`",
    );
    error_for(
        &format!(
            "{}bridge:\n  permissions:\n    \"@a:b.c\": root\n",
            minimal()
        ),
        "bridge.permissions.@a:b.c",
        "`admin`",
    );
    error_for(
        &format!("{}logging:\n  format: xml\n", minimal()),
        "logging.format",
        "`json`",
    );
}

#[test]
fn mautrix_database_types_are_accepted() {
    let yaml = format!("{}database:\n  type: sqlite3-fk-wal\n", minimal());
    let config: Config = yaml.parse().expect("valid");
    assert_eq!(config.database.kind, DatabaseKind::Sqlite);
}

#[test]
fn database_uri_must_match_type_and_is_not_quoted() {
    let msg = error_for(
        &format!(
            "{}database:\n  type: sqlite\n  uri: postgres://u:hunter2@db/wa\n",
            minimal()
        ),
        "database.uri",
        "sqlite:PATH",
    );
    assert!(!msg.contains("hunter2"), "{msg}");
    error_for(
        &format!("{}database:\n  type: postgres\n", minimal()),
        "database.uri",
        "postgres://",
    );
}

#[test]
fn token_problems() {
    let yaml = minimal().replace("as_token: aaaa", "as_token: generate");
    error_for(&yaml, "appservice.as_token", "placeholder");
    let yaml = minimal().replace("  hs_token: bbbb\n", "");
    error_for(&yaml, "appservice.hs_token", "not set");
    let yaml = minimal().replace("hs_token: bbbb", "hs_token: aaaa");
    error_for(&yaml, "appservice.hs_token", "must differ");
    let yaml = minimal().replace("as_token: aaaa", "as_token: 123456789");
    let msg = error_for(&yaml, "appservice.as_token", "expected a token string");
    assert!(!msg.contains("123456789"), "{msg}");
}

#[test]
fn url_and_name_problems() {
    let yaml = minimal().replace("http://localhost:8008", "localhost:8008");
    error_for(&yaml, "homeserver.address", "http:// or https://");
    let yaml = minimal().replace("domain: example.com", "domain: https://example.com");
    error_for(&yaml, "homeserver.domain", "server name");
    let yaml = minimal().replace("http://localhost:29318", "ftp://x");
    error_for(&yaml, "appservice.address", "http:// or https://");
    error_for(
        &format!("{}network:\n  url: https://example.com/ws\n", minimal()),
        "network.url",
        "ws:// or wss://",
    );
    error_for(
        &format!("{}  bot:\n    username: Bot!\n", minimal()),
        "appservice.bot.username",
        "localpart",
    );
    error_for(
        &format!("{}  bot:\n    avatar: https://x/y.png\n", minimal()),
        "appservice.bot.avatar",
        "mxc://",
    );
    error_for(
        &format!(
            "{}bridge:\n  permissions:\n    \"@nodomain\": user\n",
            minimal()
        ),
        "bridge.permissions.@nodomain",
        "user ID",
    );
    error_for(
        &format!("{}bridge:\n  command_prefix: \"\"\n", minimal()),
        "bridge.command_prefix",
        "non-empty",
    );
}

#[test]
fn template_problems() {
    error_for(
        &format!("{}  username_template: whatsapp_\n", minimal()),
        "appservice.username_template",
        "exactly one",
    );
    error_for(
        &format!("{}  username_template: \"{{{{.}}}}\"\n", minimal()),
        "appservice.username_template",
        "text around",
    );
    error_for(
        &format!("{}  username_template: WA_{{{{.}}}}\n", minimal()),
        "appservice.username_template",
        "'W'",
    );
    error_for(
        &format!(
            "{}  username_template: whatsapp{{{{.}}}}\n  bot:\n    username: whatsappbot\n",
            minimal()
        ),
        "appservice.bot.username",
        "ghost template",
    );
}

#[test]
fn media_size_limit() {
    let config: Config = example_with_tokens().parse().expect("valid");
    assert_eq!(config.bridge.max_media_bytes, 100 << 20);
    let config: Config = minimal().parse().expect("valid");
    assert_eq!(config.bridge.max_media_bytes, 100 << 20, "the default");
    error_for(
        &format!("{}bridge:\n  max_media_bytes: 0\n", minimal()),
        "bridge.max_media_bytes",
        "0 is not between 1 and 536870912 bytes",
    );
    error_for(
        &format!("{}bridge:\n  max_media_bytes: 536870913\n", minimal()),
        "bridge.max_media_bytes",
        "536870913 is not between",
    );
    error_for(
        &format!("{}bridge:\n  max_media_bytes: lots\n", minimal()),
        "bridge.max_media_bytes",
        "",
    );
}

#[test]
fn network_problems() {
    error_for(
        &format!("{}network:\n  root_key: abcd\n", minimal()),
        "network.root_key",
        "got 2 bytes",
    );
    error_for(
        &format!("{}network:\n  root_key: xyz\n", minimal()),
        "network.root_key",
        "invalid hex",
    );
    error_for(
        &format!(
            "{}network:\n  media_ca_file: /nonexistent/ca.pem\n",
            minimal()
        ),
        "network.media_ca_file",
        "cannot read /nonexistent/ca.pem",
    );
    error_for(
        &format!("{}network:\n  device_name: \" \"\n", minimal()),
        "network.device_name",
        "empty",
    );
    error_for(
        &format!("{}network:\n  first_qr_seconds: 0\n", minimal()),
        "network.first_qr_seconds",
        "0 is not between 1 and 600",
    );
    error_for(
        &format!("{}network:\n  later_qr_seconds: 601\n", minimal()),
        "network.later_qr_seconds",
        "601 is not between 1 and 600",
    );
}

#[test]
fn logging_level_must_be_a_filter() {
    error_for(
        &format!("{}logging:\n  level: \"info,=[\"\n", minimal()),
        "logging.level",
        "expected a level",
    );
    let config: Config = format!("{}logging:\n  level: info,wabridge=debug\n", minimal())
        .parse()
        .expect("directives are fine");
    assert_eq!(config.logging.level, "info,wabridge=debug");
}

#[test]
fn debug_hides_tokens_and_database_password() {
    let yaml = format!(
        "{}database:\n  type: postgres\n  uri: postgres://wa:hunter2@db:5432/wa\n",
        minimal()
    )
    .replace("aaaa", "secret-as-token")
    .replace("bbbb", "secret-hs-token");
    let config: Config = yaml.parse().expect("valid");
    let debug = format!("{config:?}");
    assert!(!debug.contains("secret-as-token"), "{debug}");
    assert!(!debug.contains("secret-hs-token"), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("postgres://wa:***@db:5432/wa"), "{debug}");
}

#[test]
fn ghost_localparts_round_trip() {
    let config: Config = minimal().parse().expect("valid");
    let a = &config.appservice;
    assert_eq!(a.ghost_localpart("15551234567"), "whatsapp_15551234567");
    assert_eq!(
        a.ghost_id("whatsapp_15551234567").as_deref(),
        Some("15551234567")
    );
    assert_eq!(a.ghost_id("whatsapp_"), None);
    assert_eq!(a.ghost_id("whatsappbot"), None);
    assert_eq!(a.ghost_id("alice"), None);
    assert_eq!(config.ghost_user_id("1"), "@whatsapp_1:example.com");
    assert_eq!(config.bot_user_id(), "@whatsappbot:example.com");

    let yaml = format!("{}  username_template: wa-{{{{.}}}}-x\n", minimal());
    let config: Config = yaml.parse().expect("valid");
    let a = &config.appservice;
    assert_eq!(a.ghost_localpart("42"), "wa-42-x");
    assert_eq!(a.ghost_id("wa-42-x").as_deref(), Some("42"));
    assert_eq!(a.ghost_id("wa-42"), None);
}

#[test]
fn most_specific_permission_wins() {
    let config: Config = example_with_tokens().parse().expect("valid");
    let b = &config.bridge;
    assert_eq!(
        b.permission_for(&uid("@admin:example.com")),
        Some(Level::Admin)
    );
    assert_eq!(
        b.permission_for(&uid("@bob:example.com")),
        Some(Level::User)
    );
    assert_eq!(
        b.permission_for(&uid("@eve:elsewhere.org")),
        Some(Level::Relay)
    );

    let config: Config = format!(
        "{}bridge:\n  permissions:\n    example.com: user\n",
        minimal()
    )
    .parse()
    .expect("valid");
    assert_eq!(
        config.bridge.permission_for(&uid("@eve:elsewhere.org")),
        None
    );
    assert_eq!(
        config.bridge.permission_for(&uid("@bob:example.com")),
        Some(Level::User)
    );
    assert!(Level::Relay < Level::User && Level::User < Level::Admin);
}

#[test]
fn registration_from_config() {
    let config: Config = example_with_tokens().parse().expect("valid");
    let reg = Registration::new(&config, "sender123");
    assert_eq!(reg.id, "whatsapp");
    assert_eq!(reg.url.as_deref(), Some("http://localhost:29318"));
    assert_eq!(reg.as_token, config.appservice.as_token);
    assert_eq!(reg.hs_token, config.appservice.hs_token);
    assert!(!reg.rate_limited);
    assert!(reg.receive_ephemeral && reg.push_ephemeral_unstable);
    let regexes: Vec<_> = reg
        .namespaces
        .users
        .iter()
        .map(|n| n.regex.as_str())
        .collect();
    assert_eq!(
        regexes,
        [
            "^@whatsappbot:example\\.com$",
            "^@whatsapp_.+:example\\.com$"
        ]
    );
    assert!(reg.namespaces.users.iter().all(|n| n.exclusive));

    let yaml = reg.to_yaml().expect("yaml");
    assert!(
        yaml.contains("de.sorunome.msc2409.push_ephemeral: true"),
        "{yaml}"
    );
    assert!(yaml.contains("receive_ephemeral: true"), "{yaml}");
    let back: Registration = serde_norway::from_str(&yaml).expect("round trip");
    assert_eq!(back, reg);
}

#[test]
fn generate_fills_the_example_and_keeps_its_comments() {
    let dir = temp_dir();
    let config_path = dir.join("config.yaml");
    let reg_path = dir.join("registration.yaml");
    std::fs::write(&config_path, EXAMPLE).expect("write");

    let reg = generate_registration(&config_path, &reg_path).expect("generate");
    let config = Config::load(&config_path).expect("config is valid after -g");
    assert_eq!(config.appservice.as_token, reg.as_token);
    assert_eq!(config.appservice.hs_token, reg.hs_token);
    assert_ne!(reg.as_token, reg.hs_token);
    assert_eq!(
        reg.sender_localpart, config.appservice.bot.username,
        "the as_token must act as the bot"
    );

    let written = std::fs::read_to_string(&config_path).expect("read");
    assert!(
        written.starts_with("# wabridge configuration."),
        "comments kept"
    );
    assert_eq!(
        written.lines().count(),
        EXAMPLE.lines().count(),
        "only the token lines changed"
    );
    let on_disk: Registration =
        serde_norway::from_str(&std::fs::read_to_string(&reg_path).expect("read")).expect("yaml");
    assert_eq!(on_disk, reg);

    // A second run makes new tokens and keeps the two files in step.
    let again = generate_registration(&config_path, &reg_path).expect("again");
    assert_ne!(again.as_token, reg.as_token);
    let config = Config::load(&config_path).expect("valid");
    assert_eq!(config.appservice.as_token, again.as_token);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn generate_rewrites_flow_style_configs_whole() {
    let dir = temp_dir();
    let config_path = dir.join("config.yaml");
    let reg_path = dir.join("registration.yaml");
    let flow = "homeserver: {address: \"http://hs\", domain: hs.test}\nappservice: {address: \"http://as:1\"}\n";
    std::fs::write(&config_path, flow).expect("write");
    let reg = generate_registration(&config_path, &reg_path).expect("generate");
    let config = Config::load(&config_path).expect("valid");
    assert_eq!(config.appservice.hs_token, reg.hs_token);
    assert_eq!(config.homeserver.domain, "hs.test");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn generate_refuses_an_invalid_config_and_writes_nothing() {
    let dir = temp_dir();
    let config_path = dir.join("config.yaml");
    let reg_path = dir.join("registration.yaml");
    let bad = EXAMPLE.replace("port: 29318", "port: abc");
    std::fs::write(&config_path, &bad).expect("write");
    let err = generate_registration(&config_path, &reg_path).expect_err("refused");
    assert_eq!(err.key(), Some("appservice.port"));
    assert!(!reg_path.exists());
    assert_eq!(std::fs::read_to_string(&config_path).expect("read"), bad);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn load_names_the_missing_file() {
    let err = Config::load("/nonexistent/wabridge.yaml").expect_err("no file");
    assert!(
        err.to_string().contains("/nonexistent/wabridge.yaml"),
        "{err}"
    );
}

#[test]
fn registration_example_matches_what_generate_writes() {
    let example: Registration =
        serde_norway::from_str(include_str!("../../registration.yaml.example")).expect("parses");
    let config: Config = example_with_tokens().parse().expect("valid");
    let made = Registration::new(&config, "x");
    assert_eq!(example.namespaces, made.namespaces);
    assert_eq!((example.id, example.url), (made.id, made.url));
    assert_eq!(
        (
            example.rate_limited,
            example.receive_ephemeral,
            example.push_ephemeral_unstable
        ),
        (false, true, true)
    );
}

#[test]
fn double_puppet_registration_lends_only_its_token() {
    let reg = Registration::double_puppet("example.com");
    let yaml = reg.to_yaml().expect("yaml");
    assert!(yaml.contains("url: null"), "{yaml}");
    assert!(yaml.contains("rate_limited: false"), "{yaml}");
    assert_eq!(reg.namespaces.users.len(), 1);
    assert_eq!(reg.namespaces.users[0].regex, "@.*:example\\.com");
    assert!(!reg.namespaces.users[0].exclusive, "real users stay theirs");
    assert_eq!(reg.as_token.expose().len(), 64);
    assert_ne!(
        Registration::double_puppet("example.com").as_token,
        reg.as_token,
        "fresh tokens each time"
    );
}

#[test]
fn clear_text_links_to_other_hosts_are_named() {
    let local: Config = minimal().parse().expect("valid");
    assert!(local.insecure_links().is_empty(), "loopback http is fine");
    let remote = minimal()
        .replace("http://localhost:8008", "http://matrix.example.com:8008")
        .parse::<Config>()
        .expect("valid");
    let found = remote.insecure_links();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("homeserver.address"), "{found:?}");

    let db = |uri: &str| {
        format!(
            "{}database:\n  type: postgres\n  uri: \"{uri}\"\n",
            minimal()
        )
        .parse::<Config>()
        .expect("valid")
        .insecure_links()
    };
    assert!(db("postgres://u:p@127.0.0.1/db").is_empty());
    assert!(db("postgres://u:p@db.internal/db?sslmode=require").is_empty());
    let found = db("postgres://u:p@db.internal/db?sslmode=prefer");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("database.uri"), "{found:?}");
}

fn uid(id: &str) -> ruma::OwnedUserId {
    ruma::OwnedUserId::try_from(id).unwrap()
}

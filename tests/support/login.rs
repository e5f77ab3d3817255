//! The QR login the e2e suites share: the user opens a DM with the bridge
//! bot (the management room), sends `login`, the scripted phone scans the
//! QR code decoded from the posted PNG, and the bot says "Logged in".

use std::time::Duration;

use wa_sim::{Phone, ScanError};

use super::bridge::decode_qr;
use super::matrix::{MatrixUser, body};

/// How the QR step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qr {
    /// The phone scans the first QR code shown.
    First,
    /// The test waits until the first code is replaced (an `m.replace`
    /// edit with a new ref), checks the old one no longer links, and the
    /// phone scans the replacement (needs short ref lifetimes in the sim
    /// and the bridge's config).
    Replaced,
}

/// Opens the management room with `bot`; returns its room id once the
/// bot's greeting (which mentions `login`) is there.
pub async fn open_management_room(user: &MatrixUser, bot: &str, wait: Duration) -> String {
    let management = user.create_dm(bot).await;
    user.sync_until(wait, |room, e| {
        room == management && e["sender"] == bot && body(e).contains("login")
    })
    .await;
    management
}

/// Logs `user` in by QR in `management`: `phone` (account `pn`) scans the
/// code; returns when the bot says "Logged in as +pn".
pub async fn login_by_qr(
    user: &MatrixUser,
    management: &str,
    phone: &Phone,
    pn: &str,
    qr: Qr,
    wait: Duration,
) {
    user.send_text(management, "login").await;
    let (_, image) = user
        .sync_until(wait, |room, e| {
            room == management
                && e["content"]["msgtype"] == "m.image"
                && e["content"]["m.relates_to"].is_null()
        })
        .await;
    let png = user
        .download_media(image["content"]["url"].as_str().unwrap())
        .await;
    let first_qr = decode_qr(&png);
    assert!(
        !body(&image).contains(&first_qr) && !first_qr.is_empty(),
        "the body does not repeat the pairing secret"
    );
    let code = match qr {
        Qr::First => first_qr,
        Qr::Replaced => {
            let image_id = image["event_id"].as_str().unwrap().to_owned();
            let (_, edit) = user
                .sync_until(wait, |room, e| {
                    room == management
                        && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                        && e["content"]["m.relates_to"]["event_id"] == image_id.as_str()
                })
                .await;
            let new_content = &edit["content"]["m.new_content"];
            assert_eq!(new_content["msgtype"], "m.image");
            let png = user
                .download_media(new_content["url"].as_str().unwrap())
                .await;
            let replaced = decode_qr(&png);
            assert!(
                !new_content["body"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&replaced),
                "the edit's body does not repeat the pairing secret"
            );
            assert_ne!(replaced, first_qr, "the replacement shows a new ref");
            let stale = phone.scan(&first_qr).await;
            assert!(
                matches!(stale, Err(ScanError::ExpiredRef)),
                "the replaced QR code no longer links: {stale:?}"
            );
            replaced
        }
    };
    phone.scan(&code).await.expect("the phone links the bridge");
    user.sync_until(wait, |room, e| {
        room == management && body(e) == format!("Logged in as +{pn}")
    })
    .await;
}

/// `@alice` registers on `synapse`, opens her management room with the
/// bot and logs in by QR with `phone` (account `pn`); returns her, the
/// bot's user id and the room.
pub async fn alice_logs_in(
    synapse: &super::synapse::Synapse,
    phone: &Phone,
    pn: &str,
    wait: Duration,
) -> (MatrixUser, String, String) {
    let alice = synapse.register_user("alice", "secret-pw", false).await;
    let bot = format!("@whatsappbot:{}", synapse.server_name());
    let management = open_management_room(&alice, &bot, wait).await;
    login_by_qr(&alice, &management, phone, pn, Qr::First, wait).await;
    (alice, bot, management)
}

/// An in-process bridge against a fresh Synapse, with `@alice` logged in
/// by QR.
pub struct LoggedIn {
    /// The homeserver.
    pub synapse: super::synapse::Synapse,
    /// The bridge (stop it at the end).
    pub bridge: super::bridge::Bridge,
    /// Alice, through the client API.
    pub alice: MatrixUser,
    /// The bot's user id.
    pub bot: String,
    /// Alice's management room.
    pub management: String,
    /// The bridge's config and port, to start it again.
    pub config: wabridge::config::Config,
    /// The port the bridge listens on.
    pub port: u16,
}

/// [`start_logged_in_on`] with the bridge's database a SQLite file in the
/// same folder and its config as `sim_config` writes it.
pub async fn start_logged_in(
    sim: &wa_sim::Sim,
    phone: &Phone,
    pn: &str,
    prefix: &str,
    double_puppet: bool,
    wait: Duration,
) -> LoggedIn {
    let startup = Startup {
        double_puppet,
        ..Startup::default()
    };
    start_logged_in_on(sim, phone, pn, prefix, startup, wait).await
}

/// How [`start_logged_in_on`] sets the bridge up.
#[derive(Default)]
pub struct Startup<'a> {
    /// The database; a SQLite file in the test's folder when `None`.
    pub db: Option<&'a str>,
    /// Double puppeting for the user.
    pub double_puppet: bool,
    /// Changes to the config `sim_config` writes.
    pub configure: Option<fn(&mut wabridge::config::Config)>,
}

/// Starts Synapse and the bridge against `sim` as `startup` says (its files
/// in a new temp folder named `prefix-…`), and logs `@alice` in by QR with
/// `phone` (account `pn`).
pub async fn start_logged_in_on(
    sim: &wa_sim::Sim,
    phone: &Phone,
    pn: &str,
    prefix: &str,
    startup: Startup<'_>,
    wait: Duration,
) -> LoggedIn {
    use super::bridge::{Bridge, sim_config, start_synapse, tempdir};
    let port = super::history::free_port();
    let dir = tempdir(prefix);
    let db = startup.db.map_or_else(
        || format!("sqlite:{}", dir.join("bridge.db").display()),
        str::to_owned,
    );
    let mut config = sim_config(sim, port, super::synapse::SERVER_NAME, &db);
    if let Some(configure) = startup.configure {
        configure(&mut config);
    }
    let synapse = start_synapse(&mut config, &dir, startup.double_puppet).await;
    let bridge = Bridge::start(&config, port).await;
    let (alice, bot, management) = alice_logs_in(&synapse, phone, pn, wait).await;
    LoggedIn {
        synapse,
        bridge,
        alice,
        bot,
        management,
        config,
        port,
    }
}

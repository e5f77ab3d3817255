//! Each user's companion device: linking it by a QR code posted in the
//! management room, restoring it at start, logging it out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tracing::{info, warn};
use wa_client::{
    AuthError, Client, ClientError, ClientOptions, ConnectOptions, DeviceState, LoginError,
    PairError, PairEvent, PairOptions, pair,
};

use super::appstate;
use super::backfill;
use super::incoming;
use super::qr;
use crate::bridge::{Bridge, txn_id};
use crate::store::{Login, now_ms};

/// A running login: the user's WhatsApp client and its event task.
#[derive(Debug)]
pub struct LoginHandle {
    /// The bridge's id of the login (keys its device store).
    pub login_id: String,
    /// The account's phone number.
    pub phone: String,
    /// The client.
    pub client: Client,
    events: tokio::task::JoinHandle<()>,
    backfill: tokio::task::JoinHandle<()>,
    settings: tokio::task::JoinHandle<()>,
}

impl LoginHandle {
    /// Stops the client and its event task (the device stays stored).
    pub fn stop(&self) {
        self.client.stop();
        self.events.abort();
        self.backfill.abort();
        self.settings.abort();
    }
}

fn connect_options(bridge: &Bridge) -> ConnectOptions {
    ConnectOptions {
        url: bridge.config.network.url.clone(),
        root_key: bridge.config.network.root_key.0,
        agent: bridge.config.agent(),
        ..ConnectOptions::default()
    }
}

/// Starts the client of a stored login and its event task.
async fn start_client(bridge: &Arc<Bridge>, login: &Login) -> Result<LoginHandle, ClientError> {
    let store = bridge.db.client_store(&login.login_id);
    let options = ClientOptions {
        connect: connect_options(bridge),
        // Acks go out once the Matrix event is sent and recorded.
        auto_ack: false,
        media_ca: bridge.config.network.media_ca_file.clone(),
        // WhatsApp unreachable at start (or at the link's first login) is
        // waited out with backoff, messages queued meanwhile (issue 18).
        retry_first_login: true,
        ..ClientOptions::default()
    };
    let (client, events) = Client::start(options, store).await?;
    let phone = login
        .phone
        .clone()
        .unwrap_or_else(|| client.jid().user().to_owned());
    let trigger = Arc::new(backfill::Trigger::default());
    let backfill = tokio::spawn(backfill::run(
        bridge.clone(),
        login.clone(),
        client.clone(),
        trigger.clone(),
    ));
    let settings = tokio::spawn(appstate::run_settings_sync(
        bridge.clone(),
        login.clone(),
        client.clone(),
    ));
    let task = tokio::spawn(incoming::run_events(
        bridge.clone(),
        login.clone(),
        client.clone(),
        events,
        trigger,
    ));
    Ok(LoginHandle {
        login_id: login.login_id.clone(),
        phone,
        client,
        events: task,
        backfill,
        settings,
    })
}

/// Takes `login`'s client out of the running ones and stops its tasks
/// (the one calling this, its event task, ends at its next await): its
/// client ended for good. A newer login of the same user stays.
pub(super) async fn retire(bridge: &Bridge, login: &Login) {
    let handle = {
        let mut logins = bridge.logins.lock().await;
        match logins.get(&login.mxid) {
            Some(h) if h.login_id == login.login_id => logins.remove(&login.mxid),
            _ => None,
        }
    };
    if let Some(handle) = handle {
        handle.stop();
    }
}

/// How many stored logins are restored at once at start: each one is a
/// Noise handshake and a few IQs, so a bridge with many users comes up in
/// a fraction of the time a one-by-one restore takes.
const RESTORE_PARALLEL: usize = 16;

/// Starts every stored login (at bridge start).
pub async fn restore_logins(bridge: &Arc<Bridge>) {
    let logins = match bridge.db.logins().await {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "could not list logins");
            return;
        }
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(RESTORE_PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for login in logins.into_iter().filter(|l| l.jid.is_some()) {
        let allowed = bridge
            .config
            .bridge
            .permission_for(&login.mxid)
            .is_some_and(|l| l >= crate::config::Level::User);
        if !allowed {
            // Taken out of `bridge.permissions`: their WhatsApp stays off
            // (the login is kept, should they be let in again).
            warn!(login = %login.login_id, "not restoring the login of a user without permission");
            continue;
        }
        let (bridge, gate) = (bridge.clone(), gate.clone());
        tasks.spawn(async move {
            // The semaphore is never closed.
            let Ok(_permit) = gate.acquire_owned().await else {
                return;
            };
            restore_one(&bridge, login).await;
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            warn!(error = %e, "a login restore task failed");
        }
    }
}

async fn restore_one(bridge: &Arc<Bridge>, login: Login) {
    match start_client(bridge, &login).await {
        Ok(handle) => {
            info!(login = %login.login_id, "login restored");
            bridge
                .logins
                .lock()
                .await
                .insert(login.mxid.clone(), handle);
        }
        Err(ClientError::Login(LoginError::Auth(AuthError::LoggedOut))) => {
            warn!(login = %login.login_id, "device was unlinked while the bridge was away");
            let _ = bridge.db.delete_login(&login.login_id).await;
            if let Some(room) = bridge.management_room(&login.mxid).await {
                bridge
                    .notice(
                        &room,
                        "Your WhatsApp device was unlinked while the bridge was away. \
                         Send `login` to link it again.",
                    )
                    .await;
            }
        }
        Err(ClientError::Login(LoginError::Auth(AuthError::ClientOutdated))) => {
            let text = outdated(bridge, KEPT);
            if let Some(room) = bridge.management_room(&login.mxid).await {
                bridge.notice(&room, &text).await;
            }
        }
        Err(e) => {
            warn!(login = %login.login_id, error = %e, "could not restore a login");
            if let Some(room) = bridge.management_room(&login.mxid).await {
                let text = format!(
                    "Your WhatsApp login could not be restored: {e}. Send `login` to link \
                     the bridge again (it replaces the old device)."
                );
                bridge.notice(&room, &text).await;
            }
        }
    }
}

/// The `login` command: a new companion device, its QR code in `room`.
pub async fn start_login(bridge: &Arc<Bridge>, room: &str, sender: &str) {
    // No map guard is held across an await (a notice may take long).
    let phone = bridge
        .logins
        .lock()
        .await
        .get(sender)
        .map(|h| h.phone.clone());
    if let Some(phone) = phone {
        bridge
            .notice(
                room,
                &format!("You are already logged in as +{phone}. Send `logout` first."),
            )
            .await;
        return;
    }
    let mut pairings = bridge.pairings.lock().await;
    if pairings.get(sender).is_some_and(|p| !p.is_finished()) {
        drop(pairings);
        bridge
            .notice(
                room,
                "A login is already in progress; send `cancel` to stop it.",
            )
            .await;
        return;
    }
    let task = {
        let (bridge, room, sender) = (bridge.clone(), room.to_owned(), sender.to_owned());
        tokio::spawn(async move {
            if let Err(e) = login_flow(&bridge, &room, &sender).await {
                warn!(error = %e, "login failed");
                bridge.notice(&room, &e).await;
            }
            bridge.pairings.lock().await.remove(&sender);
        })
    };
    pairings.insert(sender.to_owned(), task);
}

/// What the user is told when WhatsApp refuses the bridge's client
/// version (405), after the log has named the setting that fixes it;
/// `then` says what becomes of their login.
pub(super) fn outdated(bridge: &Bridge, then: &str) -> String {
    let version = bridge.config.web_version();
    warn!(
        %version,
        "whatsapp refused the client as outdated (405): set network.app_version to the \
         current whatsapp web version, or update wabridge"
    );
    format!(
        "WhatsApp refused this bridge as outdated (405): it presents WhatsApp Web {version}. \
         Ask the bridge's administrator to set `network.app_version` to the current version \
         (or to update the bridge) and restart it. {then}"
    )
}

/// What [`outdated`] says of a stored login.
pub(super) const KEPT: &str = "Your login is kept.";

/// True when the server's verdict was "client outdated".
fn is_outdated(e: &wa_client::Error) -> bool {
    matches!(e, wa_client::Error::Auth(AuthError::ClientOutdated))
}

fn pair_failure(bridge: &Bridge, e: &PairError) -> String {
    match e {
        PairError::Connection(c) if is_outdated(c) => outdated(bridge, "Then send `login` again."),
        PairError::RefsExhausted => {
            "Login timed out: the QR code was not scanned in time. Send `login` to try again."
                .to_owned()
        }
        other => format!("Login failed: {other}"),
    }
}

/// The QR image's text.
const QR_BODY: &str = "WhatsApp login QR code: scan it in WhatsApp on your phone";

/// Posts (or replaces) the QR image; returns the event id of the original.
async fn show_qr(
    bridge: &Bridge,
    room: &str,
    code: &str,
    shown: Option<&str>,
) -> Result<String, String> {
    let png = qr::qr_png(code).map_err(|e| format!("Login failed: {e}"))?;
    let side = qr::qr_side(code).unwrap_or(0);
    let size = png.len();
    let mxc = bridge
        .bot
        .upload_media(Bytes::from(png), "image/png", Some("qr.png"))
        .await
        .map_err(|e| format!("Login failed: could not upload the QR code: {e}"))?;
    // The body is what clients show, notify and index: never the pairing
    // secret the image holds.
    let image = json!({
        "msgtype": "m.image",
        "body": QR_BODY,
        "url": mxc,
        "info": {"mimetype": "image/png", "w": side, "h": side, "size": size},
    });
    let content: Value = match shown {
        None => image,
        Some(original) => json!({
            "msgtype": "m.image",
            "body": format!("* {QR_BODY}"),
            "url": mxc,
            "info": {"mimetype": "image/png", "w": side, "h": side, "size": size},
            "m.new_content": image,
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        }),
    };
    let event = bridge
        .bot
        .send_message_event(room, "m.room.message", &content, &txn_id(), None)
        .await
        .map_err(|e| format!("Login failed: could not post the QR code: {e}"))?;
    Ok(shown.map_or(event, str::to_owned))
}

async fn login_flow(bridge: &Arc<Bridge>, room: &str, sender: &str) -> Result<(), String> {
    let mut state = DeviceState::new(&mut rand::rng());
    let network = &bridge.config.network;
    let options = PairOptions {
        connect: connect_options(bridge),
        first_ref_ttl: Duration::from_secs(network.first_qr_seconds),
        later_ref_ttl: Duration::from_secs(network.later_qr_seconds),
        ..PairOptions::default()
    };
    let mut shown: Option<String> = None;
    let result = async {
        let mut pairing = pair(&options, &mut state)
            .await
            .map_err(|e| pair_failure(bridge, &e))?;
        bridge
            .notice(
                room,
                "Scan the QR code below with WhatsApp on your phone: Settings → Linked devices → \
                 Link a device.",
            )
            .await;
        loop {
            match pairing.next().await {
                Ok(PairEvent::Qr(code)) => {
                    // Someone else in the room could scan it: stop.
                    if !crate::bridge::commands::private(bridge, room, sender).await {
                        return Err(format!(
                            "Login cancelled: someone else is in this room now. {}",
                            crate::bridge::commands::NOT_PRIVATE
                        ));
                    }
                    shown = Some(show_qr(bridge, room, &code, shown.as_deref()).await?);
                }
                Ok(PairEvent::Paired { jid, .. }) => return Ok(jid),
                Err(e) => return Err(pair_failure(bridge, &e)),
            }
        }
    }
    .await;
    if let Some(qr_event) = &shown
        && let Err(e) = bridge
            .bot
            .redact(room, qr_event, Some("login finished"), &txn_id())
            .await
    {
        warn!(error = %e, "could not redact the QR code");
    }
    let jid = result?;

    // A login kept from before (its client ended for good: outdated,
    // refused, replaced) is replaced, not left as a second row.
    let stale = bridge
        .db
        .login_of_user(sender)
        .await
        .map_err(|e| format!("Login failed: could not read your earlier login: {e}"))?;
    let login_id = match stale {
        Some(old) => replace_stale(bridge, room, &old, jid.user()).await?,
        None => hex::encode(rand::random::<[u8; 8]>()),
    };
    let login = Login {
        login_id,
        mxid: sender.to_owned(),
        phone: Some(jid.user().to_owned()),
        jid: Some(jid.to_string()),
        created_at: now_ms(),
    };
    let stored: Result<(), String> = async {
        bridge
            .db
            .ensure_user(sender)
            .await
            .map_err(|e| e.to_string())?;
        bridge
            .db
            .save_login(&login)
            .await
            .map_err(|e| e.to_string())?;
        bridge
            .db
            .client_store(&login.login_id)
            .save(&state)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    stored.map_err(|e| format!("Login failed: could not store the device: {e}"))?;
    let handle = start_client(bridge, &login)
        .await
        .map_err(|e| format!("Linked, but logging in failed: {e}"))?;
    bridge.logins.lock().await.insert(sender.to_owned(), handle);
    info!(login = %login.login_id, "logged in");
    bridge
        .notice(room, &format!("Logged in as +{}", jid.user()))
        .await;
    Ok(())
}

/// Retires a stored login that is not running, before the user's new
/// device takes its place: its device is unlinked if it can still log in
/// (else the user is told to remove it on the phone) and its keys are
/// forgotten. Returns the id the new login takes: the old one when the
/// account is the same (its portals and messages stay), a new one when
/// it is another account, or the old device would not stop (the old login
/// is then deleted with its portals).
async fn replace_stale(
    bridge: &Arc<Bridge>,
    room: &str,
    old: &Login,
    phone: &str,
) -> Result<String, String> {
    info!(login = %old.login_id, "replacing a login that was not running");
    let options = ClientOptions {
        connect: connect_options(bridge),
        media_ca: bridge.config.network.media_ca_file.clone(),
        login_timeout: STALE_LOGIN_WAIT,
        ..ClientOptions::default()
    };
    let started = tokio::time::timeout(
        STALE_LOGIN_WAIT,
        Client::start(options, bridge.db.client_store(&old.login_id)),
    )
    .await;
    // Whether the old device's store may be taken over: not while its
    // client may still write to it.
    let mut reusable = true;
    match started {
        Ok(Ok((client, mut events))) => {
            let unlinked = async {
                // Online once the client says so (its first event).
                while let Some(event) = events.recv().await {
                    if matches!(event, wa_client::ClientEvent::Connected) {
                        break;
                    }
                }
                client.logout().await.map_err(|e| e.to_string())
            };
            match tokio::time::timeout(STALE_LOGIN_WAIT, unlinked).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tell_orphan(bridge, room, old, &e).await,
                Err(_) => tell_orphan(bridge, room, old, "timed out").await,
            }
            // Ended before its keys are touched: a late write of the old
            // client must not land in the store the new device takes.
            client.stop();
            if tokio::time::timeout(STALE_LOGIN_WAIT, client.stopped())
                .await
                .is_err()
            {
                warn!(login = %old.login_id, "the replaced device did not stop; not reusing its store");
                reusable = false;
            }
        }
        Ok(Err(e)) => tell_orphan(bridge, room, old, &e.to_string()).await,
        Err(_) => tell_orphan(bridge, room, old, "timed out").await,
    }
    let forgotten = if reusable && old.phone.as_deref() == Some(phone) {
        bridge
            .db
            .client_store(&old.login_id)
            .delete()
            .await
            .map(|()| old.login_id.clone())
            .map_err(|e| e.to_string())
    } else {
        bridge
            .db
            .delete_login(&old.login_id)
            .await
            .map(|_| hex::encode(rand::random::<[u8; 8]>()))
            .map_err(|e| e.to_string())
    };
    forgotten.map_err(|e| format!("Login failed: could not replace your earlier login: {e}"))
}

/// How long the old device of a replaced login gets to log in and unlink.
const STALE_LOGIN_WAIT: Duration = Duration::from_secs(10);

async fn tell_orphan(bridge: &Bridge, room: &str, old: &Login, why: &str) {
    warn!(login = %old.login_id, error = %why, "could not unlink the replaced device");
    let phone = old.phone.as_deref().unwrap_or("?");
    bridge
        .notice(
            room,
            &format!(
                "The bridge's earlier device on +{phone} could not be unlinked ({why}). \
                 Remove it on your phone: Settings → Linked devices."
            ),
        )
        .await;
}

/// The `logout` command.
pub async fn logout(bridge: &Arc<Bridge>, room: &str, sender: &str) {
    let handle = bridge.logins.lock().await.remove(sender);
    let Some(handle) = handle else {
        bridge.notice(room, "You are not logged in.").await;
        return;
    };
    if let Err(e) = handle.client.logout().await {
        warn!(error = %e, "logout request failed; forgetting the device anyway");
    }
    handle.stop();
    if let Err(e) = bridge.db.delete_login(&handle.login_id).await {
        warn!(error = %e, "could not delete the login");
    }
    bridge
        .notice(
            room,
            "Logged out: this bridge is no longer linked to your WhatsApp.",
        )
        .await;
}

/// The `ping` command's answer.
pub async fn status(bridge: &Arc<Bridge>, sender: &str) -> String {
    if bridge
        .pairings
        .lock()
        .await
        .get(sender)
        .is_some_and(|p| !p.is_finished())
    {
        return "A login is in progress (QR code shown).".to_owned();
    }
    match bridge.logins.lock().await.get(sender) {
        Some(h) if h.client.is_online() => {
            format!("Logged in as +{}; connected to WhatsApp.", h.phone)
        }
        Some(h) => format!(
            "Logged in as +{}; not connected right now (reconnecting).",
            h.phone
        ),
        None => "You are not logged in. Send `login` to link your WhatsApp account.".to_owned(),
    }
}

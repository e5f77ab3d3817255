//! Each user's companion device: linking it by a QR code posted in the
//! management room, restoring it at start, logging it out.

use ruma::{RoomId, UserId};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use wa_client::{
    AuthError, Client, ClientError, ClientOptions, ConnectOptions, DeviceState, LoginError,
    PairError, PairEvent, PairOptions, pair,
};

use super::appstate;
use super::backfill;
use super::incoming;
use crate::bridge::ResolveError;
use crate::bridge::login::{LoginFailed, LoginStep, Steps};
use crate::connector::Bridge;
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
        url: bridge.config().network.url.clone(),
        root_key: bridge.config().network.root_key.0,
        agent: bridge.config().agent(),
        ..ConnectOptions::default()
    }
}

/// Starts the client of a stored login and its event task.
async fn start_client(bridge: &Arc<Bridge>, login: &Login) -> Result<LoginHandle, ClientError> {
    let (store, lids) = bridge.db().watched_client_store(&login.login_id);
    let options = ClientOptions {
        connect: connect_options(bridge),
        // Acks go out once the Matrix event is sent and recorded.
        auto_ack: false,
        media_ca: bridge.config().network.media_ca_file.clone(),
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
        (events, lids),
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
        let mut logins = bridge.network().logins.lock().await;
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
    let logins = match bridge.db().logins().await {
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
            .config()
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
                .network()
                .logins
                .lock()
                .await
                .insert(login.mxid.clone(), handle);
        }
        Err(ClientError::Login(LoginError::Auth(AuthError::LoggedOut))) => {
            warn!(login = %login.login_id, "device was unlinked while the bridge was away");
            let _ = bridge.db().delete_login(&login.login_id).await;
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

/// Whom `user` is logged in as: their phone number.
pub async fn logged_in_as(bridge: &Bridge, user: &UserId) -> Option<String> {
    let logins = bridge.network().logins.lock().await;
    logins.get(user).map(|h| format!("+{}", h.phone))
}

/// The login and running client of `user`, for a command that acts on
/// their account.
pub(super) async fn account_of(
    bridge: &Bridge,
    user: &UserId,
) -> Result<(Login, Client), ResolveError> {
    let (login_id, client) = {
        let logins = bridge.network().logins.lock().await;
        let handle = logins.get(user).ok_or(ResolveError::NotLoggedIn)?;
        (handle.login_id.clone(), handle.client.clone())
    };
    let login = bridge.db().login(&login_id).await;
    let login = login.map_err(ResolveError::failed)?;
    Ok((login.ok_or(ResolveError::NotLoggedIn)?, client))
}

/// What the user is told when WhatsApp refuses the bridge's client
/// version (405), after the log has named the setting that fixes it;
/// `then` says what becomes of their login.
pub(super) fn outdated(bridge: &Bridge, then: &str) -> String {
    let version = bridge.config().web_version();
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

/// The `login` command: pairs a new companion device, its QR codes
/// reported to `steps`, then stores and starts it; returns the account's
/// number.
pub async fn login(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    sender: &UserId,
    steps: Steps,
) -> Result<String, LoginFailed> {
    let mut state = DeviceState::new(&mut rand::rng());
    let network = &bridge.config().network;
    let options = PairOptions {
        connect: connect_options(bridge),
        first_ref_ttl: Duration::from_secs(network.first_qr_seconds),
        later_ref_ttl: Duration::from_secs(network.later_qr_seconds),
        ..PairOptions::default()
    };
    let result = async {
        let mut pairing = pair(&options, &mut state)
            .await
            .map_err(|e| pair_failure(bridge, &e))?;
        loop {
            match pairing.next().await {
                Ok(PairEvent::Qr(code)) => {
                    let step = LoginStep::ScanQr {
                        code,
                        instructions: INSTRUCTIONS.to_owned(),
                    };
                    if !steps.report(step).await {
                        return Err("Login cancelled.".to_owned());
                    }
                }
                Ok(PairEvent::Paired { jid, .. }) => return Ok(jid),
                Err(e) => return Err(pair_failure(bridge, &e)),
            }
        }
    }
    .await;
    let jid = result.map_err(LoginFailed)?;
    steps.report(LoginStep::Linked).await;
    finish_login(bridge, room, sender, &jid, &state).await
}

/// Where the QR code is scanned.
const INSTRUCTIONS: &str = "Scan the QR code below with WhatsApp on your phone: Settings → \
     Linked devices → Link a device.";

/// Stores a newly linked device of `sender` as account `jid` and starts its
/// client.
async fn finish_login(
    bridge: &Arc<Bridge>,
    room: &RoomId,
    sender: &UserId,
    jid: &wa_core::jid::Jid,
    state: &DeviceState,
) -> Result<String, LoginFailed> {
    // A login kept from before (its client ended for good: outdated,
    // refused, replaced) is replaced, not left as a second row.
    let stale = bridge
        .db()
        .login_of_user(sender)
        .await
        .map_err(|e| LoginFailed::because("could not read your earlier login", &e))?;
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
    store_device(bridge, &login, state)
        .await
        .map_err(|e| LoginFailed::because("could not store the device", &*e))?;
    let handle = start_client(bridge, &login)
        .await
        .map_err(|e| LoginFailed(format!("Linked, but logging in failed: {e}")))?;
    bridge
        .network()
        .logins
        .lock()
        .await
        .insert(sender.to_owned(), handle);
    info!(login = %login.login_id, "logged in");
    Ok(format!("+{}", jid.user()))
}

/// Records a new login and its device's keys.
async fn store_device(
    bridge: &Bridge,
    login: &Login,
    state: &DeviceState,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let db = bridge.db();
    db.ensure_user(&login.mxid).await?;
    db.save_login(login).await?;
    db.client_store(&login.login_id).save(state).await?;
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
    room: &RoomId,
    old: &Login,
    phone: &str,
) -> Result<String, LoginFailed> {
    info!(login = %old.login_id, "replacing a login that was not running");
    let options = ClientOptions {
        connect: connect_options(bridge),
        media_ca: bridge.config().network.media_ca_file.clone(),
        login_timeout: STALE_LOGIN_WAIT,
        ..ClientOptions::default()
    };
    let started = tokio::time::timeout(
        STALE_LOGIN_WAIT,
        Client::start(options, bridge.db().client_store(&old.login_id)),
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
    if reusable && old.phone.as_deref() == Some(phone) {
        bridge
            .db()
            .client_store(&old.login_id)
            .delete()
            .await
            .map(|()| old.login_id.clone())
            .map_err(|e| LoginFailed::because(REPLACING, &e))
    } else {
        bridge
            .db()
            .delete_login(&old.login_id)
            .await
            .map(|_| hex::encode(rand::random::<[u8; 8]>()))
            .map_err(|e| LoginFailed::because(REPLACING, &e))
    }
}

/// What failed when an earlier login could not be replaced.
const REPLACING: &str = "could not replace your earlier login";

/// How long the old device of a replaced login gets to log in and unlink.
const STALE_LOGIN_WAIT: Duration = Duration::from_secs(10);

async fn tell_orphan(bridge: &Bridge, room: &RoomId, old: &Login, why: &str) {
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
pub async fn logout(bridge: &Arc<Bridge>, room: &RoomId, sender: &UserId) {
    let handle = bridge.network().logins.lock().await.remove(sender);
    let Some(handle) = handle else {
        bridge.notice(room, "You are not logged in.").await;
        return;
    };
    if let Err(e) = handle.client.logout().await {
        warn!(error = %e, "logout request failed; forgetting the device anyway");
    }
    handle.stop();
    if let Err(e) = bridge.db().delete_login(&handle.login_id).await {
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
pub async fn status(bridge: &Arc<Bridge>, sender: &UserId) -> String {
    match bridge.network().logins.lock().await.get(sender) {
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

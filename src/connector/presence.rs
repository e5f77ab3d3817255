//! Presence both ways (`bridge.network().presence`).
//!
//! WhatsApp -> Matrix: the bridge subscribes to the presence of each DM
//! contact when a login connects and when a DM portal is made; a contact
//! going online or offline sets their ghost's Matrix presence.
//!
//! Matrix -> WhatsApp: the user shows online on WhatsApp while active in
//! Matrix (a message, typing, a read receipt), and offline again after
//! `idle_seconds` without activity. Offline is also what each connection
//! starts with: while a linked device is online the phone gets no
//! notifications, and while it is offline WhatsApp sends it no one's
//! presence.

use ruma::{OwnedUserId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;
use wa_client::Client;
use wa_core::jid::Jid;

use crate::connector::{Bridge, lock};
use crate::store::{Login, Portal, PortalKind};

/// Who shows online on WhatsApp, and until when.
#[derive(Debug, Default)]
pub struct State {
    /// Matrix user -> the end of their current activity.
    online_until: Arc<Mutex<HashMap<OwnedUserId, Instant>>>,
}

/// A connection is up: tell WhatsApp whether the user is active, and
/// follow the presence of every DM contact.
pub(super) async fn on_connected(bridge: &Bridge, login: &Login, client: &Client) {
    if !bridge.config().bridge.presence.enabled {
        return;
    }
    let active = lock(&bridge.network().presence.online_until).contains_key(&login.mxid);
    if let Err(e) = client.send_presence(active).await {
        debug!(error = %e, "own presence not sent");
    }
    let portals = match bridge.db().portals_of_login(&login.login_id).await {
        Ok(p) => p,
        Err(e) => {
            debug!(error = %e, "portals not read; no presence subscriptions");
            return;
        }
    };
    for portal in portals {
        subscribe(bridge, client, &portal).await;
    }
}

/// Follows the presence of a DM portal's contact.
pub(super) async fn subscribe(bridge: &Bridge, client: &Client, portal: &Portal) {
    if !bridge.config().bridge.presence.enabled || portal.kind != PortalKind::Dm {
        return;
    }
    let Ok(contact) = portal.chat_id.parse::<Jid>() else {
        return;
    };
    if let Err(e) = client.subscribe_presence(&contact).await {
        debug!(error = %e, "presence subscription not sent");
    }
}

/// `mxid` did something in Matrix: they show online on WhatsApp until
/// `idle_seconds` pass without more.
pub async fn active(bridge: &Bridge, mxid: &UserId) {
    let settings = &bridge.config().bridge.presence;
    if !settings.enabled || bridge.is_ours(mxid) {
        return;
    }
    let Some(client) = bridge
        .network()
        .logins
        .lock()
        .await
        .get(mxid)
        .map(|h| h.client.clone())
    else {
        return;
    };
    let idle = Duration::from_secs(settings.idle_seconds);
    let until = Instant::now() + idle;
    let was_online = lock(&bridge.network().presence.online_until)
        .insert(mxid.to_owned(), until)
        .is_some();
    if was_online {
        return;
    }
    // Off the transaction worker: a slow WhatsApp socket holds up no event.
    let online = client.clone();
    tokio::spawn(async move {
        if let Err(e) = online.send_presence(true).await {
            debug!(error = %e, "own presence not sent");
        }
    });
    let online_until = bridge.network().presence.online_until.clone();
    let mxid = mxid.to_owned();
    tokio::spawn(async move {
        loop {
            // Checked and ended under one lock, so activity meanwhile is
            // never lost.
            let wait = {
                let mut all = lock(&online_until);
                match all.get(&mxid).copied() {
                    None => return,
                    Some(until) if Instant::now() < until => Some(until),
                    Some(_) => {
                        all.remove(&mxid);
                        None
                    }
                }
            };
            match wait {
                Some(until) => tokio::time::sleep_until(until).await,
                None => break,
            }
        }
        if let Err(e) = client.send_presence(false).await {
            debug!(error = %e, "own presence not sent");
        }
    });
}

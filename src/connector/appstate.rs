//! WhatsApp app state <-> the user's Matrix room settings.
//!
//! From WhatsApp: a contact's saved name becomes its ghost's display name;
//! archive, pin, mute and read of a chat become the user's `m.lowpriority`
//! and `m.favourite` tags, a room push rule and the read marker (or
//! `m.marked_unread`), set through double puppeting; a starred message
//! gets a ⭐ reaction. What app state says is stored first, so a chat that
//! has no room yet gets its settings when the room is made.
//!
//! To WhatsApp: with double puppeting a filtered `/sync` as the user
//! watches those settings ([`settings::Known`] tells the user's changes
//! from the bridge's), and each change is sent as an app-state patch.
//!
//! Without double puppeting only names and stars reach Matrix: tags, push
//! rules and read markers are the user's own account data.

use ruma::{RoomId, UserId};
use std::sync::Arc;
use std::time::Duration;

use ruma::events::marked_unread::MarkedUnreadEventContent;
use ruma::events::reaction::ReactionEventContent;
use ruma::events::relation::Annotation;
use ruma::events::room::name::RoomNameEventContent;
use tracing::{debug, info, warn};
use wa_client::{AppStateChange, Client};
use wa_core::appstate::Action;
use wa_core::jid::Jid;

use super::incoming::{self, IncomingError};
use super::settings::{self, Change, Known, MARKED_UNREAD};
use crate::appservice::Intent;
use crate::connector::{Bridge, lock};
use crate::store::{ChatSettings, Login, Portal, now_ms};

/// The reaction key that shows a starred message.
pub const STAR: &str = "⭐";

/// Applies app-state changes from WhatsApp, in order. A change that fails
/// is logged; the others still apply.
pub(super) async fn apply_changes(
    bridge: &Arc<Bridge>,
    login: &Login,
    client: &Client,
    changes: &[AppStateChange],
) {
    let mut applied = 0usize;
    for change in changes {
        match apply(bridge, login, client, &change.action).await {
            Ok(()) => applied += 1,
            Err(e) => warn!(
                collection = ?change.collection,
                error = %e,
                "an app-state change was not applied in Matrix"
            ),
        }
    }
    debug!(applied, total = changes.len(), "app-state changes applied");
}

async fn apply(
    bridge: &Arc<Bridge>,
    login: &Login,
    client: &Client,
    action: &Action,
) -> Result<(), IncomingError> {
    match action {
        Action::Contact {
            jid,
            full_name,
            first_name,
        } => {
            let name = full_name
                .as_deref()
                .or(first_name.as_deref())
                .map(str::trim)
                .filter(|n| !n.is_empty());
            match name {
                Some(name) => contact_name(bridge, login, jid, name).await,
                None => Ok(()),
            }
        }
        Action::Archive { chat, archived } => {
            let update = ChatSettings {
                archived: Some(*archived),
                ..ChatSettings::default()
            };
            chat_update(bridge, login, chat, update).await
        }
        Action::Pin { chat, pinned } => {
            let update = ChatSettings {
                pinned: Some(*pinned),
                ..ChatSettings::default()
            };
            chat_update(bridge, login, chat, update).await
        }
        Action::Mute {
            chat,
            muted,
            until_ms,
        } => {
            let mute_until = match (muted, until_ms) {
                (false, _) => 0,
                (true, Some(t)) if *t > 0 => *t,
                (true, _) => -1,
            };
            let update = ChatSettings {
                mute_until: Some(mute_until),
                ..ChatSettings::default()
            };
            chat_update(bridge, login, chat, update).await
        }
        Action::MarkRead { chat, read } => {
            let update = ChatSettings {
                read: Some(*read),
                ..ChatSettings::default()
            };
            chat_update(bridge, login, chat, update).await
        }
        Action::Star {
            chat,
            message_id,
            from_me,
            participant,
            starred,
        } => {
            let sender = if *from_me {
                client.jid().to_non_ad()
            } else {
                participant.clone().unwrap_or_else(|| chat.to_non_ad())
            };
            star(bridge, login, chat, &sender, message_id, *starred).await
        }
        // The client keeps these: the name for its presence, the salt for
        // cstokens.
        Action::PushName { .. } | Action::NctSalt { .. } => Ok(()),
        Action::Other { index } => {
            debug!(
                kind = index.first().map(String::as_str),
                "app-state action not mirrored"
            );
            Ok(())
        }
    }
}

/// A contact's saved name in the user's address book: the user's own, so
/// kept for their login and shown in their rooms only (the DM portal's
/// name, and the ghost's member name in their rooms where it is), never as
/// the ghost's name for everyone (issue 18).
async fn contact_name(
    bridge: &Bridge,
    login: &Login,
    jid: &Jid,
    name: &str,
) -> Result<(), IncomingError> {
    let (network_id, localpart) = incoming::ghost_ids(bridge, jid);
    if bridge
        .db()
        .contact_name(&login.login_id, &network_id)
        .await?
        .as_deref()
        == Some(name)
    {
        return Ok(());
    }
    bridge
        .db()
        .set_contact_name(&login.login_id, &network_id, Some(name))
        .await?;
    let ghost = bridge.matrix().ghost_intent(&localpart)?;
    incoming::contact_nick_everywhere(bridge, login, (jid, &ghost), false).await;
    // A one-to-one portal carries the contact's name too.
    let chat = jid.to_non_ad().to_string();
    if let Some(mut portal) = bridge.db().portal(&login.login_id, &chat).await?
        && portal.name != name
    {
        incoming::contact_nick(bridge, login, &portal.room_id, (jid, &ghost)).await;
        bridge
            .bot()
            .send_state(
                &portal.room_id,
                &RoomNameEventContent::new(name.to_owned()),
                "",
                None,
            )
            .await?;
        portal.name = name.to_owned();
        bridge.db().save_portal(&portal).await?;
    }
    Ok(())
}

/// Archive, pin, mute or read of a chat: stored, then shown in its room
/// if it has one.
async fn chat_update(
    bridge: &Arc<Bridge>,
    login: &Login,
    chat: &Jid,
    update: ChatSettings,
) -> Result<(), IncomingError> {
    let chat_id = chat.to_non_ad().to_string();
    let before = bridge
        .db()
        .chat_settings(&login.login_id, &chat_id)
        .await?
        .unwrap_or_default();
    bridge
        .db()
        .update_chat_settings(&login.login_id, &chat_id, update)
        .await?;
    let Some(portal) = bridge.db().portal(&login.login_id, &chat_id).await? else {
        return Ok(()); // applied when the room is made
    };
    show(bridge, login, &portal, before, before.merged(update)).await;
    Ok(())
}

/// A new portal gets what WhatsApp said about its chat: app state, or
/// else what the history bundle said.
pub(super) async fn on_new_portal(bridge: &Arc<Bridge>, login: &Login, portal: &Portal) {
    let from_history = match bridge
        .db()
        .history_chat(&login.login_id, &portal.chat_id)
        .await
    {
        Ok(Some(c)) => ChatSettings {
            archived: Some(c.archived),
            pinned: Some(c.pinned),
            mute_until: c.mute_until,
            read: None,
        },
        Ok(None) => ChatSettings::default(),
        Err(e) => {
            warn!(error = %e, "could not read a chat's history settings");
            ChatSettings::default()
        }
    };
    let from_app_state = match bridge
        .db()
        .chat_settings(&login.login_id, &portal.chat_id)
        .await
    {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            warn!(error = %e, "could not read a chat's settings");
            ChatSettings::default()
        }
    };
    let after = from_history.merged(from_app_state);
    show(bridge, login, portal, ChatSettings::default(), after).await;
}

/// Shows in Matrix what changed from `before` to `after` (unknown counts
/// as off), as the user through double puppeting.
async fn show(
    bridge: &Arc<Bridge>,
    login: &Login,
    portal: &Portal,
    before: ChatSettings,
    after: ChatSettings,
) {
    let Some(puppet) = bridge.puppet(&login.mxid) else {
        return;
    };
    let room: &RoomId = &portal.room_id;
    let now = now_ms();
    let flag = |v: Option<bool>| v.unwrap_or(false);
    let tags = [
        (flag(before.archived), flag(after.archived), "m.lowpriority"),
        (flag(before.pinned), flag(after.pinned), "m.favourite"),
    ];
    for (was, is, tag) in tags {
        if was == is {
            continue;
        }
        note(bridge, &login.mxid, room, |s| match tag {
            "m.favourite" => s.favourite = is,
            _ => s.low_priority = is,
        });
        let done = if is {
            puppet.set_room_tag(room, tag).await
        } else {
            puppet.remove_room_tag(room, tag).await
        };
        if let Err(e) = done {
            warn!(error = %e, tag, "could not change a room tag");
        }
    }
    let (was_muted, muted) = (
        before.muted_at(now).unwrap_or(false),
        after.muted_at(now).unwrap_or(false),
    );
    if was_muted != muted {
        note(bridge, &login.mxid, room, |s| s.muted = muted);
        let done = if muted {
            puppet.mute_room(room).await
        } else {
            puppet.unmute_room(room).await
        };
        if let Err(e) = done {
            warn!(error = %e, "could not change a room's mute");
        }
    }
    if muted && let Some(until) = after.mute_until.filter(|t| *t > now) {
        unmute_later(bridge.clone(), login.clone(), portal.clone(), until);
    }
    let (was_unread, unread) = (before.read == Some(false), after.read == Some(false));
    if was_unread != unread {
        note(bridge, &login.mxid, room, |s| s.marked_unread = unread);
        if let Err(e) = puppet
            .set_room_account_data(room, MARKED_UNREAD, &marked_unread(unread))
            .await
        {
            warn!(error = %e, "could not change a room's unread mark");
        }
    }
    if after.read == Some(true) && before.read != Some(true) {
        mark_read(bridge, login, portal, &puppet).await;
    }
}

/// A backfilled chat the phone has as read: the user's read marker at its
/// newest message (with double puppeting).
pub(super) async fn history_read(bridge: &Bridge, login: &Login, portal: &Portal) {
    let read = bridge
        .db()
        .chat_settings(&login.login_id, &portal.chat_id)
        .await
        .ok()
        .flatten()
        .and_then(|s| s.read);
    if read == Some(false) {
        return; // marked unread
    }
    if let Some(puppet) = bridge.puppet(&login.mxid) {
        mark_read(bridge, login, portal, &puppet).await;
    }
}

/// Moves the user's read marker to the newest bridged message.
async fn mark_read(bridge: &Bridge, login: &Login, portal: &Portal, puppet: &Intent) {
    let newest = match bridge
        .db()
        .newest_message(&login.login_id, &portal.chat_id)
        .await
    {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, "could not find the newest message to mark read");
            return;
        }
    };
    note(bridge, &login.mxid, &portal.room_id, |s| {
        s.read_up_to = Some(newest.event_id.clone());
    });
    if let Err(e) = puppet.mark_read(&portal.room_id, &newest.event_id).await {
        warn!(error = %e, "could not move the read marker");
    }
}

/// A mute with an end: Matrix push rules have none, so the bridge lifts
/// it when the time comes, unless WhatsApp has changed it since. (A bridge
/// restarted in between lifts it at the next mute change.)
fn unmute_later(bridge: Arc<Bridge>, login: Login, portal: Portal, until: i64) {
    let wait = u64::try_from(until - now_ms()).unwrap_or(0);
    // Far-off ends (WhatsApp offers up to a week, "always" is -1).
    if wait > Duration::from_secs(31 * 24 * 3600).as_millis() as u64 {
        return;
    }
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let still = bridge
            .db()
            .chat_settings(&login.login_id, &portal.chat_id)
            .await
            .ok()
            .flatten()
            .is_some_and(|s| s.mute_until == Some(until));
        if !still {
            return;
        }
        let before = ChatSettings {
            mute_until: Some(-1),
            ..ChatSettings::default()
        };
        let after = ChatSettings {
            mute_until: Some(0),
            ..ChatSettings::default()
        };
        if let Err(e) = bridge
            .db()
            .update_chat_settings(&login.login_id, &portal.chat_id, after)
            .await
        {
            warn!(error = %e, "could not record a mute's end");
        }
        show(&bridge, &login, &portal, before, after).await;
    });
}

/// A starred message gets a ⭐ reaction (from the user through double
/// puppeting, else from the bot); unstarring takes it away.
async fn star(
    bridge: &Bridge,
    login: &Login,
    chat: &Jid,
    sender: &Jid,
    message_id: &str,
    starred: bool,
) -> Result<(), IncomingError> {
    let chat_id = chat.to_non_ad().to_string();
    let shown = bridge
        .db()
        .star(&login.login_id, &chat_id, message_id)
        .await?;
    let puppet = bridge.puppet(&login.mxid);
    let intent = puppet.clone().unwrap_or_else(|| bridge.bot().clone());
    if !starred {
        let Some(event) = shown else {
            return Ok(());
        };
        let room = match bridge.db().portal(&login.login_id, &chat_id).await? {
            Some(p) => p.room_id,
            None => return Ok(()),
        };
        let txn = format!("unstar{}", crate::bridge::txn_id());
        if let Err(e) = intent.redact(&room, &event, Some("unstarred"), &txn).await {
            debug!(error = %e, "star reaction not taken away");
        }
        bridge
            .db()
            .delete_star(&login.login_id, &chat_id, message_id)
            .await?;
        return Ok(());
    }
    if shown.is_some() {
        return Ok(());
    }
    let Some(message) = bridge
        .db()
        .message_by_network_id(
            &login.login_id,
            &chat_id,
            &sender.to_non_ad().to_string(),
            message_id,
        )
        .await?
    else {
        debug!("starred message not bridged; no star shown");
        return Ok(());
    };
    let target = message.event_id;
    let star = ReactionEventContent::new(Annotation::new(target, STAR.to_owned()));
    let (_, content) = crate::bridge::content_to_send(&star, puppet.is_some())?;
    let txn = format!(
        "star{}{}",
        login.login_id,
        message_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    );
    let event = intent
        .send_message_event(&message.room_id, "m.reaction", &content, &txn, None)
        .await?;
    bridge
        .db()
        .save_star(&login.login_id, &chat_id, message_id, &event)
        .await?;
    Ok(())
}

/// Records a setting the bridge is about to make, so the settings sync
/// does not take it for the user's.
fn note(
    bridge: &Bridge,
    mxid: &UserId,
    room: &RoomId,
    f: impl FnOnce(&mut settings::RoomSettings),
) {
    let mut all = lock(&bridge.network().room_settings);
    all.entry(mxid.to_owned()).or_default().set(room, f);
}

/// How long one `/sync` long-polls.
const SYNC_TIMEOUT_MS: u64 = 30_000;

/// The user's room settings to WhatsApp, for as long as the login runs
/// (only with double puppeting).
pub(super) async fn run_settings_sync(bridge: Arc<Bridge>, login: Login, client: Client) {
    let Some(puppet) = bridge.puppet(&login.mxid) else {
        return;
    };
    let filter = settings::sync_filter();
    let mut since: Option<String> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        let timeout = if since.is_some() { SYNC_TIMEOUT_MS } else { 0 };
        let sync = match puppet.sync(since.as_deref(), &filter, timeout).await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "settings sync failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        let baseline = since.is_none();
        since = sync["next_batch"].as_str().map(str::to_owned);
        let changes = {
            let mut all = lock(&bridge.network().room_settings);
            let known: &mut Known = all.entry(login.mxid.clone()).or_default();
            known.apply(&sync, baseline)
        };
        for (room, change) in changes {
            // A change made while WhatsApp is unreachable waits for it.
            if !client.online().await {
                return;
            }
            if let Err(e) = to_whatsapp(&bridge, &login, &client, &room, &change).await {
                warn!(error = %e, ?change, "a room setting was not sent to WhatsApp");
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SettingError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("whatsapp: {0}")]
    AppState(#[from] wa_client::AppStateSyncError),
}

/// One change the user made in Matrix, as an app-state patch.
async fn to_whatsapp(
    bridge: &Bridge,
    login: &Login,
    client: &Client,
    room: &RoomId,
    change: &Change,
) -> Result<(), SettingError> {
    let Some(portal) = bridge.db().portal_by_room(room).await? else {
        return Ok(()); // not a portal (the management room, say)
    };
    if portal.login_id != login.login_id {
        return Ok(());
    }
    let Ok(chat) = portal.chat_id.parse::<Jid>() else {
        return Ok(());
    };
    let mut update = ChatSettings::default();
    match change {
        Change::Pin(on) => {
            client.pin_chat(&chat, *on).await?;
            update.pinned = Some(*on);
        }
        Change::Archive(on) => {
            client.archive_chat(&chat, *on).await?;
            update.archived = Some(*on);
        }
        Change::Mute(on) => {
            client.mute_chat(&chat, *on, None).await?;
            update.mute_until = Some(if *on { -1 } else { 0 });
        }
        Change::MarkedUnread(unread) => {
            client.mark_chat_read(&chat, !unread).await?;
            update.read = Some(!unread);
        }
        Change::Read(_) => {
            // New messages may have come since the last read: each time
            // the user reads, the chat is read on every device.
            client.mark_chat_read(&chat, true).await?;
            update.read = Some(true);
        }
    }
    info!(?change, "room setting sent to WhatsApp");
    bridge
        .db()
        .update_chat_settings(&login.login_id, &portal.chat_id, update)
        .await?;
    Ok(())
}

/// The `m.marked_unread` room account data for `unread`.
fn marked_unread(unread: bool) -> serde_json::Value {
    super::to_matrix::json_of(&MarkedUnreadEventContent::new(unread))
}

//! Trusted-contact privacy tokens (`tctoken`): a contact's token comes in a
//! `privacy_token` notification and goes with our 1:1 messages to them (a
//! restricted account's message without one is refused with 463); ours is
//! issued to a contact once a week after we message them. Flow and buckets
//! as whatsmeow (`tctoken.go`, `notification.go`, `send.go`) and Baileys
//! rc14 (`Utils/tc-token-utils.js`, `Socket/messages-send.js`) do it; see
//! docs/PROTOCOL-NOTES.md "Privacy tokens and send refusals".

use std::sync::Arc;

use tracing::{debug, warn};
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::HistorySync;

use super::recv::unix_now;
use super::{Shared, lock};
use crate::socket::Connection;
use crate::store::StoreError;

/// A token bucket: a week (AB prop `tctoken_duration`).
const BUCKET_SECONDS: u64 = 604_800;
/// Buckets a received token stays good for (`tctoken_num_buckets`).
const BUCKETS: u64 = 4;

/// A token issued at `t` is no longer sent at `now`.
pub(crate) fn expired(t: u64, now: u64) -> bool {
    let cutoff = (now / BUCKET_SECONDS).saturating_sub(BUCKETS - 1) * BUCKET_SECONDS;
    t == 0 || t < cutoff
}

/// Our own token, last issued at `issued`, is due again at `now`: never
/// issued, or issued in an earlier bucket.
pub(crate) fn due(issued: Option<u64>, now: u64) -> bool {
    issued.is_none_or(|t| now / BUCKET_SECONDS > t / BUCKET_SECONDS)
}

/// The user key tokens are kept under: the LID user when known, else the
/// phone-number user, without device.
async fn key_of(shared: &Shared, user: &Jid) -> Result<String, StoreError> {
    let bare = user.to_non_ad();
    if bare.server() == &Server::Lid {
        return Ok(bare.to_string());
    }
    Ok(
        match crate::device_lists::lid_of(&*shared.store, &bare).await? {
            Some(lid) => lid.to_non_ad().to_string(),
            None => bare.to_string(),
        },
    )
}

/// `<notification type="privacy_token" from [sender_lid]><tokens><token
/// type="trusted_contact" t>BYTES</token>...`: keeps each trusted-contact
/// token, a newer one replacing an older.
pub(super) async fn received(shared: &Shared, node: &Node) -> Result<(), StoreError> {
    let from = node
        .attr_jid("sender_lid")
        .or_else(|| node.attr_jid("from"))
        .cloned();
    let Some(from) = from else {
        return Ok(());
    };
    let key = key_of(shared, &from).await?;
    let tokens = node.child("tokens").map(|t| t.children_by_tag("token"));
    for token in tokens.into_iter().flatten() {
        let t = token.attr_str("t").and_then(|t| t.parse::<u64>().ok());
        let (Some("trusted_contact"), Some(t), Some(bytes)) =
            (token.attr_str("type"), t, token.content_bytes())
        else {
            continue;
        };
        let kept = shared.store.store_privacy_token(&key, bytes, t).await?;
        debug!(contact = %key, kept, "privacy token received");
    }
    Ok(())
}

/// Keeps the privacy tokens a history chunk carries (whatsmeow
/// `handleHistorySync`): per 1:1 conversation, the contact's token for us
/// (`tcToken`, `tcTokenTimestamp`) and when we last gave ours
/// (`tcTokenSenderTimestamp`), under the contact's LID when known. A newer
/// token or issue time already kept wins.
pub(super) async fn from_history(shared: &Shared, history: &HistorySync) -> Result<(), StoreError> {
    for conv in &history.conversations {
        let Some(chat) = conv.id.as_deref().and_then(|id| id.parse::<Jid>().ok()) else {
            continue;
        };
        if !matches!(chat.server(), Server::User | Server::Lid) {
            continue;
        }
        let key = key_of(shared, &chat).await?;
        if let (Some(token), Some(t)) = (&conv.tc_token, conv.tc_token_timestamp)
            && !token.is_empty()
        {
            shared.store.store_privacy_token(&key, token, t).await?;
        }
        if let Some(at) = conv.tc_token_sender_timestamp.filter(|t| *t > 0)
            && shared
                .store
                .token_issued_at(&key)
                .await?
                .is_none_or(|known| known < at)
        {
            shared.store.set_token_issued_at(&key, at).await?;
        }
    }
    Ok(())
}

/// Keeps the cstoken salt from app state `changes` (the last one wins; a
/// removal clears it). A store failure is logged: the changes are applied.
pub(super) async fn learn_salt(shared: &Shared, changes: &[super::AppStateChange]) {
    let Some(salt) = changes.iter().rev().find_map(|c| match &c.action {
        wa_core::appstate::Action::NctSalt { salt } => Some(salt.clone()),
        _ => None,
    }) else {
        return;
    };
    let mut state = shared.state.lock().await;
    if state.nct_salt == salt {
        return;
    }
    state.nct_salt = salt;
    match shared.store.save(&state).await {
        Ok(()) => debug!(
            set = state.nct_salt.is_some(),
            "cstoken salt from app state"
        ),
        Err(e) => warn!(error = %e, "the cstoken salt could not be kept"),
    }
}

/// `<cstoken>` = HMAC-SHA256(salt, "LID@lid") for a 1:1 message to the
/// contact with LID user `lid`, when we hold the account's salt (whatsmeow
/// `generateCsToken`: sent instead of a `<tctoken>` we do not have).
pub(super) async fn cstoken(shared: &Shared, lid: &Jid) -> Option<Node> {
    let salt = shared.state.lock().await.nct_salt.clone()?;
    if salt.is_empty() || !lid.is_lid() {
        return None;
    }
    let token = wa_core::cstoken::cstoken(&salt, &lid.to_non_ad().to_string());
    Some(Node::new("cstoken").bytes(token.to_vec()))
}

/// The `<tctoken>` child for a 1:1 message (or presence subscription) to
/// `to`, when the contact gave us a token that is still good. `lid` is
/// `to`'s LID when the caller has looked it up already.
pub(super) async fn attach(
    shared: &Shared,
    to: &Jid,
    lid: Option<&Jid>,
) -> Result<Option<Node>, StoreError> {
    Ok(live_token(shared, to, lid)
        .await?
        .map(|t| Node::new("tctoken").bytes(t)))
}

/// The token `to` gave us, if it is still good (kept under its LID, else
/// its phone number).
async fn live_token(
    shared: &Shared,
    to: &Jid,
    lid: Option<&Jid>,
) -> Result<Option<Vec<u8>>, StoreError> {
    let key = match lid {
        Some(lid) => lid.to_non_ad().to_string(),
        None => key_of(shared, to).await?,
    };
    let mut token = shared.store.privacy_token(&key).await?;
    if token.is_none() && key != to.to_non_ad().to_string() {
        token = shared
            .store
            .privacy_token(&to.to_non_ad().to_string())
            .await?;
    }
    Ok(token
        .filter(|t| !expired(t.timestamp, unix_now()))
        .map(|t| t.token))
}

/// `<privacy>TOKEN</privacy>` for a `<participant>` of a group create
/// (whatsmeow `CreateGroup`, `UpdateGroupParticipants` add), when the
/// contact gave us a token that is still good.
pub(super) async fn participant_token(shared: &Shared, user: &Jid) -> Option<Node> {
    match live_token(shared, user, None).await {
        Ok(token) => token.map(|t| Node::new("privacy").bytes(t)),
        Err(e) => {
            warn!(error = %e, "privacy token not readable; adding without");
            None
        }
    }
}

/// A contact's identity changed (`<notification type="encrypt"><identity/>`):
/// if we ever gave them our token, give it again with the same time, as
/// whatsmeow does (`notification.go`), so their new install has it.
pub(super) async fn reissue(
    shared: &Shared,
    conn: &Connection,
    contact: &Jid,
) -> Result<(), StoreError> {
    let key = key_of(shared, contact).await?;
    let Some(at) = shared.store.token_issued_at(&key).await? else {
        return Ok(());
    };
    debug!(contact = %key, "identity changed; giving our privacy token again");
    let target = issue_target(shared, &key, contact).await?;
    if let Err(e) = conn.iq(issue_iq(&target, at)).await {
        warn!(error = %e, "could not give our privacy token again");
    }
    Ok(())
}

/// Forgets the tokens contacts gave us that can no longer be sent (at
/// each login, as whatsmeow does at connect).
pub(super) async fn prune(shared: &Shared) {
    let now = unix_now();
    let cutoff = (now / BUCKET_SECONDS).saturating_sub(BUCKETS - 1) * BUCKET_SECONDS;
    match shared.store.prune_privacy_tokens(cutoff).await {
        Ok(0) => {}
        Ok(n) => debug!(pruned = n, "expired privacy tokens forgotten"),
        Err(e) => warn!(error = %e, "could not prune privacy tokens"),
    }
}

/// A 1:1 `message` to `to` (as the caller named it: a bot is known by its
/// phone number or `@bot` JID, not by a LID) is followed by issuing our
/// token: not to bots or the PSA account (whatsmeow `tctoken.go`
/// `shouldSendTCTokenInChatAction`) and not after protocol messages
/// (revokes, edits even inside `editedMessage`, key shares), as the
/// official web client per Baileys rc14 `messages-send.js`, which looks
/// through the wrappers (`normalizeMessageContent`).
pub(super) fn issues_for(to: &Jid, message: &wa_core::proto::Message) -> bool {
    let protocol = wa_core::content::unwrap(message).protocol_message.is_some();
    let psa = to.server() == &Server::User && to.user() == PSA_USER;
    !(protocol || to.is_bot() || psa)
}

/// The user of WhatsApp's service-announcement account (`0@s.whatsapp.net`).
const PSA_USER: &str = "0";

/// After a 1:1 message to `to`: issues our token to them when this week's
/// is not out yet (`<iq xmlns="privacy" type="set"><tokens><token jid t
/// type="trusted_contact"/></tokens></iq>`). Runs in the background; a
/// failure only means it is tried after the next message.
pub(super) async fn issue_if_due(shared: Arc<Shared>, conn: Connection, to: Jid) {
    if let Err(e) = issue(&shared, &conn, &to).await {
        warn!(error = %e, "could not issue our privacy token");
    }
}

/// Whom our token for the contact kept under `key` is issued to: their
/// LID when the server's prop 14303 says so, else their phone number
/// (Baileys rc14 `resolveIssuanceJid`); whichever we know when the other is
/// not known.
async fn issue_target(shared: &Shared, key: &str, to: &Jid) -> Result<Jid, StoreError> {
    let kept = key.parse::<Jid>().unwrap_or_else(|_| to.to_non_ad());
    if lock(&shared.session).issue_tokens_to_lid() || !kept.is_lid() {
        return Ok(kept);
    }
    if !to.is_lid() {
        return Ok(to.to_non_ad());
    }
    Ok(match shared.store.pn_for_lid(kept.user()).await? {
        Some(pn) => Jid::user_jid(pn),
        None => kept,
    })
}

/// Why issuing our token failed.
#[derive(Debug, thiserror::Error)]
enum IssueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Connection(#[from] crate::Error),
}

/// `<iq xmlns="privacy" type="set"><tokens><token jid t
/// type="trusted_contact"/>`: gives `to` (stored under `key`) our token,
/// stamped `t`.
fn issue_iq(target: &Jid, t: u64) -> Node {
    let token = Node::new("token")
        .attr("jid", target.clone())
        .attr("t", t.to_string())
        .attr("type", "trusted_contact");
    Node::new("iq")
        .attr("to", Jid::server_jid())
        .attr("type", "set")
        .attr("xmlns", "privacy")
        .children(vec![Node::new("tokens").children(vec![token])])
}

async fn issue(shared: &Shared, conn: &Connection, to: &Jid) -> Result<(), IssueError> {
    let key = key_of(shared, to).await?;
    let now = unix_now();
    if !due(shared.store.token_issued_at(&key).await?, now) {
        return Ok(());
    }
    conn.iq(issue_iq(&issue_target(shared, &key, to).await?, now))
        .await?;
    shared.store.set_token_issued_at(&key, now).await?;
    debug!(contact = %key, "privacy token issued");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_after_protocol_messages_or_to_bots_and_the_psa() {
        use wa_core::proto::Message;
        use wa_core::proto::message::{FutureProofMessage, ProtocolMessage};
        let text = Message {
            conversation: Some("hi".to_owned()),
            ..Message::default()
        };
        let revoke = Message {
            protocol_message: Some(Box::default()),
            ..Message::default()
        };
        let edit = Message {
            edited_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(Message {
                    protocol_message: Some(Box::new(ProtocolMessage::default())),
                    ..Message::default()
                })),
            })),
            ..Message::default()
        };
        let person = Jid::user_jid("15550001111");
        assert!(issues_for(&person, &text));
        assert!(!issues_for(&person, &revoke));
        assert!(!issues_for(&person, &edit));
        assert!(!issues_for(&Jid::user_jid("13135550002"), &text), "a bot");
        assert!(!issues_for(&Jid::user_jid("0"), &text), "the PSA account");
    }

    #[test]
    fn tokens_live_four_weekly_buckets() {
        let week = BUCKET_SECONDS;
        let now = 100 * week + 5;
        assert!(!expired(now, now));
        assert!(!expired(97 * week, now), "three buckets back is still good");
        assert!(expired(97 * week - 1, now));
        assert!(expired(0, now));
        assert!(!expired(1, 2 * week), "early times never underflow");
    }

    #[test]
    fn ours_is_due_once_a_bucket() {
        let week = BUCKET_SECONDS;
        assert!(due(None, week));
        assert!(!due(Some(10 * week + 1), 10 * week + 500));
        assert!(due(Some(10 * week - 1), 10 * week));
    }
}

//! Message secrets: the `messageSecret` of every message that carries one
//! (ours, contacts', those in history) is kept, and opens what is sealed
//! with it later: a bot's reply (`<enc type="msmsg">`) and encrypted edits
//! of messages and events (`secretEncryptedMessage`), as whatsmeow 33cfac51
//! does (`message.go` `storeMessageSecret`, `storeHistoricalMessageSecrets`,
//! the `msmsg` branch of `decryptMessages`; `msgsecret.go`).

use prost::Message as _;
use tracing::{debug, warn};
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::msgsecret::{self, AddOn, UseCase};
use wa_core::proto::message::ProtocolMessage;
use wa_core::proto::message::protocol_message::Type as ProtocolType;
use wa_core::proto::message::secret_encrypted_message::SecretEncType;
use wa_core::proto::{HistorySync, Message, MessageSecretMessage};

use super::Shared;
use super::recv::unix_now;
use crate::store::{MessageSecret, StoreError};

/// How long a secret is kept (seconds): edits come within minutes, bot
/// replies at once; an event may be edited later, so a month.
pub(crate) const KEPT_SECONDS: u64 = 30 * 24 * 3600;

fn secret_of(m: &Message) -> Option<&[u8]> {
    [m, wa_core::content::unwrap(m)]
        .into_iter()
        .find_map(|m| m.message_context_info.as_ref()?.message_secret.as_deref())
}

fn row(chat: &Jid, sender: &Jid, id: &str, secret: &[u8]) -> MessageSecret {
    MessageSecret {
        chat: chat.to_non_ad().to_string(),
        sender: sender.to_non_ad().to_string(),
        id: id.to_owned(),
        secret: secret.to_vec(),
        at: unix_now(),
    }
}

/// Keeps the secret of message `id` that `sender` sent in `chat`, if it
/// carries one (received, or sent by us).
pub(crate) async fn keep(
    shared: &Shared,
    chat: &Jid,
    sender: &Jid,
    id: &str,
    m: &Message,
) -> Result<(), StoreError> {
    let Some(secret) = secret_of(m) else {
        return Ok(());
    };
    let rows = [row(chat, sender, id, secret)];
    shared.store.store_message_secrets(&rows).await
}

/// Keeps the secrets of the messages in a history chunk, in one write.
pub(crate) async fn keep_history(shared: &Shared, sync: &HistorySync) -> Result<(), StoreError> {
    let own = shared.own.pn.to_non_ad();
    let mut rows = Vec::new();
    for conv in &sync.conversations {
        let Some(chat) = conv.id.as_deref().and_then(|c| c.parse::<Jid>().ok()) else {
            continue;
        };
        for m in conv.messages.iter().filter_map(|m| m.message.as_ref()) {
            let (Some(secret), Some(key)) = (m.message_secret.as_deref(), m.key.as_ref()) else {
                continue;
            };
            let Some(id) = key.id.as_deref() else {
                continue;
            };
            let sender = if key.from_me == Some(true) {
                Some(own.clone())
            } else if matches!(chat.server(), Server::User | Server::Lid) {
                Some(chat.clone())
            } else {
                key.participant
                    .as_deref()
                    .or(m.participant.as_deref())
                    .and_then(|p| p.parse::<Jid>().ok())
            };
            if let Some(sender) = sender {
                rows.push(row(&chat, &sender, id, secret));
            }
        }
    }
    if !rows.is_empty() {
        debug!(count = rows.len(), "message secrets from history kept");
    }
    shared.store.store_message_secrets(&rows).await
}

/// Forgets secrets older than [`KEPT_SECONDS`] (at each login).
pub(crate) async fn prune(shared: &Shared) {
    let before = unix_now().saturating_sub(KEPT_SECONDS);
    match shared.store.prune_message_secrets(before).await {
        Ok(0) => {}
        Ok(n) => debug!(pruned = n, "old message secrets forgotten"),
        Err(e) => warn!(error = %e, "could not prune message secrets"),
    }
}

/// The same account in its other addressing (LID for a phone number and
/// back), when known.
async fn other_form(shared: &Shared, user: &Jid) -> Result<Option<Jid>, StoreError> {
    let own = &shared.own;
    Ok(match user.server() {
        Server::User if user.user() == own.pn.user() => Some(own.lid.to_non_ad()),
        Server::Lid if user.user() == own.lid.user() => Some(own.pn.to_non_ad()),
        Server::User => shared
            .store
            .lid_for_pn(user.user())
            .await?
            .map(|l| Jid::new(l, Server::Lid)),
        Server::Lid => shared
            .store
            .pn_for_lid(user.user())
            .await?
            .map(Jid::user_jid),
        _ => None,
    })
}

/// The secret of message `id` by `sender` in `chat`, looked up in both
/// addressings of the sender (and of a 1:1 chat): the message may have
/// been kept under the other one. Returns it with the sender forms to try
/// in the key, the one asked for first.
async fn find(
    shared: &Shared,
    chat: &Jid,
    sender: &Jid,
    id: &str,
) -> Result<Option<(Vec<u8>, Vec<String>)>, StoreError> {
    let sender = sender.to_non_ad();
    let mut senders = vec![sender.clone()];
    senders.extend(other_form(shared, &sender).await?);
    let chat = chat.to_non_ad();
    let mut chats = vec![chat.clone()];
    if !chat.is_group() {
        chats.extend(other_form(shared, &chat).await?);
    }
    let names: Vec<String> = senders.iter().map(Jid::to_string).collect();
    for c in &chats {
        for s in &names {
            if let Some(secret) = shared.store.message_secret(&c.to_string(), s, id).await? {
                return Ok(Some((secret, names)));
            }
        }
    }
    Ok(None)
}

fn jid_attr(node: &Node, key: &str) -> Option<Jid> {
    node.attr_jid(key)
        .cloned()
        .or_else(|| node.attr_str(key)?.parse().ok())
}

/// Why a sealed add-on could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("no secret kept for message {0}")]
    NoSecret(String),
    #[error("{0}")]
    Malformed(&'static str),
    #[error("{0}")]
    Sealed(#[from] msgsecret::VoteError),
}

/// Opens a bot's reply: `payload` is the `<enc type="msmsg">` of `node`
/// from `bot`, a `MessageSecretMessage` sealed with the secret of the
/// message it answers (`<meta target_id target_sender_jid>`; without a
/// sender, our own JID: the LID for a `@bot` sender). Parts of a streamed
/// reply (`<bot edit="inner|last" edit_target_id>`) are keyed by the reply
/// they edit. Returns the encoded `Message`.
pub(crate) async fn open_bot_reply(
    shared: &Shared,
    node: &Node,
    chat: &Jid,
    bot: &Jid,
    payload: &[u8],
) -> Result<Vec<u8>, OpenError> {
    let meta = node
        .child("meta")
        .ok_or(OpenError::Malformed("bot reply without <meta>"))?;
    let target_id = meta
        .attr_str("target_id")
        .ok_or(OpenError::Malformed("bot reply without a target"))?;
    let target_sender = jid_attr(meta, "target_sender_jid").unwrap_or_else(|| {
        if *bot.server() == Server::Bot {
            shared.own.lid.to_non_ad()
        } else {
            shared.own.pn.to_non_ad()
        }
    });
    let id = node.attr_str("id").unwrap_or_default();
    let keyed_by = node
        .child("bot")
        .filter(|b| matches!(b.attr_str("edit"), Some("inner" | "last")))
        .and_then(|b| b.attr_str("edit_target_id"))
        .unwrap_or(id);
    let sealed = MessageSecretMessage::decode(payload)
        .map_err(|_| OpenError::Malformed("msmsg is not a MessageSecretMessage"))?;
    let (Some(iv), Some(sealed)) = (sealed.enc_iv.as_deref(), sealed.enc_payload.as_deref()) else {
        return Err(OpenError::Malformed("msmsg without IV or payload"));
    };
    let (secret, senders) = find(shared, chat, &target_sender, target_id)
        .await?
        .ok_or_else(|| OpenError::NoSecret(target_id.to_owned()))?;
    let author = bot.to_non_ad().to_string();
    open_as_any(
        &secret,
        UseCase::Bot,
        keyed_by,
        &senders,
        &author,
        iv,
        sealed,
    )
}

/// Tries each form of the target's sender in the key: the author's client
/// may have used the other addressing (whatsmeow tries both too).
fn open_as_any(
    secret: &[u8],
    use_case: UseCase,
    target_id: &str,
    senders: &[String],
    author: &str,
    iv: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, OpenError> {
    let mut last = msgsecret::VoteError::Verify;
    for target_sender in senders {
        let ctx = AddOn {
            target_id,
            target_sender,
            author,
        };
        match msgsecret::open(secret, use_case, ctx, iv, sealed) {
            Ok(plain) => return Ok(plain),
            Err(e) => last = e,
        }
    }
    Err(last.into())
}

/// Opens an encrypted edit of a message or an event (`secretEncryptedMessage`
/// of `MESSAGE_EDIT` or `EVENT_EDIT`) that `author` sent in `chat`, in
/// place: `m` becomes the edit it holds, a `protocolMessage` of type
/// `MESSAGE_EDIT` of the target (the payload itself when it is one, else
/// the payload as the edited content). Poll edits and an edit whose secret
/// is not kept stay as they are (the caller shows them as a notice).
pub(crate) async fn open_edit(
    shared: &Shared,
    chat: &Jid,
    author: &Jid,
    m: &mut Message,
) -> Result<(), StoreError> {
    let Some(enc) = m.secret_encrypted_message.as_ref() else {
        return Ok(());
    };
    let use_case = match enc.secret_enc_type() {
        SecretEncType::MessageEdit => UseCase::MessageEdit,
        SecretEncType::EventEdit => UseCase::EventEdit,
        _ => return Ok(()),
    };
    let Some(key) = enc.target_message_key.clone() else {
        return Ok(());
    };
    match open_edit_payload(shared, chat, author, use_case, m).await {
        Ok(plain) => {
            let context = m.message_context_info.take();
            let mut edit = plain;
            let inner = edit
                .protocol_message
                .as_ref()
                .filter(|p| p.r#type() == ProtocolType::MessageEdit)
                .map(|p| p.key.as_ref().and_then(|k| k.id.clone()));
            // An edit inside must name the message the seal is for.
            if let Some(inner) = &inner
                && *inner != key.id
            {
                debug!("a sealed edit naming another message; shown as a notice");
                m.message_context_info = context;
                return Ok(());
            }
            if inner.is_none() {
                edit = Message {
                    protocol_message: Some(Box::new(ProtocolMessage {
                        key: Some(key),
                        r#type: Some(ProtocolType::MessageEdit as i32),
                        edited_message: Some(Box::new(edit)),
                        ..ProtocolMessage::default()
                    })),
                    ..Message::default()
                };
            }
            if edit.message_context_info.is_none() {
                edit.message_context_info = context;
            }
            *m = edit;
        }
        // The store failing passes: the message is handled again.
        Err(OpenError::Store(e)) => return Err(e),
        Err(e) => debug!(error = %e, "encrypted edit not opened; shown as a notice"),
    }
    Ok(())
}

async fn open_edit_payload(
    shared: &Shared,
    chat: &Jid,
    author: &Jid,
    use_case: UseCase,
    m: &Message,
) -> Result<Message, OpenError> {
    let enc = m
        .secret_encrypted_message
        .as_ref()
        .ok_or(OpenError::Malformed("no encrypted add-on"))?;
    let key = enc
        .target_message_key
        .as_ref()
        .ok_or(OpenError::Malformed("encrypted edit without a target"))?;
    let target_id = key
        .id
        .as_deref()
        .ok_or(OpenError::Malformed("encrypted edit without a target id"))?;
    // Who sent the edited message: the author when it is theirs; in a 1:1
    // the chat's other party; in a group the key's participant.
    let target_sender = if key.from_me == Some(true) {
        author.to_non_ad()
    } else if !chat.is_group() {
        key.remote_jid
            .as_deref()
            .and_then(|j| j.parse::<Jid>().ok())
            .unwrap_or_else(|| chat.clone())
    } else {
        key.participant
            .as_deref()
            .and_then(|j| j.parse::<Jid>().ok())
            .ok_or(OpenError::Malformed(
                "group edit without the target's sender",
            ))?
    };
    let (Some(iv), Some(sealed)) = (enc.enc_iv.as_deref(), enc.enc_payload.as_deref()) else {
        return Err(OpenError::Malformed("encrypted edit without IV or payload"));
    };
    let (secret, senders) = find(shared, chat, &target_sender, target_id)
        .await?
        .ok_or_else(|| OpenError::NoSecret(target_id.to_owned()))?;
    let author = author.to_non_ad().to_string();
    let plain = open_as_any(&secret, use_case, target_id, &senders, &author, iv, sealed)?;
    Message::decode(plain.as_slice()).map_err(|_| OpenError::Malformed("edit is not a Message"))
}

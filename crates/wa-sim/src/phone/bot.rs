//! A bot's side (Meta AI and the like): its replies are not Signal
//! messages but `<enc type="msmsg">`, a `MessageSecretMessage` sealed with
//! the secret of the message they answer, with `<meta target_id
//! target_sender_jid>` naming it (whatsmeow 33cfac51 `message.go`, the
//! `msmsg` branch, and `msgsecret.go` `decryptBotMessage`).

use std::sync::Arc;

use prost::Message as _;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::msgsecret::{self, AddOn, UseCase};
use wa_core::proto::{Message, MessageSecretMessage};

use super::device::{PhoneError, Received};
use crate::server::{Shared, route};

/// Sends, as the bot account `bot`, `reply` to the message `target` it
/// received: to each companion of the sender (the scripted phone does not
/// read bot replies). Returns the reply's id.
pub(crate) fn reply(
    shared: &Arc<Shared>,
    bot: &str,
    target: &Received,
    reply: &Message,
) -> Result<String, PhoneError> {
    let bot_jid = Jid::user_jid(bot);
    if !bot_jid.is_bot() {
        return Err(PhoneError::Malformed("not a bot's number"));
    }
    let secret = target
        .message
        .message_context_info
        .as_ref()
        .and_then(|c| c.message_secret.as_deref())
        .ok_or(PhoneError::Malformed("the message carries no secret"))?;
    let id = format!("3EB0{:016X}", rand::random::<u64>());
    let asker = target.from.to_non_ad();
    let (asker_s, bot_s) = (asker.to_string(), bot_jid.to_string());
    let ctx = AddOn {
        target_id: &id,
        target_sender: &asker_s,
        author: &bot_s,
    };
    let iv: [u8; 12] = rand::random();
    let sealed = MessageSecretMessage {
        version: Some(1),
        enc_iv: Some(iv.to_vec()),
        enc_payload: Some(msgsecret::seal(
            secret,
            UseCase::Bot,
            ctx,
            &reply.encode_to_vec(),
            iv,
        )),
    }
    .encode_to_vec();
    let devices: Vec<u16> = shared
        .state()
        .devices_of(asker.user())
        .into_iter()
        .filter(|d| *d != 0)
        .collect();
    let participants = devices
        .into_iter()
        .map(|d| {
            Node::new("to")
                .attr(
                    "jid",
                    Jid::with_device(asker.user(), d, asker.server().clone()),
                )
                .children(vec![
                    Node::new("enc")
                        .attr("v", "2")
                        .attr("type", "msmsg")
                        .bytes(sealed.clone()),
                ])
        })
        .collect();
    let stanza = Node::new("message")
        .attr("id", id.clone())
        .attr("to", asker.clone())
        .attr("type", "text")
        .children(vec![
            Node::new("participants").children(participants),
            Node::new("meta")
                .attr("target_id", target.id.clone())
                .attr("target_sender_jid", asker),
        ]);
    let ack = route::message(shared, &(bot.to_owned(), 0), &stanza);
    if let Some(code) = ack.attr_str("error") {
        return Err(PhoneError::Refused(code.to_owned()));
    }
    Ok(id)
}

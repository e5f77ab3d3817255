//! Peer messages: protocol messages the phone sends to its own companions
//! (app-state key shares, history-sync notifications), pairwise Signal to one
//! device.
//!
//! Shape as a companion receives it: `<message from=<own bare PN JID> id t
//! type="text" category="peer"><enc v="2" type="pkmsg|msg"/></message>`.
//! whatsmeow sends its own peer messages as `<message id type="text"
//! category="peer" to=<own bare JID>>` with `<meta appdata="default"/>` and the
//! `<enc>` directly under the message (`send.go` `preparePeerMessageNode`),
//! accepts protocol messages only when the sender is its own account
//! (`message.go` `handleProtocolMessage`), and answers a `category="peer"`
//! message with `<receipt type="peer_msg">` and a history-sync notification
//! with `<receipt type="hist_sync">`, both `to` its own bare JID.

use std::sync::Arc;

use prost::Message as _;
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::Message;
use wa_core::signal;

use super::device::{PhoneDevice, PhoneError, lid_address};
use crate::server::{Routed, Shared, unix_now};

/// Encrypts `message` to companion `companion` of `pn` and hands it to that
/// device (queued if it is offline). Returns the message id.
pub(crate) async fn send(
    shared: &Arc<Shared>,
    device: &PhoneDevice,
    pn: &str,
    companion: u16,
    message: &Message,
) -> Result<String, PhoneError> {
    let id = format!("3EB0{:016X}", rand::random::<u64>());
    let target = Jid::with_device(pn.to_owned(), companion, Server::User);
    let (pn_jid, addr) =
        lid_address(shared, &target).ok_or(PhoneError::Malformed("no such companion"))?;
    let (kind, ciphertext) = {
        let mut store = device.store().lock().await;
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        if !signal::has_session(&mut *store, &addr).await? {
            let bundle = shared
                .state()
                .accounts
                .get_mut(pn)
                .and_then(|a| a.take_bundle(companion))
                .ok_or(PhoneError::Malformed("no bundle"))?;
            signal::process_prekey_bundle(&mut *store, &addr, &bundle, &mut rng).await?;
        }
        let padded = signal::pad(&message.encode_to_vec(), rand::random::<u8>());
        signal::encrypt(&mut *store, &addr, &padded).await?
    };
    let enc = Node::new("enc")
        .attr("v", "2")
        .attr("type", kind.as_str())
        .bytes(ciphertext.clone());
    let stanza = Node::new("message")
        .attr("from", Jid::user_jid(pn.to_owned()))
        .attr("id", id.clone())
        .attr("t", unix_now().to_string())
        .attr("type", "text")
        .attr("category", "peer")
        .children(vec![enc]);
    let mut state = shared.state();
    state.routed.push(Routed {
        from: Jid::with_device(pn.to_owned(), 0, Server::User),
        to: pn_jid,
        enc_type: kind.as_str().to_owned(),
        ciphertext,
    });
    state.deliver(&(pn.to_owned(), companion), stanza);
    Ok(id)
}

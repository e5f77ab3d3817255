//! One portal and one ghost per WhatsApp account, however a message is
//! addressed. WhatsApp delivers 1:1 messages (and group participants) by
//! phone number or by LID; portals and ghosts are keyed by phone number, so
//! a LID whose number is known is read as that number before anything is
//! looked up or made. A LID whose number is unknown stays a LID (its own
//! portal and `lid-` ghost): better than dropping the message.

use tracing::debug;
use wa_client::{Client, IncomingMessage};
use wa_core::jid::{Jid, Server};

/// `jid` (a LID, with or without device) as the phone number `pn`, keeping
/// its device.
fn as_number(jid: &Jid, pn: &Jid) -> Jid {
    Jid::with_device(pn.user(), jid.device(), Server::User)
}

/// The phone-number form of `jid` when it is a LID whose number the
/// client knows; otherwise (groups, phone numbers, unknown LIDs) `jid`
/// itself.
pub(super) async fn by_number(client: &Client, jid: &Jid) -> Jid {
    match client.pn_for_lid(&jid.to_non_ad()).await {
        Ok(Some(pn)) => as_number(jid, &pn),
        Ok(None) => jid.clone(),
        Err(e) => {
            debug!(error = %e, "LID mapping not read; the LID is kept");
            jid.clone()
        }
    }
}

/// Whether `jid` is the logged-in account itself (by number or by LID).
pub(super) fn is_own(client: &Client, jid: &Jid) -> bool {
    jid.user() == client.jid().user() || jid.user() == client.lid().user()
}

/// Reads `m`'s chat and sender by phone number where the client knows it.
/// The acknowledgement keeps the stanza's own addressing.
pub(super) async fn message_by_number(client: &Client, m: &mut IncomingMessage) {
    m.chat = by_number(client, &m.chat).await;
    m.sender = by_number(client, &m.sender).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lid_becomes_its_number_with_the_same_device() {
        let pn = Jid::user_jid("15550001111");
        let lid_device = Jid::with_device("100000000000009", 3, Server::Lid);
        assert_eq!(
            as_number(&lid_device, &pn).to_string(),
            "15550001111:3@s.whatsapp.net"
        );
        let lid_user = Jid::new("100000000000009", Server::Lid);
        assert_eq!(as_number(&lid_user, &pn), pn);
    }
}

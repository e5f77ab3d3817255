//! Calls from (and to) the phone, as the server relays them: `<call>`
//! stanzas with one action each (whatsmeow 33cfac51 `call.go`
//! `handleCallEvent` reads them). A 1:1 call rings every device of the
//! callee with an `<offer>` (the media offered, and the call key sealed for
//! the device in `<enc>`: here random bytes, which a companion that does
//! not take calls must leave alone); a group call tells the members'
//! devices with an `<offer_notice media type="group" group-jid>`. Taking
//! it on the phone tells the caller and the callee's other devices
//! (`<accept>`); hanging up tells everyone rung (`<terminate reason>`).
//! wa-sim carries no media: a call here is only its signalling.

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::Phone;
use crate::server::unix_now;

/// Who was rung for a call: the accounts (phone numbers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ringing {
    /// The call's id.
    pub id: String,
    /// Who started it.
    pub creator: String,
    /// The accounts rung (the caller's own other devices are told too).
    pub callees: Vec<String>,
    /// The group, for a group call.
    pub group: Option<Jid>,
}

impl Phone {
    /// Sends `<call from=this phone>` with `action` to every device of
    /// `accounts` but this phone.
    fn relay_call(&self, accounts: &[String], action: Node) {
        let from = Jid::with_device(self.pn.clone(), 0, Server::User);
        let stanza = Node::new("call")
            .attr("from", from)
            .attr("id", format!("{:016X}", rand::random::<u64>()))
            .attr("t", unix_now().to_string())
            .attr("platform", "android")
            .attr("version", "2.25.1.1")
            .children(vec![action]);
        let mut state = self.shared.state();
        for pn in accounts {
            for device in state.devices_of(pn) {
                if (pn.as_str(), device) != (self.pn.as_str(), 0) {
                    state.deliver(&(pn.clone(), device), stanza.clone());
                }
            }
        }
    }

    /// Rings `to` (a phone number) from this phone, by voice or `video`.
    pub fn call(&self, to: &str, video: bool) -> Ringing {
        let id = format!("{:032X}", rand::random::<u128>());
        let mut media = vec![
            Node::new("audio").attr("enc", "opus").attr("rate", "16000"),
            Node::new("audio").attr("enc", "opus").attr("rate", "8000"),
        ];
        if video {
            media.push(Node::new("video").attr("enc", "vp8").attr("dec", "vp8"));
        }
        media.push(Node::new("net").attr("medium", "3"));
        media.push(Node::new("encopt").attr("keygen", "2"));
        let sealed = rand::random::<[u8; 32]>().to_vec();
        media.push(
            Node::new("enc")
                .attr("v", "2")
                .attr("type", "msg")
                .bytes(sealed),
        );
        let offer = Node::new("offer")
            .attr("call-id", id.clone())
            .attr("call-creator", Jid::user_jid(self.pn.clone()))
            .children(media);
        let callees = vec![to.to_owned()];
        self.relay_call(&callees, offer);
        Ringing {
            id,
            creator: self.pn.clone(),
            callees,
            group: None,
        }
    }

    /// Starts a group call in `gid` from this phone: every other member is
    /// told with an `<offer_notice>`.
    pub fn call_group(&self, gid: &Jid, video: bool) -> Ringing {
        let id = format!("{:032X}", rand::random::<u128>());
        let members: Vec<String> = {
            let state = self.shared.state();
            let group = state.groups.get(gid.user());
            group
                .map(|g| {
                    g.members
                        .keys()
                        .filter(|m| **m != self.pn)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        let notice = Node::new("offer_notice")
            .attr("call-id", id.clone())
            .attr("call-creator", Jid::user_jid(self.pn.clone()))
            .attr("media", if video { "video" } else { "audio" })
            .attr("type", "group")
            .attr("group-jid", gid.clone());
        self.relay_call(&members, notice);
        Ringing {
            id,
            creator: self.pn.clone(),
            callees: members,
            group: Some(gid.clone()),
        }
    }

    /// This phone (a callee) takes call `ringing`: the caller and this
    /// account's other devices are told.
    pub fn answer_call(&self, ringing: &Ringing) {
        let accept = Node::new("accept")
            .attr("call-id", ringing.id.clone())
            .attr("call-creator", Jid::user_jid(ringing.creator.clone()));
        self.relay_call(&[ringing.creator.clone(), self.pn.clone()], accept);
    }

    /// This phone (a callee) declines call `ringing`.
    pub fn decline_call(&self, ringing: &Ringing) {
        let reject = Node::new("reject")
            .attr("call-id", ringing.id.clone())
            .attr("call-creator", Jid::user_jid(ringing.creator.clone()));
        self.relay_call(&[ringing.creator.clone(), self.pn.clone()], reject);
    }

    /// This phone (the caller) hangs up call `ringing`, or it rang out
    /// (`reason`, e.g. `timeout`): everyone rung is told.
    pub fn end_call(&self, ringing: &Ringing, reason: Option<&str>) {
        let mut terminate = Node::new("terminate")
            .attr("call-id", ringing.id.clone())
            .attr("call-creator", Jid::user_jid(ringing.creator.clone()));
        if let Some(reason) = reason {
            terminate = terminate.attr("reason", reason.to_owned());
        }
        let mut told = ringing.callees.clone();
        told.push(self.pn.clone());
        self.relay_call(&told, terminate);
    }
}

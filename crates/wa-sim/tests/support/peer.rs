//! A companion that reads what its own phone sends it: peer messages
//! (decrypted with its Signal keys) and the server's notifications.

use std::collections::VecDeque;
use std::str::FromStr;

use prost::Message as _;
use tokio::sync::mpsc;
use wa_client::{Connection, Event};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::proto::Message;
use wa_core::proto::message::ProtocolMessage;
use wa_core::signal::{self, EncType, MemoryStore, SignalAddress};
use wa_sim::{Phone, Sim};

use super::{Device, link, login, next_node};

pub struct Companion {
    pub conn: Connection,
    pub events: mpsc::Receiver<Event>,
    pub device: Device,
    pub store: MemoryStore,
    pub pn: String,
    phone: SignalAddress,
    /// Nodes read while looking for something else.
    pending: VecDeque<Node>,
}

impl Companion {
    /// Links a new companion to `phone`, logs it in and, if `active`, says
    /// so (which makes a phone with a history script send keys and history).
    pub async fn link(sim: &Sim, phone: &Phone, active: bool) -> Companion {
        let mut device = Device::new();
        link(sim, phone, &mut device).await.unwrap();
        let (conn, mut events, _) = login(sim, &device).await;
        assert_eq!(next_node(&mut events).await.tag, "ib");
        let mut store = MemoryStore::new(&device.identity, device.registration_id).unwrap();
        store
            .signed_prekeys
            .insert(&device.signed_prekey, 0)
            .unwrap();
        let companion = Companion {
            conn,
            events,
            device,
            store,
            pn: phone.pn().to_owned(),
            phone: SignalAddress::from_jid(&phone.lid().unwrap()).unwrap(),
            pending: VecDeque::new(),
        };
        if active {
            companion.active().await;
        }
        companion
    }

    pub async fn active(&self) {
        let iq = Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("type", "set")
            .attr("xmlns", "passive")
            .children(vec![Node::new("active")]);
        self.conn.iq(iq).await.unwrap();
    }

    /// The next node matching `want`, keeping the others for later.
    pub async fn next_matching(&mut self, want: impl Fn(&Node) -> bool) -> Node {
        if let Some(i) = self.pending.iter().position(&want) {
            return self.pending.remove(i).unwrap();
        }
        loop {
            let n = next_node(&mut self.events).await;
            if want(&n) {
                return n;
            }
            self.pending.push_back(n);
        }
    }

    /// The next peer message from the phone, decrypted: the stanza and its
    /// protocol message.
    pub async fn next_protocol(&mut self) -> (Node, ProtocolMessage) {
        let node = self
            .next_matching(|n| n.tag == "message" && n.attr_str("category") == Some("peer"))
            .await;
        assert_eq!(node.attr_jid("from"), Some(&Jid::user_jid(self.pn.clone())));
        assert_eq!(node.attr_str("type"), Some("text"));
        let enc = node.child("enc").expect("enc");
        let kind = EncType::from_str(enc.attr_str("type").unwrap()).unwrap();
        let padded = signal::decrypt(
            &mut self.store,
            &self.phone,
            kind,
            enc.content_bytes().unwrap(),
            &mut rand::rng(),
        )
        .await
        .unwrap();
        let message = Message::decode(signal::unpad(&padded).unwrap()).unwrap();
        let protocol = *message.protocol_message.expect("a protocol message");
        (node, protocol)
    }

    /// The next `server_sync` notification.
    pub async fn next_server_sync(&mut self) -> Node {
        self.next_matching(|n| n.tag == "notification" && n.attr_str("type") == Some("server_sync"))
            .await
    }

    /// Answers a peer message with a receipt of `kind` (`hist_sync`, `peer_msg`).
    pub async fn receipt(&self, message: &Node, kind: &str) {
        let receipt = Node::new("receipt")
            .attr("id", message.attr_str("id").unwrap().to_owned())
            .attr("to", Jid::user_jid(self.pn.clone()))
            .attr("type", kind.to_owned());
        self.conn.send(&receipt).await.unwrap();
    }
}

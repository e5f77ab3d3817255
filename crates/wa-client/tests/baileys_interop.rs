//! Our client against an independent implementation: Baileys rc14 as the
//! companion of another account, both on one wa-sim. 1:1 both ways (with
//! Baileys' own delivery receipt coming back to us), then a group we create
//! with Baileys and a plain phone in it, written to from both sides.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../wa-sim/tests/support/baileys.rs"]
#[allow(dead_code)]
mod baileys;
#[path = "support/peer.rs"]
mod peer;

use std::sync::Arc;
use std::time::Duration;

use peer::Peer;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wa_client::store::DeviceStore;
use wa_client::{
    Addressing, Backoff, Client, ClientEvent, ClientOptions, ConnectOptions, DeviceState,
    MemoryStore, PairEvent, PairOptions, ReceiptKind, Store, pair,
};
use wa_core::jid::{Jid, Server};
use wa_sim::{Phone, Sim};

const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

fn connect_options(sim: &Sim) -> ConnectOptions {
    ConnectOptions {
        url: sim.url().to_owned(),
        root_key: sim.root_public_key(),
        keepalive: None,
        iq_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    }
}

/// Pairs our companion to `phone`'s account and starts the client on it.
async fn our_client(sim: &Sim, phone: &Phone) -> (Client, Events) {
    let mut state = DeviceState::new(&mut rand::rng());
    let opts = PairOptions {
        connect: connect_options(sim),
        ..PairOptions::default()
    };
    let mut pairing = pair(&opts, &mut state).await.unwrap();
    let PairEvent::Qr(qr) = pairing.next().await.unwrap() else {
        panic!("expected a QR code");
    };
    let scan = {
        let phone = phone.clone();
        tokio::spawn(async move { phone.scan(&qr).await })
    };
    let paired = tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            match pairing.next().await.unwrap() {
                PairEvent::Qr(_) => {}
                paired => break paired,
            }
        }
    })
    .await
    .expect("our companion paired in time");
    scan.await.unwrap().expect("the phone links our companion");
    assert!(matches!(paired, PairEvent::Paired { .. }), "{paired:?}");
    drop(pairing);
    let store = Arc::new(MemoryStore::new());
    store.save(&state).await.unwrap();

    let opts = ClientOptions {
        connect: connect_options(sim),
        reconnect: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            ..Backoff::default()
        },
        ..ClientOptions::default()
    };
    let store: Arc<dyn Store> = store;
    let (client, rx) = Client::start(opts, store).await.unwrap();
    let mut events = Events {
        rx,
        backlog: Vec::new(),
    };
    events
        .wait("Connected", |e| {
            matches!(e, ClientEvent::Connected).then_some(())
        })
        .await;
    (client, events)
}

/// Our client's events, with the ones no wait took kept for later waits.
struct Events {
    rx: mpsc::Receiver<ClientEvent>,
    backlog: Vec<ClientEvent>,
}

impl Events {
    async fn wait<T>(&mut self, what: &str, want: impl Fn(&ClientEvent) -> Option<T>) -> T {
        if let Some((i, t)) = self
            .backlog
            .iter()
            .enumerate()
            .find_map(|(i, e)| want(e).map(|t| (i, t)))
        {
            self.backlog.remove(i);
            return t;
        }
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let event = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(e)) => e,
                Ok(None) => panic!("our client stopped while we waited for {what}"),
                Err(_) => panic!(
                    "our client: no {what} within {EVENT_TIMEOUT:?}; other events: {:#?}",
                    self.backlog
                ),
            };
            if let Some(t) = want(&event) {
                return t;
            }
            self.backlog.push(event);
        }
    }
}

#[tokio::test]
async fn our_client_and_baileys_chat_one_to_one_and_in_a_group() {
    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let (a_pn, b_pn, c_pn) = ("15557770001", "15557770002", "15557770003");
    let (a_phone, b_phone, c_phone) = (sim.account(a_pn), sim.account(b_pn), sim.account(c_pn));
    let (client, mut events) = our_client(&sim, &a_phone).await;
    let mut peer = Peer::start(&dir, &sim);
    let open = peer.link(&b_phone).await;
    assert_eq!(open["me"]["id"], format!("{b_pn}:1@s.whatsapp.net"));
    let (a, b, c) = (
        Jid::user_jid(a_pn),
        Jid::user_jid(b_pn),
        Jid::user_jid(c_pn),
    );

    // (1) Ours -> Baileys: it decrypts our pkmsg and sends its delivery
    // receipt, which reaches us as Delivered from its device.
    let sent = client.send_text(&b, "hello from rust").await.unwrap();
    let got = peer.message(&sent.id).await;
    assert_eq!(got["text"], "hello from rust", "{got}");
    // Sent to Baileys' LID (as whatsmeow does), it arrives LID-addressed,
    // our phone number beside it.
    let a_lid = client.lid().to_non_ad().to_string();
    assert_eq!(got["chat"], a_lid, "{got}");
    assert_eq!(got["sender"], a_lid, "{got}");
    assert_eq!(got["senderAlt"], a.to_string(), "{got}");
    assert_eq!(got["fromMe"], false, "{got}");
    let wire = peer
        .event("receipt-sent", |e| e["id"] == sent.id.as_str())
        .await;
    assert_eq!(wire["to"], client.lid().to_string(), "{wire}");
    // A plain delivery receipt has no type; a client not marked online (no
    // push name here, so Baileys never sends presence) says "inactive".
    assert!(
        wire["type"].is_null() || wire["type"] == "inactive",
        "a delivery receipt: {wire}"
    );
    let receipt = events
        .wait("Baileys' receipt for our message", |e| match e {
            ClientEvent::Receipt(r) if r.ids.contains(&sent.id) && r.from.device() == 1 => {
                Some(r.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(receipt.kind, ReceiptKind::Delivered, "{receipt:?}");
    assert_eq!(receipt.ids, std::slice::from_ref(&sent.id));
    // The chat is LID-addressed now: the receipt names B by LID, which
    // the client reads as B's number.
    let b_lid = client.lid_for_pn(&b).await.unwrap().unwrap();
    assert_eq!(receipt.from, Jid::with_device(b_lid.user(), 1, Server::Lid));
    assert_eq!(receipt.chat, b_lid);
    assert_eq!(client.pn_for_lid(&b_lid).await.unwrap(), Some(b.clone()));
    let on_b_phone = b_phone.wait_received(1, EVENT_TIMEOUT).await;
    assert_eq!(
        on_b_phone
            .first()
            .map(|r| (r.id.as_str(), r.text.as_deref())),
        Some((sent.id.as_str(), Some("hello from rust"))),
        "B's phone got it too"
    );

    // (2) Baileys -> ours.
    let id = peer.send_text(&a.to_string(), "hello from baileys").await;
    let m = events
        .wait("Baileys' 1:1 message", |e| match e {
            ClientEvent::Message(m) if m.id == id => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(m.text(), Some("hello from baileys"), "{m:?}");
    assert_eq!(m.chat, b);
    assert_eq!(m.sender.to_string(), format!("{b_pn}:1@s.whatsapp.net"));
    assert!(!m.from_me);

    // (3) A group we create with Baileys' account and a plain phone: our
    // sender key reaches Baileys pairwise, then it reads the skmsg.
    let group = client
        .create_group("interop", &[b.clone(), c.clone()])
        .await
        .unwrap();
    let mut members = group.participants.clone();
    members.sort_by_key(Jid::to_string);
    assert_eq!(members, [a.clone(), b.clone(), c.clone()]);
    let gid = group.jid.to_string();
    let sent = client.send_text(&group.jid, "hello group").await.unwrap();
    let got = peer.message(&sent.id).await;
    assert_eq!(got["text"], "hello group", "{got}");
    assert_eq!(got["chat"], gid.as_str(), "{got}");
    assert_eq!(got["participant"], a.to_string(), "{got}");
    // The other address is a bare user, as the server gives it.
    assert_eq!(
        got["senderAlt"],
        client.lid().to_non_ad().to_string(),
        "{got}"
    );
    assert_eq!(got["fromMe"], false, "{got}");
    let receipt = events
        .wait("Baileys' receipt for our group message", |e| match e {
            ClientEvent::Receipt(r)
                if r.ids.contains(&sent.id) && r.from.user() == b_pn && r.from.device() == 1 =>
            {
                Some(r.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(receipt.kind, ReceiptKind::Delivered, "{receipt:?}");
    assert_eq!(receipt.chat, group.jid);
    assert_eq!(receipt.from.to_string(), format!("{b_pn}:1@s.whatsapp.net"));

    // (4) Baileys -> the group: its sender key reaches us pairwise.
    let id = peer.send_group_text(&gid, "baileys in the group").await;
    let m = events
        .wait("Baileys' group message", |e| match e {
            ClientEvent::Message(m) if m.id == id => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(m.text(), Some("baileys in the group"), "{m:?}");
    assert_eq!(m.chat, group.jid);
    assert_eq!(m.sender.user(), b_pn, "{m:?}");
    assert!(!m.from_me);

    // The phone member read both.
    let on_c = c_phone.wait_received(2, EVENT_TIMEOUT).await;
    let on_c: Vec<(String, String, Option<String>)> = on_c
        .into_iter()
        .map(|r| (r.chat.to_string(), r.from.user().to_owned(), r.text))
        .collect();
    assert_eq!(
        on_c,
        [
            (gid.clone(), a_pn.to_owned(), Some("hello group".to_owned())),
            (
                gid.clone(),
                b_pn.to_owned(),
                Some("baileys in the group".to_owned())
            ),
        ]
    );
    // A's phone read Baileys' 1:1 message and the copy of ours.
    let on_a: Vec<(bool, String)> = a_phone
        .wait_received(2, EVENT_TIMEOUT)
        .await
        .into_iter()
        .filter(|r| !r.chat.is_group())
        .map(|r| (r.from_me, r.text.unwrap_or_default()))
        .collect();
    assert_eq!(
        on_a,
        [
            (true, "hello from rust".to_owned()),
            (false, "hello from baileys".to_owned())
        ]
    );

    // Everything decrypted the first time on both sides: no retries, and
    // each side went on with the session the other had started.
    assert_eq!(
        peer.unused("undecryptable"),
        Vec::<serde_json::Value>::new()
    );
    let failed: Vec<&ClientEvent> = events
        .backlog
        .iter()
        .filter(|e| matches!(e, ClientEvent::Undecryptable { .. }))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let between = |from: &str, to: &str| -> Vec<String> {
        sim.routed()
            .into_iter()
            .filter(|r| r.from.to_string() == from && r.to.to_string() == to)
            .map(|r| r.enc_type)
            .collect()
    };
    let (ours, theirs) = (client.jid().to_string(), format!("{b_pn}:1@s.whatsapp.net"));
    assert_eq!(between(&ours, &theirs), ["pkmsg", "msg", "skmsg"]);
    assert_eq!(between(&theirs, &ours), ["msg", "msg", "skmsg"]);
}

/// Reactions (and their removal), an edit, a revoke and a reply with a
/// mention from our client, each decoded by Baileys as that kind, pointing
/// at the right message: the stanza attributes and shapes real clients
/// accept.
/// A LID-addressed group (as the service makes new groups now): the
/// members come by LID with their numbers beside them; each side names the
/// devices by LID (wa-sim refuses anything else) and reads the others.
#[tokio::test]
async fn a_lid_addressed_group_with_baileys_and_a_phone() {
    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    sim.address_groups_by_lid(true);
    let (a_pn, b_pn, c_pn) = ("15557770101", "15557770102", "15557770103");
    let (a_phone, b_phone, c_phone) = (sim.account(a_pn), sim.account(b_pn), sim.account(c_pn));
    let (client, mut events) = our_client(&sim, &a_phone).await;
    let mut peer = Peer::start(&dir, &sim);
    peer.link(&b_phone).await;
    let (a, b, c) = (
        Jid::user_jid(a_pn),
        Jid::user_jid(b_pn),
        Jid::user_jid(c_pn),
    );

    let group = client
        .create_group("by lid", &[b.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(group.addressing, Addressing::Lid);
    let mut members = group.participants.clone();
    members.sort_by_key(Jid::to_string);
    assert_eq!(members, [a.clone(), b.clone(), c.clone()], "by number");
    let c_lid = c_phone.lid().unwrap().to_non_ad();
    assert_eq!(
        client.lid_for_pn(&c).await.unwrap(),
        Some(c_lid),
        "the group answer taught us the member's LID"
    );
    let gid = group.jid.to_string();

    // Ours -> the group: Baileys and the phone read it, from our LID.
    let sent = client
        .send_text(&group.jid, "hello lid group")
        .await
        .unwrap();
    let got = peer.message(&sent.id).await;
    assert_eq!(got["text"], "hello lid group", "{got}");
    assert_eq!(got["chat"], gid.as_str(), "{got}");
    assert_eq!(
        got["participant"],
        client.lid().to_non_ad().to_string(),
        "{got}"
    );
    assert_eq!(got["senderAlt"], a.to_string(), "{got}");

    // Baileys -> the group: from its LID, which we read as its number.
    let id = peer.send_group_text(&gid, "baileys by lid").await;
    let m = events
        .wait("Baileys' group message", |e| match e {
            ClientEvent::Message(m) if m.id == id => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(m.text(), Some("baileys by lid"), "{m:?}");
    assert!(m.sender.is_lid(), "{m:?}");
    assert_eq!(
        client.pn_for_lid(&m.sender.to_non_ad()).await.unwrap(),
        Some(b.clone())
    );

    // The phone -> the group.
    let id = c_phone
        .send_group_text(&group.jid, "phone by lid")
        .await
        .unwrap();
    let m = events
        .wait("the phone's group message", |e| match e {
            ClientEvent::Message(m) if m.id == id => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(m.text(), Some("phone by lid"), "{m:?}");
    assert_eq!(
        client.pn_for_lid(&m.sender.to_non_ad()).await.unwrap(),
        Some(c.clone())
    );
    let on_c: Vec<(String, Option<String>)> = c_phone
        .wait_received(2, EVENT_TIMEOUT)
        .await
        .into_iter()
        .map(|r| (r.from.user().to_owned(), r.text))
        .collect();
    assert_eq!(
        on_c,
        [
            (a_pn.to_owned(), Some("hello lid group".to_owned())),
            (b_pn.to_owned(), Some("baileys by lid".to_owned())),
        ]
    );
    assert_eq!(
        peer.unused("undecryptable"),
        Vec::<serde_json::Value>::new()
    );
    client.stop();
}

#[tokio::test]
async fn baileys_decodes_our_reactions_edits_revokes_and_replies() {
    use wa_core::proto::message::protocol_message::Type as ProtocolType;
    use wa_core::proto::message::{FutureProofMessage, ProtocolMessage, ReactionMessage};
    use wa_core::proto::{ContextInfo, Message, MessageKey};

    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let (a_pn, b_pn) = ("15557770011", "15557770012");
    let (a_phone, b_phone) = (sim.account(a_pn), sim.account(b_pn));
    let (client, _events) = our_client(&sim, &a_phone).await;
    let mut peer = Peer::start(&dir, &sim);
    peer.link(&b_phone).await;
    let b = Jid::user_jid(b_pn);
    let key = |id: &str| MessageKey {
        remote_jid: Some(b.to_string()),
        from_me: Some(true),
        id: Some(id.to_owned()),
        participant: None,
    };

    let first = client.send_text(&b, "react to me").await.unwrap();
    peer.message(&first.id).await;

    for emoji in ["👍", ""] {
        let reaction = Message {
            reaction_message: Some(ReactionMessage {
                key: Some(key(&first.id)),
                text: Some(emoji.to_owned()),
                grouping_key: None,
                sender_timestamp_ms: Some(1),
            }),
            ..Default::default()
        };
        let sent = client.send_message(&b, reaction).await.unwrap();
        let got = peer
            .event("reaction", |e| e["id"] == sent.id.as_str())
            .await;
        assert_eq!(got["target"], first.id.as_str(), "{got}");
        assert_eq!(got["text"], emoji, "{got}");
    }

    let mut edit = ProtocolMessage {
        key: Some(key(&first.id)),
        edited_message: Some(Box::new(Message {
            conversation: Some("edited".into()),
            ..Default::default()
        })),
        timestamp_ms: Some(1),
        ..Default::default()
    };
    edit.set_type(ProtocolType::MessageEdit);
    let wrapped = Message {
        edited_message: Some(Box::new(FutureProofMessage {
            message: Some(Box::new(Message {
                protocol_message: Some(Box::new(edit)),
                ..Default::default()
            })),
        })),
        ..Default::default()
    };
    let sent = client.send_message(&b, wrapped).await.unwrap();
    let got = peer.event("edit", |e| e["id"] == sent.id.as_str()).await;
    assert_eq!(got["target"], first.id.as_str(), "{got}");
    assert_eq!(got["text"], "edited", "{got}");

    let mut reply = Message {
        conversation: Some(format!("@{b_pn} about that")),
        ..Default::default()
    };
    wa_core::content::set_context_info(
        &mut reply,
        ContextInfo {
            stanza_id: Some(first.id.clone()),
            participant: Some(client.jid().to_non_ad().to_string()),
            quoted_message: Some(Box::new(Message {
                conversation: Some(String::new()),
                ..Default::default()
            })),
            mentioned_jid: vec![b.to_string()],
            ..Default::default()
        },
    );
    let sent = client.send_message(&b, reply).await.unwrap();
    let got = peer.message(&sent.id).await;
    assert_eq!(got["text"], format!("@{b_pn} about that"), "{got}");
    assert_eq!(got["replyTo"], first.id.as_str(), "{got}");
    assert_eq!(got["mentions"], serde_json::json!([b.to_string()]), "{got}");

    let mut revoke = ProtocolMessage {
        key: Some(key(&first.id)),
        ..Default::default()
    };
    revoke.set_type(ProtocolType::Revoke);
    let sent = client
        .send_message(
            &b,
            Message {
                protocol_message: Some(Box::new(revoke)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got = peer.event("revoke", |e| e["id"] == sent.id.as_str()).await;
    assert_eq!(got["target"], first.id.as_str(), "{got}");
}

/// A 1:1 message Baileys addresses to our LID arrives LID-addressed, with
/// the sender's phone number in `sender_pn`: the client records the
/// pairing, so the sender's LID reads back as their number (which the
/// bridge keys portals and ghosts by).
#[tokio::test]
async fn a_message_to_our_lid_teaches_us_the_senders_phone_number() {
    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = Sim::start(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let (a_pn, b_pn) = ("15557770021", "15557770022");
    let (a_phone, b_phone) = (sim.account(a_pn), sim.account(b_pn));
    let (client, mut events) = our_client(&sim, &a_phone).await;
    let mut peer = Peer::start(&dir, &sim);
    let open = peer.link(&b_phone).await;
    let b_lid: Jid = open["me"]["lid"]
        .as_str()
        .expect("Baileys has a LID")
        .parse::<Jid>()
        .unwrap()
        .to_non_ad();
    assert!(b_lid.is_lid(), "{b_lid}");
    assert_eq!(client.pn_for_lid(&b_lid).await.unwrap(), None);

    let our_lid = client.lid().to_non_ad().to_string();
    let id = peer.send_text(&our_lid, "to your lid").await;
    let m = events
        .wait("Baileys' message to our LID", |e| match e {
            ClientEvent::Message(m) if m.id == id => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(m.text(), Some("to your lid"));
    assert_eq!(m.chat, b_lid, "the chat is named as it was addressed");
    assert_eq!(
        client.pn_for_lid(&m.chat).await.unwrap(),
        Some(Jid::user_jid(b_pn)),
        "sender_pn taught us the number"
    );
    assert_eq!(
        client.pn_for_lid(&Jid::user_jid(b_pn)).await.unwrap(),
        None,
        "a phone number is not a LID"
    );
}

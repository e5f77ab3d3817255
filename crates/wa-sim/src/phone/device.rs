//! The phone as a Signal device (device 0): it receives what is routed to it,
//! decrypts, records and acknowledges it with a delivery receipt, and sends
//! texts with client fan-out like a real primary device.

use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use prost::Message as _;
use tokio::sync::{Notify, mpsc};
use tracing::warn;
use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};
use wa_core::proto::Message;
use wa_core::proto::message::DeviceSentMessage;
use wa_core::signal::{self, EncType, MemoryStore, SignalAddress, SignalError};

use crate::server::{Push, Shared, route};

/// A message the phone received and decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Message id.
    pub id: String,
    /// Sending device, PN form.
    pub from: Jid,
    /// The chat: the other party (for copies of our own companions' messages,
    /// the chat they wrote to).
    pub chat: Jid,
    /// Text, for text messages.
    pub text: Option<String>,
    /// True for copies of messages our own companions sent.
    pub from_me: bool,
    /// The whole message (for copies: the one inside `deviceSentMessage`).
    pub message: Message,
    /// The sender's push name as the server gave it (`notify`).
    pub push_name: Option<String>,
}

/// Why the phone could not send or read a message.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// No such account.
    #[error("no account {0}")]
    NoAccount(String),
    /// Signal failed.
    #[error("signal: {0}")]
    Signal(#[from] SignalError),
    /// A stanza without what it needs.
    #[error("malformed stanza: {0}")]
    Malformed(&'static str),
    /// A retry receipt that is not well-formed.
    #[error("retry receipt: {0}")]
    Retry(#[from] wa_core::retry::RetryError),
    /// The phone's own app state does not verify.
    #[error("app state: {0}")]
    AppState(#[from] wa_core::appstate::AppStateError),
    /// The server refused the message (`<ack error>`).
    #[error("server refused the message: {0}")]
    Refused(String),
    /// An app-state push still conflicted after several rebases.
    #[error("app-state push to {0} kept conflicting")]
    AppStateConflict(&'static str),
}

/// How many sent messages the phone keeps for answering retry receipts.
pub(crate) const KEEP_SENT: usize = 500;

/// A message the phone sent, kept for resending on a retry receipt.
#[derive(Clone)]
pub(crate) struct Sent {
    pub(crate) id: String,
    /// The peer's user JID, or the group.
    pub(crate) chat: Jid,
    pub(crate) message: Message,
}

/// The phone's Signal state and inbox.
pub(crate) struct PhoneDevice {
    store: tokio::sync::Mutex<MemoryStore>,
    /// Devices that hold our sender key, per group.
    sender_key_holders: Mutex<std::collections::HashSet<(Jid, (String, u16))>>,
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    /// The last [`KEEP_SENT`] messages sent, oldest first.
    sent: Mutex<VecDeque<Sent>>,
    /// Retry receipts sent so far, by (message id, sending device).
    pub(crate) retries: Mutex<HashMap<(String, Jid), u32>>,
    /// The id of the next one-time prekey made for a retry receipt's keys.
    pub(crate) next_retry_prekey: std::sync::atomic::AtomicU32,
    /// App-state keys and collections.
    pub(crate) app_state: tokio::sync::Mutex<super::appstate::AppStateSide>,
    /// The history script and what was sent of it.
    pub(crate) history: Mutex<super::history::HistorySide>,
    /// Read receipts and chat states received.
    pub(crate) seen: Mutex<super::seen::Seen>,
}

impl std::fmt::Debug for PhoneDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneDevice").finish_non_exhaustive()
    }
}

impl PhoneDevice {
    pub(crate) fn new(store: MemoryStore) -> PhoneDevice {
        PhoneDevice {
            store: tokio::sync::Mutex::new(store),
            sender_key_holders: Mutex::default(),
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            sent: Mutex::default(),
            retries: Mutex::default(),
            // Clear of the ids the phone publishes (1..=PHONE_PREKEYS).
            next_retry_prekey: std::sync::atomic::AtomicU32::new(0x0001_0000),
            app_state: tokio::sync::Mutex::default(),
            history: Mutex::default(),
            seen: Mutex::default(),
        }
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn has_sender_key(&self, gid: &Jid, device: &(String, u16)) -> bool {
        self.sender_key_holders
            .lock()
            .is_ok_and(|h| h.contains(&(gid.clone(), device.clone())))
    }

    fn remember_sender_key(&self, gid: &Jid, device: (String, u16)) {
        if let Ok(mut h) = self.sender_key_holders.lock() {
            h.insert((gid.clone(), device));
        }
    }

    pub(crate) fn arrived(&self) -> &Notify {
        &self.arrived
    }

    pub(crate) fn store(&self) -> &tokio::sync::Mutex<MemoryStore> {
        &self.store
    }

    /// Keeps a sent message for retries, forgetting the oldest past
    /// [`KEEP_SENT`].
    fn remember_sent(&self, sent: Sent) {
        if let Ok(mut s) = self.sent.lock() {
            if s.len() >= KEEP_SENT {
                s.pop_front();
            }
            s.push_back(sent);
        }
    }

    /// A kept sent message.
    pub(crate) fn sent(&self, id: &str) -> Option<Sent> {
        self.sent
            .lock()
            .ok()?
            .iter()
            .rev()
            .find(|s| s.id == id)
            .cloned()
    }
}

/// Runs the phone of `pn`: everything routed to device 0 comes through `rx`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    pn: String,
    device: Arc<PhoneDevice>,
    mut rx: mpsc::UnboundedReceiver<Push>,
) {
    while let Some(push) = rx.recv().await {
        let Push::Deliver(node) = push else {
            continue;
        };
        if node.tag == "receipt" && node.attr_str("type") == Some(wa_core::retry::RECEIPT_TYPE) {
            if let Err(e) = super::retry::answer(&shared, &pn, &device, &node).await {
                warn!(%pn, error = %e, "phone could not answer a retry receipt");
            }
            continue;
        }
        super::seen::record(&device, &node);
        if node.tag == "receipt" {
            super::history::record_receipt(&device, &node);
            continue;
        }
        if node.tag != "message" {
            continue;
        }
        match receive(&shared, &device, &node).await {
            Ok(Some(received)) => {
                if let Some(from) = node.attr_jid("from").filter(|_| !received.from_me) {
                    let mut receipt = Node::new("receipt")
                        .attr("id", received.id.clone())
                        .attr("to", from.clone());
                    if let Some(p) = node.attr_jid("participant") {
                        receipt = receipt.attr("participant", p.clone());
                    }
                    route::receipt(&shared, &(pn.clone(), 0), &receipt);
                }
                super::retry::forget(&device, &node);
                if let Ok(mut r) = device.received.lock() {
                    r.push(received);
                }
                device.arrived.notify_waiters();
            }
            Ok(None) => super::retry::forget(&device, &node),
            Err(PhoneError::Signal(e)) => {
                // As real clients do: ask the sender to encrypt it again.
                warn!(%pn, error = %e, "phone could not decrypt a message");
                if let Err(e) = super::retry::request(&shared, &pn, &device, &node).await {
                    warn!(%pn, error = %e, "phone could not ask for a retry");
                }
            }
            Err(e) => warn!(%pn, error = %e, "phone could not read a message"),
        }
    }
}

/// The sender's LID device JID: the address its Signal session lives under.
pub(crate) fn lid_address(shared: &Shared, jid: &Jid) -> Option<(Jid, SignalAddress)> {
    let state = shared.state();
    let (pn, device) = state.resolve(jid)?;
    let account = state.accounts.get(&pn)?;
    let lid = account.lid_jid(device);
    let addr = SignalAddress::from_jid(&lid).ok()?;
    Some((account.pn_jid(device), addr))
}

async fn receive(
    shared: &Shared,
    device: &PhoneDevice,
    node: &Node,
) -> Result<Option<Received>, PhoneError> {
    let from = node
        .attr_jid("from")
        .ok_or(PhoneError::Malformed("no from"))?;
    let id = node.attr_str("id").unwrap_or_default().to_owned();
    // In a group the sender is the `participant`; the sender key is named by
    // the group and that device.
    let group = from.is_group().then(|| from.clone());
    let sender = match &group {
        Some(_) => node
            .attr_jid("participant")
            .ok_or(PhoneError::Malformed("group message without participant"))?,
        None => from,
    };
    let (from_pn, addr) =
        lid_address(shared, sender).ok_or(PhoneError::Malformed("unknown sender"))?;
    let content = decrypt(device, node, group.as_ref(), &addr).await?;
    let Some(message) = content else {
        return Ok(None);
    };
    let (message, chat, from_me) = match message.device_sent_message {
        Some(dsm) => {
            let destination = dsm
                .destination_jid
                .as_deref()
                .and_then(|j| j.parse::<Jid>().ok())
                .ok_or(PhoneError::Malformed(
                    "deviceSentMessage without destination",
                ))?;
            // A chat named by LID is the same chat as its phone number's,
            // as the phone shows it.
            let chat = match lid_address(shared, &destination) {
                Some((pn, _)) if destination.server() == &Server::Lid => pn.to_non_ad(),
                _ => destination,
            };
            (dsm.message.map(|m| *m).unwrap_or_default(), chat, true)
        }
        None => (message, group.unwrap_or_else(|| from_pn.to_non_ad()), false),
    };
    let text = message.conversation.clone().or_else(|| {
        message
            .extended_text_message
            .as_ref()
            .and_then(|e| e.text.clone())
    });
    Ok(Some(Received {
        id,
        from: from_pn,
        chat,
        text,
        from_me,
        message,
        push_name: node.attr_str("notify").map(str::to_owned),
    }))
}

/// Decrypts the `<enc>`s of a message from `addr` (in `group`, if any),
/// pairwise first (it may carry the sender key), then the skmsg; stores
/// the sender keys they carry. The content, unless they carried only a
/// sender key.
async fn decrypt(
    device: &PhoneDevice,
    node: &Node,
    group: Option<&Jid>,
    addr: &SignalAddress,
) -> Result<Option<Message>, PhoneError> {
    let mut content = None;
    let mut store = device.store.lock().await;
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    // Pairwise first (it may carry the sender key), then the skmsg.
    for enc in node.children_by_tag("enc") {
        let ciphertext = enc
            .content_bytes()
            .ok_or(PhoneError::Malformed("empty enc"))?;
        let padded = match (enc.attr_str("type").unwrap_or_default(), group) {
            ("skmsg", Some(g)) => signal::group_decrypt(&mut *store, g, addr, ciphertext).await?,
            ("skmsg", None) => return Err(PhoneError::Malformed("skmsg outside a group")),
            (kind, _) => {
                let kind =
                    EncType::from_str(kind).map_err(|_| PhoneError::Malformed("enc type"))?;
                signal::decrypt(&mut *store, addr, kind, ciphertext, &mut rng).await?
            }
        };
        let message = Message::decode(signal::unpad(&padded)?)
            .map_err(|_| PhoneError::Malformed("not a Message"))?;
        let skdm = message
            .sender_key_distribution_message
            .as_ref()
            .and_then(|d| d.axolotl_sender_key_distribution_message.as_deref());
        if let (Some(g), Some(bytes)) = (group, skdm) {
            signal::process_sender_key_distribution(&mut *store, g, addr, bytes).await?;
        }
        let only_key = skdm.is_some()
            && message.conversation.is_none()
            && message.extended_text_message.is_none()
            && message.device_sent_message.is_none();
        if !only_key {
            content = Some(message);
        }
    }
    Ok(content)
}

/// Starts a session with `addr` (device `tdev` of `tpn`) from a bundle the
/// server hands out, unless there is one already.
async fn ensure_session(
    shared: &Shared,
    store: &mut MemoryStore,
    addr: &SignalAddress,
    (tpn, tdev): (&str, u16),
    rng: &mut rand::rngs::StdRng,
) -> Result<(), PhoneError> {
    if !signal::has_session(store, addr).await? {
        let bundle = shared
            .state()
            .accounts
            .get_mut(tpn)
            .and_then(|a| a.take_bundle(tdev))
            .ok_or(PhoneError::Malformed("no bundle"))?;
        signal::process_prekey_bundle(store, addr, &bundle, rng).await?;
    }
    Ok(())
}

/// The devices a 1:1 message from `pn` to `to` goes to: the peer's phone
/// and companions, then our own companions.
fn direct_targets(shared: &Shared, pn: &str, to: &str) -> Result<Vec<(String, u16)>, PhoneError> {
    let state = shared.state();
    let peer = state
        .accounts
        .get(to)
        .ok_or_else(|| PhoneError::NoAccount(to.to_owned()))?;
    let own = state
        .accounts
        .get(pn)
        .ok_or_else(|| PhoneError::NoAccount(pn.to_owned()))?;
    Ok(std::iter::once(0)
        .chain(peer.companions.keys().copied())
        .map(|d| (to.to_owned(), d))
        .chain(own.companions.keys().map(|d| (pn.to_owned(), *d)))
        .collect())
}

/// Sends `message` from the phone of `pn` to the account `to` (a phone
/// number), addressed by its LID when `by_lid` (as clients do once they
/// know it): one `<enc>` per device of the peer and per companion of our
/// own (those get a `deviceSentMessage`), sessions built from fetched
/// bundles.
pub(crate) async fn send_message(
    shared: &Arc<Shared>,
    device: &PhoneDevice,
    pn: &str,
    (to, by_lid): (&str, bool),
    message: Message,
) -> Result<String, PhoneError> {
    let id = format!("3EB0{:016X}", rand::random::<u64>());
    let chat = if by_lid {
        shared
            .state()
            .accounts
            .get(to)
            .ok_or_else(|| PhoneError::NoAccount(to.to_owned()))?
            .lid_jid(0)
    } else {
        Jid::user_jid(to)
    };
    let attrs = wa_core::content::stanza_attrs(&message);
    let own_copy = Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some(chat.to_string()),
            message: Some(Box::new(message.clone())),
            phash: None,
        })),
        ..Default::default()
    };
    let targets = direct_targets(shared, pn, to)?;
    let mut participants = Vec::new();
    let mut store = device.store.lock().await;
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    for (tpn, tdev) in targets {
        let (pn_jid, addr) =
            lid_address(shared, &Jid::with_device(tpn.clone(), tdev, Server::User))
                .ok_or(PhoneError::Malformed("target vanished"))?;
        ensure_session(shared, &mut store, &addr, (&tpn, tdev), &mut rng).await?;
        let body = if tpn == pn { &own_copy } else { &message };
        let padded = signal::pad(&body.encode_to_vec(), rand::random::<u8>());
        let (kind, ciphertext) = signal::encrypt(&mut *store, &addr, &padded).await?;
        // Devices are named in the chat's addressing, as every client does.
        let wire = if by_lid {
            shared
                .state()
                .accounts
                .get(&tpn)
                .map_or(pn_jid, |a| a.lid_jid(tdev))
        } else {
            pn_jid
        };
        participants.push(Node::new("to").attr("jid", wire).children(vec![
            Node::new("enc")
                .attr("v", "2")
                .attr("type", kind.as_str())
                .bytes(ciphertext),
        ]));
    }
    drop(store);
    device.remember_sent(Sent {
        id: id.clone(),
        chat: chat.clone(),
        message,
    });
    let stanza = Node::new("message")
        .attr("id", id.clone())
        .attr("to", chat)
        .attr("type", attrs.kind);
    let stanza = match attrs.edit {
        Some(edit) => stanza.attr("edit", edit),
        None => stanza,
    };
    let mut children = vec![Node::new("participants").children(participants)];
    if let Some(kind) = attrs.poll_type {
        children.push(Node::new("meta").attr("polltype", kind));
    }
    let stanza = stanza.children(children);
    let ack = route::message(shared, &(pn.to_owned(), 0), &stanza);
    if let Some(code) = ack.attr_str("error") {
        return Err(PhoneError::Refused(code.to_owned()));
    }
    // The official app gives a contact its privacy token once it writes to
    // them (whatsmeow send.go, Baileys messages-send.js).
    let mut state = shared.state();
    if !state.tokens.has_issued(pn, to) {
        crate::server::tokens::issue(&mut state, pn, to);
    }
    Ok(id)
}

/// Who a group message from the phone goes to, and as whom.
struct GroupTargets {
    /// Every member's device but this phone.
    devices: Vec<(String, u16)>,
    /// Our own address, which the sender key is named by.
    own: SignalAddress,
    /// The group is addressed by LID.
    lid_group: bool,
}

/// The [`GroupTargets`] of a message from `pn` into `gid`; fails unless
/// `pn` is a member.
fn group_targets(shared: &Shared, pn: &str, gid: &Jid) -> Result<GroupTargets, PhoneError> {
    let state = shared.state();
    let group = state
        .groups
        .get(gid.user())
        .ok_or(PhoneError::Malformed("no such group"))?;
    let lid_group = group.lid;
    if !group.members.contains_key(pn) {
        return Err(PhoneError::Malformed("not a member of the group"));
    }
    let targets: Vec<(String, u16)> = group
        .members
        .keys()
        .flat_map(|m| state.devices_of(m).into_iter().map(move |d| (m.clone(), d)))
        .filter(|(m, d)| !(m == pn && *d == 0))
        .collect();
    let own = state
        .accounts
        .get(pn)
        .ok_or_else(|| PhoneError::NoAccount(pn.to_owned()))?
        .lid_jid(0);
    Ok(GroupTargets {
        devices: targets,
        own: SignalAddress::from_jid(&own)?,
        lid_group,
    })
}

/// Sends `text` from the phone of `pn` into group `gid`: the sender key goes
/// pairwise to every member device that lacks it, the text once as `skmsg`.
pub(crate) async fn send_group_message(
    shared: &Arc<Shared>,
    device: &PhoneDevice,
    pn: &str,
    gid: &Jid,
    body: Message,
) -> Result<String, PhoneError> {
    let id = format!("3EB0{:016X}", rand::random::<u64>());
    let GroupTargets {
        devices: targets,
        own,
        lid_group,
    } = group_targets(shared, pn, gid)?;
    let mut store = device.store.lock().await;
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    let skdm = signal::create_sender_key_distribution(&mut *store, gid, &own, &mut rng).await?;
    let key_message = Message {
        sender_key_distribution_message: Some(
            wa_core::proto::message::SenderKeyDistributionMessage {
                group_id: Some(gid.to_string()),
                axolotl_sender_key_distribution_message: Some(skdm),
            },
        ),
        ..Default::default()
    };
    let mut participants = Vec::new();
    for target in targets {
        if device.has_sender_key(gid, &target) {
            continue;
        }
        let (pn_jid, addr) = lid_address(
            shared,
            &Jid::with_device(target.0.clone(), target.1, Server::User),
        )
        .ok_or(PhoneError::Malformed("target vanished"))?;
        ensure_session(shared, &mut store, &addr, (&target.0, target.1), &mut rng).await?;
        let padded = signal::pad(&key_message.encode_to_vec(), rand::random::<u8>());
        let (kind, ciphertext) = signal::encrypt(&mut *store, &addr, &padded).await?;
        let wire = if lid_group {
            let state = shared.state();
            crate::server::groups::member_jids(&state, &target.0, target.1, true).0
        } else {
            pn_jid
        };
        participants.push(Node::new("to").attr("jid", wire).children(vec![
            Node::new("enc").attr("v", "2").attr("type", kind.as_str()).bytes(ciphertext),
        ]));
        device.remember_sender_key(gid, target);
    }
    let attrs = wa_core::content::stanza_attrs(&body);
    let padded = signal::pad(&body.encode_to_vec(), rand::random::<u8>());
    let skmsg = signal::group_encrypt(&mut *store, gid, &own, &padded, &mut rng).await?;
    drop(store);
    device.remember_sent(Sent {
        id: id.clone(),
        chat: gid.clone(),
        message: body,
    });
    let mut children = vec![
        Node::new("enc")
            .attr("v", "2")
            .attr("type", "skmsg")
            .bytes(skmsg),
    ];
    if !participants.is_empty() {
        children.push(Node::new("participants").children(participants));
    }
    let mut stanza = Node::new("message")
        .attr("id", id.clone())
        .attr("to", gid.clone())
        .attr("type", attrs.kind);
    if let Some(edit) = attrs.edit {
        stanza = stanza.attr("edit", edit);
    }
    if lid_group {
        stanza = stanza.attr("addressing_mode", "lid");
    }
    let ack = route::message(shared, &(pn.to_owned(), 0), &stanza.children(children));
    if let Some(code) = ack.attr_str("error") {
        return Err(PhoneError::Refused(code.to_owned()));
    }
    Ok(id)
}

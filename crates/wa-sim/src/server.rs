//! The simulated server: accepts WebSocket connections on an injected
//! listener, runs the Noise responder with a certificate chain made at start,
//! registers and pairs companions (scanned by scripted phones), and logs
//! paired companions in by their Noise static key.

pub mod agent;
pub mod appstate;
mod communities;
mod faults;
pub(crate) mod groups;
mod login;
pub(crate) mod pictures;
mod populate;
pub(crate) mod record;
pub use populate::POPULATED_PREKEYS;
mod register;
pub(crate) mod route;
pub(crate) mod session;
mod settings;
pub(crate) mod tokens;
mod usync;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{debug, info, warn};
use wa_core::binary::{self, Node};
use wa_core::frame::{self, ServerFrameDecoder};
use wa_core::jid::{Jid, Server};
use wa_core::keys::KeyPair;
use wa_core::noise::ServerHandshake;
use wa_core::noise::cert::{self, ChainParams};
use wa_core::proto::{AdvSignedDeviceIdentity, ClientPayload};

use crate::account::{self, Account, BundleKeys};
use crate::phone::{Phone, ScanError};
use session::{Conn, Session};

/// Refs handed out per registration (the client shows them one after another).
pub const REFS_PER_PAIRING: usize = 6;

/// A companion that asked to be paired: what its QR codes will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The client's Noise static public key.
    pub noise_key: [u8; 32],
    /// The client's Signal identity public key (`eIdent`).
    pub identity_key: Vec<u8>,
    /// The refs sent in `pair-device`, in order.
    pub refs: Vec<String>,
    /// Its Signal keys from `devicePairingData` (no one-time prekeys yet).
    pub keys: BundleKeys,
    /// `DeviceProps.os`: the name the phone lists the device by.
    pub device_name: Option<String>,
}

/// What other parts of the simulator push into a live connection.
#[derive(Debug)]
pub(crate) enum Push {
    /// A phone scanned this registration's QR: send `pair-success`.
    Pair(Box<PairRequest>),
    /// The phone removed this companion: end its stream with 401.
    LoggedOut,
    /// A stanza routed to this device.
    Deliver(Node),
    /// Cut the socket without a word (fault injection).
    Cut,
}

/// Everything a registration connection needs to finish a pairing.
#[derive(Debug)]
pub(crate) struct PairRequest {
    pub(crate) pn: String,
    pub(crate) device: u16,
    pub(crate) key_index: u32,
    pub(crate) iq: Node,
    pub(crate) iq_id: String,
    pub(crate) account_key: [u8; 32],
    pub(crate) noise_key: [u8; 32],
    pub(crate) identity_key: Vec<u8>,
    pub(crate) keys: BundleKeys,
    pub(crate) device_name: Option<String>,
    pub(crate) signed: AdvSignedDeviceIdentity,
    pub(crate) done: oneshot::Sender<Result<Jid, ScanError>>,
}

#[derive(Debug)]
pub(crate) struct PendingPairing {
    pub(crate) registration: Registration,
    pub(crate) push: mpsc::UnboundedSender<Push>,
    /// When the refs were sent.
    pub(crate) issued: tokio::time::Instant,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) accounts: BTreeMap<String, Account>,
    pub(crate) pending: HashMap<String, Arc<PendingPairing>>,
    pub(crate) registrations: Vec<Registration>,
    pub(crate) online: HashMap<(String, u16), mpsc::UnboundedSender<Push>>,
    /// The shared state itself, for delayed deliveries.
    pub(crate) me: std::sync::Weak<Shared>,
    /// Stanzas for devices that were offline, delivered at their next login.
    pub(crate) offline: HashMap<(String, u16), Vec<Node>>,
    /// LID user -> phone number.
    pub(crate) lids: HashMap<String, String>,
    /// Push names set with `<presence name>`, by phone number.
    pub(crate) push_names: HashMap<String, String>,
    /// How long the first ref lives, and each later one after it.
    pub(crate) ref_lifetimes: Option<(Duration, Duration)>,
    /// Armed faults.
    pub(crate) faults: faults::Faults,
    /// Last presence of each account: (available, when).
    pub(crate) presence: HashMap<String, (bool, u64)>,
    /// Presence subscriptions: target account -> subscribed devices.
    pub(crate) subscribers: HashMap<String, Vec<(String, u16)>>,
    /// Groups by id (the user part of `...@g.us`).
    pub(crate) groups: BTreeMap<String, groups::Group>,
    /// The scripted phones' Signal devices, by phone number.
    pub(crate) phones: HashMap<String, Arc<crate::phone::device::PhoneDevice>>,
    /// Every `<enc>` routed: (from device, to device, enc type), for tests.
    pub(crate) routed: Vec<Routed>,
    /// Each account's signed key-index list, by phone number.
    pub(crate) key_index_lists: HashMap<String, usync::SignedList>,
    /// App-state collections, by phone number.
    pub(crate) app_state: appstate::Store,
    /// Privacy settings and blocklists.
    pub(crate) settings: settings::Settings,
    /// Trusted-contact tokens and reach-out restrictions.
    pub(crate) tokens: tokens::Tokens,
    /// Every client payload received, in order, as encoded (for tests
    /// that compare clients).
    pub(crate) payloads: Vec<Vec<u8>>,
    /// The stanzas logged-in devices sent, when recording.
    pub(crate) recorder: record::Recorder,
    /// New groups are addressed by LID (else by phone number).
    pub(crate) lid_groups: bool,
    /// How many members a group may have, if not the service's
    /// ([`groups::MAX_MEMBERS`]).
    pub(crate) group_size_limit: Option<usize>,
    /// Accounts whose phone number the server leaves out of LID-addressed
    /// stanzas to others (no `sender_pn`, `participant_pn`, member
    /// `phone_number`).
    pub(crate) hidden_numbers: std::collections::HashSet<String>,
    /// Profile and group pictures, by phone number or group JID string.
    pub(crate) pictures: HashMap<String, pictures::Picture>,
    /// The last `<ib><unified_session id>` of each device.
    pub(crate) unified_sessions: HashMap<(String, u16), String>,
    /// The oldest WhatsApp Web version let in; `None`:
    /// [`agent::DEFAULT_MIN_VERSION`].
    pub(crate) min_version: Option<wa_core::payload::WebVersion>,
    next_lid: u64,
}

/// One end-to-end encrypted payload the server routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Sending device (PN form).
    pub from: Jid,
    /// Receiving device (PN form).
    pub to: Jid,
    /// `pkmsg`, `msg` or `skmsg`.
    pub enc_type: String,
    /// The `<enc>` payload as routed, so a test can show who can (not)
    /// decrypt it.
    pub ciphertext: Vec<u8>,
}

impl State {
    /// Whether LID-addressed stanzas to others may carry account `pn`'s
    /// phone number.
    pub(crate) fn number_shown(&self, pn: &str) -> bool {
        !self.hidden_numbers.contains(pn)
    }

    /// The account and device a JID (PN or LID form) names, if both exist.
    pub(crate) fn resolve(&self, jid: &Jid) -> Option<(String, u16)> {
        let pn = match jid.server() {
            wa_core::jid::Server::User => jid.user().to_owned(),
            wa_core::jid::Server::Lid => self.lids.get(jid.user())?.clone(),
            _ => return None,
        };
        let account = self.accounts.get(&pn)?;
        let device = jid.device();
        (device == 0 || account.companions.contains_key(&device)).then_some((pn, device))
    }

    /// The devices of an account: the phone (0) and its companions.
    pub(crate) fn devices_of(&self, pn: &str) -> Vec<u16> {
        self.accounts
            .get(pn)
            .map(|a| {
                std::iter::once(0)
                    .chain(a.companions.keys().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Hands `node` to the device's connection, or queues it until its next login.
    pub(crate) fn deliver(&mut self, target: &(String, u16), mut node: Node) {
        self.faults.corrupt(target, &mut node);
        match self.faults.fate(target) {
            faults::Fate::Deliver => {}
            faults::Fate::Drop => return,
            faults::Fate::Delay(after) => {
                let shared = self.me.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    if let Some(shared) = shared.upgrade() {
                        shared.state().deliver_now(&target, node);
                    }
                });
                return;
            }
        }
        self.deliver_now(target, node);
    }

    /// Delivers without consulting the faults.
    pub(crate) fn deliver_now(&mut self, target: &(String, u16), node: Node) {
        let node = match self.online.get(target) {
            Some(tx) => match tx.send(Push::Deliver(node)) {
                Ok(()) => return,
                Err(mpsc::error::SendError(Push::Deliver(node))) => node,
                Err(_) => return,
            },
            None => node,
        };
        self.offline.entry(target.clone()).or_default().push(node);
    }
}

pub(crate) struct Shared {
    pub(crate) media: crate::media::MediaServer,
    static_key: KeyPair,
    chain: Vec<u8>,
    state: Mutex<State>,
    registered: Notify,
}

impl Shared {
    /// The state; a poisoned lock (a panicked task) is taken over, not spread.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulator.
pub struct Sim {
    root: KeyPair,
    url: String,
    shared: Arc<Shared>,
    shutdown: Arc<Notify>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Starts serving on `listener` (bind `127.0.0.1:0` in tests).
    pub async fn start(listener: TcpListener) -> std::io::Result<Sim> {
        let mut rng = rand::rng();
        let root = KeyPair::generate(&mut rng);
        let static_key = KeyPair::generate(&mut rng);
        let now = unix_now();
        let chain = cert::issue_chain(
            &root,
            static_key.public(),
            &ChainParams {
                intermediate_serial: 1,
                leaf_serial: 2,
                not_before: now.saturating_sub(3600),
                not_after: now + 10 * 365 * 24 * 3600,
            },
            &mut rng,
        );
        let url = format!("ws://{}/ws/chat", listener.local_addr()?);
        let shutdown = Arc::new(Notify::new());
        let media = crate::media::MediaServer::start().await?;
        let shared = Arc::new(Shared {
            media,
            static_key,
            chain,
            state: Mutex::new(State::default()),
            registered: Notify::new(),
        });
        shared.state().me = Arc::downgrade(&shared);
        tokio::spawn(accept_loop(listener, shared.clone(), shutdown.clone()));
        info!(%url, root = %hex::encode(root.public()), "wa-sim listening");
        Ok(Sim {
            root,
            url,
            shared,
            shutdown,
        })
    }

    /// The root public key clients must trust (instead of the production one).
    pub fn root_public_key(&self) -> [u8; 32] {
        *self.root.public()
    }

    /// The WebSocket URL clients connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Makes the media host fail downloads of `direct_path` as `fault`
    /// says (an error status, or a body cut short).
    pub fn media_fault(&self, direct_path: &str, fault: crate::media::MediaFault) {
        self.shared.media.set_fault(direct_path, fault);
    }

    /// The media host, `127.0.0.1:PORT` (HTTPS), as `media_conn` names it.
    pub fn media_host(&self) -> &str {
        self.shared.media.host()
    }

    /// A PEM file with the CA that signed the media host's certificate, for
    /// clients to trust (Node: `NODE_EXTRA_CA_CERTS`).
    pub fn media_ca_pem_path(&self) -> &std::path::Path {
        self.shared.media.ca_pem_path()
    }

    /// The blob stored at `direct_path` on the media host (a query is
    /// ignored), as a client would download it: still encrypted.
    pub fn media_blob(&self, direct_path: &str) -> Option<bytes::Bytes> {
        self.shared.media.get_blob(direct_path)
    }

    /// Creates an account with phone number `pn` (digits) and returns its
    /// scripted phone. An existing account's phone is returned as is.
    pub fn account(&self, pn: &str) -> Phone {
        let mut state = self.shared.state();
        if !state.accounts.contains_key(pn) {
            let identity = KeyPair::generate(&mut rand::rng());
            let (phone_keys, store) = match account::phone_keys(&identity) {
                Ok(k) => k,
                Err(e) => {
                    // Fresh random keys are always valid; say so loudly if not.
                    tracing::error!(error = %e, "could not make the phone's keys");
                    return Phone::new(self.shared.clone(), pn.to_owned());
                }
            };
            let device = Arc::new(crate::phone::device::PhoneDevice::new(store));
            let (tx, rx) = mpsc::unbounded_channel();
            state.online.insert((pn.to_owned(), 0), tx);
            state.phones.insert(pn.to_owned(), device.clone());
            tokio::spawn(crate::phone::device::run(
                self.shared.clone(),
                pn.to_owned(),
                device,
                rx,
            ));
            state.next_lid += 1;
            let lid = format!("{}", 100_000_000_000_000 + state.next_lid);
            let account = Account {
                pn: pn.to_owned(),
                lid,
                identity,
                phone_keys,
                raw_id: rand::random::<u32>() >> 1,
                companions: BTreeMap::new(),
                next_key_index: 1,
            };
            state.lids.insert(account.lid.clone(), pn.to_owned());
            state.accounts.insert(pn.to_owned(), account);
        }
        Phone::new(self.shared.clone(), pn.to_owned())
    }

    /// How many one-time prekeys companion `device` of `pn` has on the server.
    pub fn prekey_count(&self, pn: &str, device: u16) -> usize {
        self.shared
            .state()
            .accounts
            .get(pn)
            .and_then(|a| a.companions.get(&device))
            .map_or(0, |c| c.keys.prekeys.len())
    }

    /// Every end-to-end payload routed so far, in order.
    pub fn routed(&self) -> Vec<Routed> {
        self.shared.state().routed.clone()
    }

    /// Stanzas queued for a device that is offline (the scripted phone, for now).
    pub fn queued(&self, pn: &str, device: u16) -> usize {
        self.shared
            .state()
            .offline
            .get(&(pn.to_owned(), device))
            .map_or(0, Vec::len)
    }

    /// The last presence an account's devices sent: `Some(true)` available,
    /// `Some(false)` unavailable, `None` never.
    pub fn presence(&self, pn: &str) -> Option<bool> {
        self.shared.state().presence.get(pn).map(|(a, _)| *a)
    }

    /// Group `gid`'s subject and description as the server has them.
    pub fn group_subject_and_description(&self, gid: &Jid) -> Option<(String, Option<String>)> {
        let state = self.shared.state();
        let g = state.groups.get(gid.user())?;
        Some((
            g.subject.clone(),
            g.description.as_ref().map(|(_, d)| d.clone()),
        ))
    }

    /// Group `gid`'s members by phone number, with their role (`admin`,
    /// `superadmin`) if any, as the server has them.
    pub fn group_members(&self, gid: &Jid) -> Option<BTreeMap<String, Option<&'static str>>> {
        let state = self.shared.state();
        Some(state.groups.get(gid.user())?.members.clone())
    }

    /// The group named `subject`, if there is one; of a community, its
    /// parent group (its announcement group has the same subject).
    pub fn group_by_subject(&self, subject: &str) -> Option<Jid> {
        let state = self.shared.state();
        let (gid, _) = state
            .groups
            .iter()
            .find(|(_, g)| g.subject == subject && !g.default_sub)?;
        Some(Jid::new(gid.clone(), wa_core::jid::Server::Group))
    }

    /// Group `gid`'s settings: (announcement, locked).
    pub fn group_settings(&self, gid: &Jid) -> Option<(bool, bool)> {
        let state = self.shared.state();
        let g = state.groups.get(gid.user())?;
        Some((g.announce, g.locked))
    }

    /// The push name `pn`'s devices last gave with their presence.
    pub fn push_name(&self, pn: &str) -> Option<String> {
        self.shared.state().push_names.get(pn).cloned()
    }

    /// Sets the push name the server gives `pn`'s messages (`notify`), as
    /// a presence of theirs with that name would: a contact renaming
    /// themselves.
    pub fn set_push_name(&self, pn: &str, name: &str) {
        self.shared
            .state()
            .push_names
            .insert(pn.to_owned(), name.to_owned());
    }

    /// Forgets every push name the devices' presence gave, as a server
    /// that has not heard them yet (notify falls back to the number).
    pub fn forget_push_names(&self) {
        self.shared.state().push_names.clear();
    }

    /// The devices subscribed to `pn`'s presence.
    pub fn presence_subscribers(&self, pn: &str) -> Vec<(String, u16)> {
        self.shared
            .state()
            .subscribers
            .get(pn)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets the oldest WhatsApp Web version whose payloads are let in;
    /// older ones (and payloads with no version) get `<failure
    /// reason="405"/>`, as the real service answers an outdated client.
    pub fn set_min_version(&self, min: wa_core::payload::WebVersion) {
        self.shared.state().min_version = Some(min);
    }

    /// Sets how long pairing refs stay scannable: the first `first`, each
    /// later one `later` more (the real service: 60 s, then 20 s each).
    pub fn set_ref_lifetimes(&self, first: Duration, later: Duration) {
        self.shared.state().ref_lifetimes = Some((first, later));
    }

    /// Puts the account `pn` under a reach-out restriction (or lifts it):
    /// its 1:1 messages then need the recipient's privacy token, else the
    /// server refuses them with `<ack error="463">`.
    pub fn restrict_reachout(&self, pn: &str, on: bool) {
        self.shared.state().tokens.restrict(pn, on);
    }

    /// Sets the server prop with config code `code` (what the `abt` props
    /// query answers, for sessions started from now on); `None` restores
    /// the default.
    pub fn set_prop(&self, code: &str, value: Option<&str>) {
        self.shared.state().settings.set_prop(code, value);
    }

    /// Every `ClientPayload` received so far (registrations and logins, in
    /// order), as the client encoded it.
    pub fn client_payloads(&self) -> Vec<Vec<u8>> {
        self.shared.state().payloads.clone()
    }

    /// Makes groups created from now on LID-addressed (`addressing_mode=
    /// "lid"`, as the service makes new groups now) or, with `false`,
    /// phone-number addressed (the default here).
    pub fn address_groups_by_lid(&self, on: bool) {
        self.shared.state().lid_groups = on;
    }

    /// Lets groups have at most `limit` members (the service's is
    /// 1024): adding more is refused (`error="500"`, group full).
    pub fn limit_group_size(&self, limit: usize) {
        self.shared.state().group_size_limit = Some(limit);
    }

    /// The picture (JPEG) of an account or group, as WhatsApp has it.
    pub fn picture(&self, jid: &Jid) -> Option<Vec<u8>> {
        let key = match jid.server() {
            Server::Group => jid.to_non_ad().to_string(),
            _ => jid.user().to_owned(),
        };
        let path = self.shared.state().pictures.get(&key)?.direct_path.clone();
        self.shared.media.get_blob(&path).map(|b| b.to_vec())
    }

    /// With `true`, LID-addressed stanzas to others name account `pn` by
    /// its LID alone: no `sender_pn`, `participant_pn` or member
    /// `phone_number` (as for a member whose number a community hides).
    /// What it sends by phone number still shows the number (with
    /// `sender_lid`). `false` shows the number again.
    pub fn hide_number(&self, pn: &str, on: bool) {
        let mut state = self.shared.state();
        if on {
            state.hidden_numbers.insert(pn.to_owned());
        } else {
            state.hidden_numbers.remove(pn);
        }
    }

    /// From now on, keeps every stanza a logged-in device sends, for
    /// [`Sim::stanza_shapes`] and [`Sim::stanza_deep_shapes`].
    pub fn record_stanzas(&self) {
        self.shared.state().recorder.start();
    }

    /// The shapes of the stanzas device `device` of `pn` sent while logged
    /// in and recording, in order: tag, `type` and `xmlns` values,
    /// attribute names and child tags (no other values), e.g. `iq type=get
    /// xmlns=encrypt [id,to,type,xmlns] > count`.
    pub fn stanza_shapes(&self, pn: &str, device: u16) -> Vec<String> {
        let me = (pn.to_owned(), device);
        self.shared
            .state()
            .recorder
            .of(&me)
            .map(record::shape)
            .collect()
    }

    /// [`Sim::stanza_shapes`] of what the device sent once logged in: its
    /// pairing's stanzas left out.
    pub fn stanza_shapes_since_login(&self, pn: &str, device: u16) -> Vec<String> {
        let me = (pn.to_owned(), device);
        let state = self.shared.state();
        let skip = state.recorder.pairing_count(&me);
        state
            .recorder
            .of(&me)
            .skip(skip)
            .map(record::shape)
            .collect()
    }

    /// The stanzas device `device` of `pn` sent while recording, in order.
    pub fn stanzas_sent(&self, pn: &str, device: u16) -> Vec<Node> {
        let me = (pn.to_owned(), device);
        self.shared.state().recorder.of(&me).cloned().collect()
    }

    /// What the stanzas device `device` of `pn` sent while recording (from
    /// its `from`-th on) are made of, one fact per line, each once: every
    /// node with the tags above it and its `type`/`xmlns` values
    /// (`message/participants/to/enc type=pairwise xmlns=-`), each
    /// attribute name (`.. @v`) and each child tag (`.. > enc`). `pkmsg`
    /// and `msg` are both `pairwise` (which one depends on session state,
    /// not the client).
    pub fn stanza_deep_shapes(&self, pn: &str, device: u16, from: usize) -> BTreeSet<String> {
        let me = (pn.to_owned(), device);
        self.shared
            .state()
            .recorder
            .of(&me)
            .skip(from)
            .flat_map(record::deep_shapes)
            .collect()
    }

    /// The id of the last `<ib><unified_session>` device `device` of `pn`
    /// sent.
    pub fn unified_session(&self, pn: &str, device: u16) -> Option<String> {
        self.shared
            .state()
            .unified_sessions
            .get(&(pn.to_owned(), device))
            .cloned()
    }

    /// True when a device of `subscriber` followed `target`'s presence
    /// with a `<tctoken>` (whatsmeow `SubscribePresence`).
    pub fn presence_subscribed_with_token(&self, subscriber: &str, target: &str) -> bool {
        self.shared
            .state()
            .tokens
            .presence_token_seen(subscriber, target)
    }

    /// Tells every device of `to` that `of` has a new identity (a
    /// reinstall), as the server does: `<notification type="encrypt"
    /// from=(of's user)><identity/></notification>` (whatsmeow
    /// `notification.go` `handleEncryptNotification`). Only the
    /// notification: `of`'s keys stay as they are.
    pub fn notify_identity_change(&self, of: &str, to: &str) {
        let mut state = self.shared.state();
        let note = Node::new("notification")
            .attr("from", Jid::user_jid(of.to_owned()))
            .attr("type", "encrypt")
            .attr("id", format!("{:016X}", rand::random::<u64>()))
            .attr("t", unix_now().to_string())
            .children(vec![Node::new("identity")]);
        for device in state.devices_of(to) {
            state.deliver(&(to.to_owned(), device), note.clone());
        }
    }

    /// The privacy token `issuer` has given `holder` (what the holder's
    /// messages to the issuer must carry under a reach-out restriction).
    pub fn issued_token(&self, issuer: &str, holder: &str) -> Option<Vec<u8>> {
        self.shared.state().tokens.issued(issuer, holder)
    }

    /// True when `issuer` has given `holder` a privacy token.
    pub fn has_issued_token(&self, issuer: &str, holder: &str) -> bool {
        self.shared.state().tokens.has_issued(issuer, holder)
    }

    /// Registrations seen so far.
    pub fn registrations(&self) -> Vec<Registration> {
        self.shared.state().registrations.clone()
    }

    /// Waits until at least `n` registrations were seen, or `timeout` passes.
    pub async fn wait_registrations(&self, n: usize, timeout: Duration) -> Vec<Registration> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.registered.notified();
            let regs = self.registrations();
            if regs.len() >= n {
                return regs;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.registrations();
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.notify_waiters();
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: Arc<Notify>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.notified() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(tcp, shared).await {
                        debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
            Err(e) => warn!(error = %e, "accept failed"),
        }
    }
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("framing: {0}")]
    Frame(#[from] frame::FrameError),
    #[error("noise: {0}")]
    Noise(#[from] wa_core::noise::NoiseError),
    #[error("node: {0}")]
    Decode(#[from] binary::DecodeError),
    #[error("node: {0}")]
    Encode(#[from] binary::EncodeError),
    #[error("client payload is not a ClientPayload")]
    BadPayload,
    #[error("peer closed")]
    Closed,
}

async fn serve(tcp: TcpStream, shared: Arc<Shared>) -> Result<(), ConnError> {
    let ws = tokio_tungstenite::accept_async(tcp).await?;
    let mut conn = Conn {
        ws,
        frames: ServerFrameDecoder::new(),
    };
    let hello = conn.next_frame().await?;
    let (waiting, reply) = ServerHandshake::new(&shared.static_key)?.read_client_hello(
        &hello,
        &shared.chain,
        &mut rand::rng(),
    )?;
    conn.send_frame(&reply).await?;
    let finish = conn.next_frame().await?;
    let done = waiting.read_client_finish(&finish)?;
    let payload =
        ClientPayload::decode(done.payload.as_slice()).map_err(|_| ConnError::BadPayload)?;
    shared.state().payloads.push(done.payload.clone());
    let (send, recv) = done.transport.into_split();
    let mut session = Session::new(conn, send, recv);
    let min = shared
        .state()
        .min_version
        .unwrap_or(agent::DEFAULT_MIN_VERSION);
    if let Err(refusal) = agent::check(&payload, min) {
        info!(
            reason = refusal.reason(),
            version = ?agent::version(&payload).map(|v| v.to_string()),
            "client payload refused"
        );
        return session
            .send(&Node::new("failure").attr("reason", refusal.reason()))
            .await;
    }
    match (&payload.device_pairing_data, payload.username) {
        (Some(_), None) => register::run(session, &shared, done.client_static, payload).await,
        (_, Some(_)) => login::run(session, &shared, done.client_static, payload).await,
        (None, None) => {
            session
                .send(&Node::new("failure").attr("reason", "400"))
                .await
        }
    }
}

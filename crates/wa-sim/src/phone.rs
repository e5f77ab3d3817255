//! Scripted phones: the primary device of an account, which links and
//! removes companions.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use tokio::sync::oneshot;
use wa_core::adv;
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::media::MediaKind;
use wa_core::proto::AdvDeviceIdentity;

use crate::server::{PairRequest, Push, Shared, unix_now};

pub(crate) mod appstate;
mod bot;
mod calls;
mod communities;
pub(crate) mod device;
pub(crate) mod history;
mod peer;
mod retry;
mod rich;
pub(crate) mod seen;

pub use appstate::{AppStateView, PatchFault};
pub use calls::Ringing;
pub use device::{PhoneError, Received};
pub use history::{
    HistoryFault, HistoryScript, PeerReceipt, ScriptChat, ScriptMessage, Sender, SentHistory,
};
pub use seen::{ReadReceipt, SeenChatState};

/// The prefix newer clients put before the QR data.
pub const QR_URL_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// Why a scan did not link a companion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The QR text is not `ref,noiseKey,identityKey,advSecret[,platform]`.
    #[error("not a WhatsApp pairing QR code: {0}")]
    BadQr(&'static str),
    /// No connection waits with this ref (its client left, or it never was).
    #[error("QR code is not (or no longer) valid")]
    UnknownRef,
    /// The ref's time is over (60 s for the first, 20 s more for each next).
    #[error("QR code has expired")]
    ExpiredRef,
    /// The account already has the most companions the service allows.
    #[error("the account already has the maximum number of linked devices")]
    TooManyDevices,
    /// The companion's answer to `pair-success` was refused.
    #[error("companion refused: {0}")]
    Refused(&'static str),
    /// The companion did not answer in time.
    #[error("companion did not answer the pairing")]
    Timeout,
    /// The companion's connection went away during the pairing.
    #[error("companion disconnected during the pairing")]
    CompanionGone,
}

/// A blob the phone stored on the media host: what its message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneUpload {
    /// `url`.
    pub url: String,
    /// `directPath`.
    pub direct_path: String,
    /// `mediaKey`.
    pub media_key: [u8; 32],
    /// `fileSha256` (of the plaintext).
    pub file_sha256: [u8; 32],
    /// `fileEncSha256` (of the stored blob).
    pub file_enc_sha256: [u8; 32],
    /// `fileLength` (of the plaintext).
    pub file_length: u64,
}

/// The primary device of one account.
#[derive(Clone)]
pub struct Phone {
    shared: Arc<Shared>,
    pn: String,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone").field("pn", &self.pn).finish()
    }
}

impl Phone {
    pub(crate) fn new(shared: Arc<Shared>, pn: String) -> Phone {
        Phone { shared, pn }
    }

    /// The phone number.
    pub fn pn(&self) -> &str {
        &self.pn
    }

    /// The account's LID JID (device 0).
    pub fn lid(&self) -> Option<Jid> {
        self.shared
            .state()
            .accounts
            .get(&self.pn)
            .map(|a| a.lid_jid(0))
    }

    /// Device numbers of the linked companions.
    pub fn linked_devices(&self) -> Vec<u16> {
        self.shared
            .state()
            .accounts
            .get(&self.pn)
            .map(|a| a.companions.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Changes one of the account's privacy settings (`readreceipts`,
    /// `last`, `online`, ...: `all`, `contacts`, `none`, ...), as the
    /// phone's settings screen does; companions read it at their next login.
    pub fn set_privacy(&self, category: &str, value: &str) {
        self.shared
            .state()
            .settings
            .set_privacy(&self.pn, category, value);
    }

    /// Blocks (or unblocks) the account `other`: the server then keeps
    /// `other`'s messages from this account's devices, and the blocklist
    /// companions read at login names it.
    pub fn set_blocked(&self, other: &str, blocked: bool) {
        self.shared
            .state()
            .settings
            .set_blocked(&self.pn, other, blocked);
    }

    /// The linked companions as the phone lists them: device number and
    /// the name each registered with (`DeviceProps.os`).
    pub fn linked_device_names(&self) -> Vec<(u16, Option<String>)> {
        self.shared
            .state()
            .accounts
            .get(&self.pn)
            .map(|a| {
                a.companions
                    .iter()
                    .map(|(d, c)| (*d, c.name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Scans a companion's QR code: links it as a new device of this account.
    pub async fn scan(&self, qr: &str) -> Result<Jid, ScanError> {
        let data = qr.trim().strip_prefix(QR_URL_PREFIX).unwrap_or(qr.trim());
        let parts: Vec<&str> = data.split(',').collect();
        let [r, noise, identity, secret, ..] = parts.as_slice() else {
            return Err(ScanError::BadQr("fewer than four fields"));
        };
        let decode = |s: &str, what| STANDARD.decode(s).map_err(|_| ScanError::BadQr(what));
        let noise = decode(noise, "noise key is not base64")?;
        let identity = decode(identity, "identity key is not base64")?;
        let secret = decode(secret, "adv secret is not base64")?;
        let (done_tx, done_rx) = oneshot::channel();
        let push = {
            let mut state = self.shared.state();
            let pending = state
                .pending
                .get(*r)
                .cloned()
                .ok_or(ScanError::UnknownRef)?;
            let (first, later) = state
                .ref_lifetimes
                .unwrap_or((Duration::from_secs(60), Duration::from_secs(20)));
            let index = pending
                .registration
                .refs
                .iter()
                .position(|x| x == r)
                .unwrap_or(0);
            let lifetime = first + later * u32::try_from(index).unwrap_or(u32::MAX);
            if pending.issued.elapsed() > lifetime {
                return Err(ScanError::ExpiredRef);
            }
            if pending.registration.noise_key.as_slice() != noise.as_slice()
                || pending.registration.identity_key != identity
            {
                return Err(ScanError::BadQr("keys differ from the registration"));
            }
            let account = state
                .accounts
                .get_mut(&self.pn)
                .ok_or(ScanError::Refused("no such account"))?;
            let device = account.free_device().ok_or(ScanError::TooManyDevices)?;
            let key_index = account.next_key_index;
            account.next_key_index += 1;
            let details = AdvDeviceIdentity {
                raw_id: Some(account.raw_id),
                timestamp: Some(unix_now()),
                key_index: Some(key_index),
                ..Default::default()
            };
            let mut rng = rand::rng();
            let signed =
                adv::sign_device_identity(&account.identity, &details, &identity, &mut rng);
            let wrapped = adv::wrap_hmac(&signed, &secret).encode_to_vec();
            let iq_id = format!("pair-{:08x}", rand::random::<u32>());
            let iq = Node::new("iq")
                .attr("from", Jid::server_jid())
                .attr("type", "set")
                .attr("id", iq_id.clone())
                .children(vec![Node::new("pair-success").children(vec![
                    Node::new("device-identity").bytes(wrapped),
                    Node::new("platform").attr("name", "android"),
                    Node::new("device")
                        .attr("jid", account.pn_jid(device))
                        .attr("lid", account.lid_jid(device)),
                ])]);
            let req = PairRequest {
                pn: self.pn.clone(),
                device,
                key_index,
                iq,
                iq_id,
                account_key: *account.identity.public(),
                noise_key: pending.registration.noise_key,
                identity_key: identity,
                keys: pending.registration.keys.clone(),
                device_name: pending.registration.device_name.clone(),
                signed,
                done: done_tx,
            };
            (pending.push.clone(), req)
        };
        let (tx, req) = push;
        tx.send(Push::Pair(Box::new(req)))
            .map_err(|_| ScanError::CompanionGone)?;
        match tokio::time::timeout(Duration::from_secs(30), done_rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ScanError::CompanionGone),
            Err(_) => Err(ScanError::Timeout),
        }
    }

    /// Sends a text to the account with phone number `to`, as the phone does:
    /// to every device of `to` and, as a sent-message copy, to our companions.
    /// Returns the message id.
    pub async fn send_text(&self, to: &str, text: &str) -> Result<String, PhoneError> {
        let message = wa_core::proto::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        self.send_message(to, message).await
    }

    /// Sends any `message` to the account with phone number `to`, fanned out
    /// like [`Phone::send_text`]. Returns the message id.
    pub async fn send_message(
        &self,
        to: &str,
        message: wa_core::proto::Message,
    ) -> Result<String, PhoneError> {
        let device = self.device()?;
        device::send_message(&self.shared, &device, &self.pn, (to, false), message).await
    }

    /// [`Phone::send_message`] addressed to `to`'s LID: the stanza reaches
    /// the peer in LID form, with `sender_pn`.
    pub async fn send_message_by_lid(
        &self,
        to: &str,
        message: wa_core::proto::Message,
    ) -> Result<String, PhoneError> {
        let device = self.device()?;
        device::send_message(&self.shared, &device, &self.pn, (to, true), message).await
    }

    /// Encrypts `plaintext` as `kind` under a fresh media key and stores the
    /// blob on the simulator's media host, as the phone's upload would; the
    /// answer is what a media message pointing at it carries.
    pub fn upload_media(
        &self,
        kind: MediaKind,
        plaintext: &[u8],
    ) -> Result<PhoneUpload, PhoneError> {
        let sealed = wa_core::media::encrypt(kind, plaintext, &mut rand::rng());
        let direct_path = self
            .shared
            .media
            .put_blob(kind.mms_type(), sealed.blob)
            .ok_or(PhoneError::Malformed("media host refused the blob"))?;
        Ok(PhoneUpload {
            url: format!("https://{}{direct_path}", self.shared.media.host()),
            direct_path,
            media_key: sealed.media_key,
            file_sha256: sealed.file_sha256,
            file_enc_sha256: sealed.file_enc_sha256,
            file_length: sealed.file_length,
        })
    }

    /// Sends `text` into group `gid` (a `...@g.us` JID) with sender keys, as
    /// the phone does. Returns the message id.
    pub async fn send_group_text(&self, gid: &Jid, text: &str) -> Result<String, PhoneError> {
        let message = wa_core::proto::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        self.send_group_message(gid, message).await
    }

    /// Sends any `message` into group `gid`, as [`Phone::send_group_text`].
    pub async fn send_group_message(
        &self,
        gid: &Jid,
        message: wa_core::proto::Message,
    ) -> Result<String, PhoneError> {
        let device = self.device()?;
        device::send_group_message(&self.shared, &device, &self.pn, gid, message).await
    }

    /// Marks received messages read, as the phone does when the chat is
    /// opened: one `read` receipt per sending device, for its ids.
    pub fn mark_read(&self, ids: &[&str]) -> usize {
        let received = self.received();
        let mut sent = 0;
        for r in received
            .iter()
            .filter(|r| !r.from_me && ids.contains(&r.id.as_str()))
        {
            let mut receipt = Node::new("receipt")
                .attr("id", r.id.clone())
                .attr("type", "read")
                .attr("t", unix_now().to_string());
            receipt = if r.chat.is_group() {
                receipt
                    .attr("to", r.chat.clone())
                    .attr("participant", r.from.clone())
            } else {
                receipt.attr("to", r.from.clone())
            };
            if crate::server::route::receipt(&self.shared, &(self.pn.clone(), 0), &receipt)
                .is_some()
            {
                sent += 1;
            }
        }
        sent
    }

    /// Goes online (`available`) or offline, as the phone does when the app
    /// is opened or closed: devices that subscribed to this account's
    /// presence are told.
    pub fn set_presence(&self, available: bool) {
        let kind = if available {
            "available"
        } else {
            "unavailable"
        };
        let node = Node::new("presence").attr("type", kind);
        crate::server::route::presence(&self.shared, &(self.pn.clone(), 0), &node);
    }

    /// Starts (`composing`) or stops typing in the chat with `to` (a
    /// phone number or group JID), as the app does: a `<chatstate>` with a
    /// `<composing/>` or `<paused/>` child.
    pub fn set_typing(&self, to: &Jid, composing: bool) {
        let state = if composing { "composing" } else { "paused" };
        let node = Node::new("chatstate")
            .attr("to", to.clone())
            .children(vec![Node::new(state)]);
        crate::server::route::chatstate(&self.shared, &(self.pn.clone(), 0), &node);
    }

    /// Changes group `gid` as this account does from its app: a `w:g2` IQ
    /// with `action` (`<subject>`, `<description>`, `<add>`, `<remove>`,
    /// `<promote>`, `<demote>`), answered by the server, which tells the
    /// members. True if the server took it.
    pub fn change_group(&self, gid: &Jid, action: Node) -> bool {
        let iq = Node::new("iq")
            .attr("to", gid.clone())
            .attr("type", "set")
            .attr("xmlns", "w:g2")
            .children(vec![action]);
        let answer = crate::server::groups::iq(&self.shared, &self.pn, "phone", &iq);
        answer.attr_str("type") == Some("result")
    }

    /// Sets (or, with `None`, removes) the picture of this account (`of`:
    /// `None`) or of group `of`, as the app does; true if the server took
    /// it (it then tells those who see it).
    pub fn set_picture(&self, of: Option<&Jid>, jpeg: Option<&[u8]>) -> bool {
        let target = of
            .cloned()
            .unwrap_or_else(|| Jid::user_jid(self.pn.clone()));
        let mut iq = Node::new("iq")
            .attr("to", Jid::server_jid())
            .attr("target", target)
            .attr("type", "set")
            .attr("xmlns", "w:profile:picture");
        if let Some(jpeg) = jpeg {
            iq = iq.children(vec![
                Node::new("picture")
                    .attr("type", "image")
                    .bytes(jpeg.to_vec()),
            ]);
        }
        let answer = crate::server::pictures::iq(&self.shared, &self.pn, "phone", &iq);
        answer.attr_str("type") == Some("result")
    }

    /// Renames group `gid` (see [`Phone::change_group`]).
    pub fn set_group_subject(&self, gid: &Jid, subject: &str) -> bool {
        self.change_group(gid, Node::new("subject").bytes(subject.as_bytes()))
    }

    /// Sets (or, with `None`, removes) group `gid`'s description.
    pub fn set_group_description(&self, gid: &Jid, description: Option<&str>) -> bool {
        let id = format!("{:016X}", rand::random::<u64>());
        let node = Node::new("description").attr("id", id);
        let node = match description {
            Some(d) => node.children(vec![Node::new("body").bytes(d.as_bytes())]),
            None => node.attr("delete", "true"),
        };
        self.change_group(gid, node)
    }

    /// The code of group `gid`'s invite link (this account must be an
    /// admin); with `reset` a new one.
    pub fn group_invite_code(&self, gid: &Jid, reset: bool) -> Option<String> {
        let iq = Node::new("iq")
            .attr("to", gid.clone())
            .attr("type", if reset { "set" } else { "get" })
            .attr("xmlns", "w:g2")
            .children(vec![Node::new("invite")]);
        let answer = crate::server::groups::iq(&self.shared, &self.pn, "phone", &iq);
        Some(answer.child("invite")?.attr_str("code")?.to_owned())
    }

    /// Joins the group whose invite link has `code`, as WhatsApp's
    /// `JoinGroupWithLink` does; whether it was joined.
    pub fn join_group_by_link(&self, code: &str) -> bool {
        let iq = Node::new("iq")
            .attr("to", Jid::new("", wa_core::jid::Server::Group))
            .attr("type", "set")
            .attr("xmlns", "w:g2")
            .children(vec![Node::new("invite").attr("code", code.to_owned())]);
        let answer = crate::server::groups::iq(&self.shared, &self.pn, "phone", &iq);
        answer.child("group").is_some()
    }

    /// Sets group `gid`'s disappearing-messages timer (seconds), or turns
    /// it off (`None`).
    pub fn set_group_timer(&self, gid: &Jid, timer: Option<u32>) -> bool {
        let node = match timer {
            Some(t) => Node::new("ephemeral").attr("expiration", t.to_string()),
            None => Node::new("not_ephemeral"),
        };
        self.change_group(gid, node)
    }

    /// Turns a setting of group `gid` on or off: `announcement` (only
    /// admins send) or `locked` (only admins change its info); this
    /// account must be an admin.
    pub fn set_group_setting(&self, gid: &Jid, setting: &str, on: bool) -> bool {
        let tag = match (setting, on) {
            ("announcement", false) => "not_announcement",
            ("locked", false) => "unlocked",
            (tag, _) => tag,
        };
        self.change_group(gid, Node::new(tag.to_owned()))
    }

    /// Adds, removes, promotes or demotes (`tag`) the accounts `pns` in
    /// group `gid`; this account must be an admin.
    pub fn change_group_members(&self, gid: &Jid, tag: &str, pns: &[&str]) -> bool {
        let participants = pns
            .iter()
            .map(|pn| Node::new("participant").attr("jid", Jid::user_jid((*pn).to_owned())))
            .collect();
        self.change_group(gid, Node::new(tag.to_owned()).children(participants))
    }

    /// As a bot (this account's number is a bot's, e.g. 13135550002): answers
    /// `target`, a message this phone received, with `reply` sealed with
    /// that message's secret (`<enc type="msmsg">`), as Meta AI does.
    /// Returns the reply's id.
    pub fn send_bot_reply(
        &self,
        target: &Received,
        reply: &wa_core::proto::Message,
    ) -> Result<String, PhoneError> {
        bot::reply(&self.shared, &self.pn, target, reply)
    }

    /// Messages the phone received and decrypted, in order.
    pub fn received(&self) -> Vec<Received> {
        self.device().map(|d| d.received()).unwrap_or_default()
    }

    /// Waits until the phone has received at least `n` messages or `timeout`
    /// passes; returns what it has.
    pub async fn wait_received(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let Ok(device) = self.device() else {
            return Vec::new();
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = device.arrived().notified();
            let got = device.received();
            if got.len() >= n || tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return device.received();
            }
        }
    }

    /// Asks `from` (a device JID) to send message `id` again, as if it had
    /// arrived and could not be decrypted: a retry receipt, whether or not
    /// the message was ever meant for this phone (a test's hostile asker).
    pub async fn ask_again(&self, id: &str, from: &Jid) -> Result<(), PhoneError> {
        let device = self.device()?;
        let message = Node::new("message")
            .attr("id", id.to_owned())
            .attr("from", from.clone())
            .attr("type", "text")
            .attr("t", unix_now().to_string());
        retry::request(&self.shared, &self.pn, &device, &message).await
    }

    fn device(&self) -> Result<Arc<device::PhoneDevice>, PhoneError> {
        self.shared
            .state()
            .phones
            .get(&self.pn)
            .cloned()
            .ok_or_else(|| PhoneError::NoAccount(self.pn.clone()))
    }

    /// Unlinks companion `device`: its live connection ends with 401 and later
    /// logins are refused. False if no such companion.
    pub async fn remove_device(&self, device: u16) -> bool {
        let (removed, online) = {
            let mut state = self.shared.state();
            let removed = state
                .accounts
                .get_mut(&self.pn)
                .and_then(|a| a.companions.remove(&device))
                .is_some();
            (removed, state.online.remove(&(self.pn.clone(), device)))
        };
        if let Some(tx) = online {
            let _ = tx.send(Push::LoggedOut);
        }
        removed
    }
}

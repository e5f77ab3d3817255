//! Fault injection, for testing clients against a server that misbehaves or
//! is attacked: stanzas dropped, delayed or corrupted, sockets cut, logins refused, and
//! devices in an account's list that its primary never signed.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use wa_core::binary::{Content, Node};
use wa_core::keys::KeyPair;

use super::{Push, Sim, unix_now};
use crate::account;

/// Faults armed for one device.
#[derive(Debug, Default, Clone)]
pub(crate) struct DeviceFaults {
    /// Drop this many of the next stanzas for the device.
    pub(crate) drop_next: usize,
    /// Delay this many of the next stanzas for the device by `delay`.
    pub(crate) delay_next: usize,
    pub(crate) delay: Duration,
    /// Corrupt the `<enc>` ciphertexts of this many of the next message
    /// stanzas for the device.
    pub(crate) corrupt_next: usize,
    /// Refuse the device's logins until then.
    pub(crate) refuse_until: Option<Instant>,
    /// Logins before this instant are answered only then.
    pub(crate) hold_until: Option<Instant>,
}

/// What `deliver` should do with the next stanza.
pub(crate) enum Fate {
    Deliver,
    Drop,
    Delay(Duration),
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) devices: HashMap<(String, u16), DeviceFaults>,
    /// Stanzas dropped so far, per device.
    pub(crate) dropped: HashMap<(String, u16), usize>,
}

impl Faults {
    /// Decides (and counts) the fate of the next stanza for `target`.
    pub(crate) fn fate(&mut self, target: &(String, u16)) -> Fate {
        let Some(f) = self.devices.get_mut(target) else {
            return Fate::Deliver;
        };
        if f.drop_next > 0 {
            f.drop_next -= 1;
            *self.dropped.entry(target.clone()).or_default() += 1;
            return Fate::Drop;
        }
        if f.delay_next > 0 {
            f.delay_next -= 1;
            return Fate::Delay(f.delay);
        }
        Fate::Deliver
    }

    /// Corrupts `node` if it is a message stanza with `<enc>` payloads and
    /// corruption is armed for `target`: the last byte of each ciphertext
    /// (the MAC of `pkmsg`/`msg`, the signature of `skmsg`) is flipped, so
    /// decryption fails as it does with a lost session.
    pub(crate) fn corrupt(&mut self, target: &(String, u16), node: &mut Node) {
        let Some(f) = self.devices.get_mut(target) else {
            return;
        };
        if f.corrupt_next == 0 || node.tag != "message" || node.child("enc").is_none() {
            return;
        }
        f.corrupt_next -= 1;
        if let Content::Nodes(children) = &mut node.content {
            for enc in children.iter_mut().filter(|c| c.tag == "enc") {
                if let Content::Bytes(b) = &mut enc.content
                    && let Some(last) = b.last_mut()
                {
                    *last ^= 0xff;
                }
            }
        }
    }

    /// Until when a login of `target` arriving now waits for its answer.
    pub(crate) fn holding(&self, target: &(String, u16)) -> Option<Instant> {
        self.devices
            .get(target)
            .and_then(|f| f.hold_until)
            .filter(|until| Instant::now() < *until)
    }

    /// True while logins of `target` are refused.
    pub(crate) fn refusing(&self, target: &(String, u16)) -> bool {
        self.devices
            .get(target)
            .and_then(|f| f.refuse_until)
            .is_some_and(|until| Instant::now() < until)
    }
}

/// The faults a test arms, by device.
impl Sim {
    /// Changes the faults armed for device `device` of `pn`.
    fn arm(&self, pn: &str, device: u16, set: impl FnOnce(&mut DeviceFaults)) {
        let mut state = self.shared.state();
        set(state
            .faults
            .devices
            .entry((pn.to_owned(), device))
            .or_default());
    }

    /// Fault: drop the next `n` stanzas routed to device `device` of `pn`.
    pub fn drop_next(&self, pn: &str, device: u16, n: usize) {
        self.arm(pn, device, |f| f.drop_next = n);
    }

    /// Fault: hold back each of the next `n` stanzas for the device by `by`.
    pub fn delay_next(&self, pn: &str, device: u16, n: usize, by: Duration) {
        self.arm(pn, device, |f| {
            f.delay_next = n;
            f.delay = by;
        });
    }

    /// Fault: flip the last byte of every `<enc>` ciphertext in the next `n`
    /// message stanzas routed to device `device` of `pn`, so that device's
    /// decryption fails as with a lost session (and it asks for a retry).
    pub fn corrupt_next(&self, pn: &str, device: u16, n: usize) {
        self.arm(pn, device, |f| f.corrupt_next = n);
    }

    /// How many stanzas for the device were dropped by [`Sim::drop_next`].
    pub fn dropped(&self, pn: &str, device: u16) -> usize {
        let state = self.shared.state();
        state
            .faults
            .dropped
            .get(&(pn.to_owned(), device))
            .copied()
            .unwrap_or(0)
    }

    /// Fault: a slow service: the device's logins for `how_long` are
    /// answered only once it has passed.
    pub fn hold_logins(&self, pn: &str, device: u16, how_long: Duration) {
        let until = tokio::time::Instant::now() + how_long;
        self.arm(pn, device, |f| f.hold_until = Some(until));
    }

    /// Fault: answer the device's logins with `<failure reason="503">` for `how_long`.
    pub fn refuse_logins(&self, pn: &str, device: u16, how_long: Duration) {
        let until = tokio::time::Instant::now() + how_long;
        self.arm(pn, device, |f| f.refuse_until = Some(until));
    }

    /// Fault: replace the signed prekey and the one-time prekeys the
    /// server holds for the companion with random bytes, as a server copy
    /// gone out of step would be; its next digest check then fails. False
    /// if there is no such companion.
    pub fn scramble_prekeys(&self, pn: &str, device: u16) -> bool {
        let mut state = self.shared.state();
        let Some(c) = state
            .accounts
            .get_mut(pn)
            .and_then(|a| a.companions.get_mut(&device))
        else {
            return false;
        };
        for public in c.keys.prekeys.values_mut() {
            rand::Rng::fill_bytes(&mut rand::rng(), public.as_mut_slice());
        }
        rand::Rng::fill_bytes(&mut rand::rng(), c.keys.signed_prekey.as_mut_slice());
        true
    }

    /// Whether the device has a logged-in connection. Once false after a
    /// [`Sim::cut`], what the connection was not confirmed is queued again.
    pub fn is_connected(&self, pn: &str, device: u16) -> bool {
        self.shared
            .state()
            .online
            .contains_key(&(pn.to_owned(), device))
    }

    /// Fault: cut the device's socket now, with no stream error. False if it
    /// was not connected.
    pub fn cut(&self, pn: &str, device: u16) -> bool {
        let state = self.shared.state();
        state
            .online
            .get(&(pn.to_owned(), device))
            .is_some_and(|tx| tx.send(Push::Cut).is_ok())
    }

    /// Fault (a compromised server): lists a companion `device` under `pn`
    /// that the account's primary never signed. It appears in device lists
    /// (outside the signed key-index list) with a prekey bundle whose ADV
    /// identity is signed by a stranger; whatever is encrypted to it is kept
    /// and counted by [`Sim::queued`].
    pub fn inject_unsigned_device(&self, pn: &str, device: u16) -> bool {
        let mut state = self.shared.state();
        let Some(account) = state.accounts.get_mut(pn) else {
            return false;
        };
        let mut rng = rand::rng();
        let stranger = KeyPair::generate(&mut rng);
        let identity = KeyPair::generate(&mut rng);
        let Ok((keys, _store)) = account::phone_keys(&identity) else {
            return false;
        };
        let key_index = account.next_key_index + 1000;
        let details = wa_core::proto::AdvDeviceIdentity {
            raw_id: Some(account.raw_id),
            timestamp: Some(unix_now()),
            key_index: Some(key_index),
            ..Default::default()
        };
        let signed =
            wa_core::adv::sign_device_identity(&stranger, &details, identity.public(), &mut rng);
        account.companions.insert(
            device,
            crate::account::Companion {
                noise_key: [0; 32],
                key_index,
                signed_identity: signed,
                keys,
                unsigned: true,
                name: None,
            },
        );
        true
    }
}

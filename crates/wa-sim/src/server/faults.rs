//! Fault injection, for testing clients against a server that misbehaves or
//! is attacked: stanzas dropped, delayed or corrupted, sockets cut, logins refused, and
//! devices in an account's list that its primary never signed.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use wa_core::binary::{Content, Node};

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

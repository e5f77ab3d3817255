//! Accounts of the simulated network: a phone number, a LID, the primary
//! device's identity key (which signs for companions) and the companions.

use std::collections::BTreeMap;

use wa_core::jid::{Jid, Server};
use wa_core::keys::KeyPair;
use wa_core::proto::AdvSignedDeviceIdentity;

/// The real service's limit of linked companions per account.
pub const MAX_COMPANIONS: usize = 4;

/// A companion linked to an account.
#[derive(Debug, Clone)]
pub struct Companion {
    /// Its Noise static public key (how logins are recognised).
    pub noise_key: [u8; 32],
    /// Its Signal identity public key.
    pub identity_key: Vec<u8>,
    /// The ADV key index the phone gave it.
    pub key_index: u32,
    /// Its signed identity, with both signatures.
    pub signed_identity: AdvSignedDeviceIdentity,
    /// Prekeys it uploaded: id -> public key.
    pub prekeys: BTreeMap<u32, Vec<u8>>,
}

/// One account.
#[derive(Debug)]
pub struct Account {
    /// Phone number (the PN user).
    pub pn: String,
    /// The LID user.
    pub lid: String,
    /// The primary device's identity key: the account key of ADV.
    pub identity: KeyPair,
    /// ADV `rawId` of the account.
    pub raw_id: u32,
    /// Companions by device number (1..).
    pub companions: BTreeMap<u16, Companion>,
    /// The next ADV key index to hand out.
    pub next_key_index: u32,
}

impl Account {
    /// The account's PN JID for `device` (0 = the phone).
    pub fn pn_jid(&self, device: u16) -> Jid {
        Jid::with_device(self.pn.clone(), device, Server::User)
    }

    /// The account's LID JID for `device`.
    pub fn lid_jid(&self, device: u16) -> Jid {
        Jid::with_device(self.lid.clone(), device, Server::Lid)
    }

    /// The device number a new companion gets: the lowest free one.
    pub fn free_device(&self) -> Option<u16> {
        if self.companions.len() >= MAX_COMPANIONS {
            return None;
        }
        (1..=u16::MAX).find(|d| !self.companions.contains_key(d))
    }
}

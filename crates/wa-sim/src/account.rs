//! Accounts of the simulated network: a phone number, a LID, the primary
//! device's identity key (which signs for companions) and the companions.

use std::collections::BTreeMap;

use wa_core::jid::{Jid, Server};
use wa_core::keys::KeyPair;
use wa_core::proto::AdvSignedDeviceIdentity;
use wa_core::signal::{self, MemoryStore, SignalError, SignedPreKey};

/// The real service's limit of linked companions per account.
pub const MAX_COMPANIONS: usize = 4;

/// The public Signal keys of one device, as the server hands them out in
/// prekey bundles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleKeys {
    /// Signal registration id.
    pub registration_id: u32,
    /// Identity public key (32 bytes).
    pub identity: Vec<u8>,
    /// Signed prekey id.
    pub signed_prekey_id: u32,
    /// Signed prekey public key (32 bytes).
    pub signed_prekey: Vec<u8>,
    /// Signature of the signed prekey by the identity key.
    pub signed_prekey_signature: Vec<u8>,
    /// One-time prekeys not yet handed out: id -> public key.
    pub prekeys: BTreeMap<u32, Vec<u8>>,
}

impl BundleKeys {
    /// Takes the lowest one-time prekey: each is handed out once.
    pub fn take_prekey(&mut self) -> Option<(u32, Vec<u8>)> {
        self.prekeys.pop_first()
    }
}

/// A companion linked to an account.
#[derive(Debug, Clone)]
pub struct Companion {
    /// Its Noise static public key (how logins are recognised).
    pub noise_key: [u8; 32],
    /// The ADV key index the phone gave it.
    pub key_index: u32,
    /// Its signed identity, with both signatures.
    pub signed_identity: AdvSignedDeviceIdentity,
    /// Its Signal keys (identity and signed prekey from registration,
    /// one-time prekeys from uploads).
    pub keys: BundleKeys,
    /// True for a device injected by a fault: the account never signed it.
    pub unsigned: bool,
    /// The name it registered with (`DeviceProps.os`), as the phone's
    /// list of linked devices shows it.
    pub name: Option<String>,
}

/// One-time prekeys a scripted phone publishes.
pub const PHONE_PREKEYS: u32 = 50;

/// Fresh Signal keys for a phone whose identity is `identity`: the public
/// bundle the server hands out, and the phone's own store holding the private
/// halves.
pub fn phone_keys(identity: &KeyPair) -> Result<(BundleKeys, MemoryStore), SignalError> {
    let mut rng = rand::rng();
    let registration_id = signal::generate_registration_id(&mut rng);
    let signed = SignedPreKey::generate(identity, 1, &mut rng)?;
    let prekeys = signal::generate_prekeys(1, PHONE_PREKEYS, &mut rng);
    let mut store = MemoryStore::new(identity, registration_id)?;
    store.signed_prekeys.insert(&signed, 0)?;
    for k in &prekeys {
        store.prekeys.insert(k)?;
    }
    let bundle = BundleKeys {
        registration_id,
        identity: identity.public().to_vec(),
        signed_prekey_id: signed.id(),
        signed_prekey: signed.public().to_vec(),
        signed_prekey_signature: signed.signature().to_vec(),
        prekeys: prekeys
            .iter()
            .map(|k| (k.id(), k.public().to_vec()))
            .collect(),
    };
    Ok((bundle, store))
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
    /// The phone's (device 0) Signal keys.
    pub phone_keys: BundleKeys,
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

    /// The bundle of `device` for a sender, taking one one-time prekey.
    pub fn take_bundle(&mut self, device: u16) -> Option<signal::PreKeyBundle> {
        let keys = self.keys_mut(device)?;
        let prekey = keys.take_prekey();
        let id3 = |id: u32| signal::encode_key_id(id).ok().map(|b| b.to_vec());
        Some(signal::PreKeyBundle {
            registration: signal::encode_registration_id(keys.registration_id).to_vec(),
            key_type: vec![signal::KEY_TYPE_DJB],
            identity: keys.identity.clone(),
            signed_prekey: signal::BundleSignedPreKey {
                id: id3(keys.signed_prekey_id)?,
                value: keys.signed_prekey.clone(),
                signature: keys.signed_prekey_signature.clone(),
            },
            prekey: match prekey {
                Some((id, value)) => Some(signal::BundlePreKey {
                    id: id3(id)?,
                    value,
                }),
                None => None,
            },
        })
    }

    /// The bundle keys of `device` (0 = the phone).
    pub fn keys_mut(&mut self, device: u16) -> Option<&mut BundleKeys> {
        if device == 0 {
            Some(&mut self.phone_keys)
        } else {
            self.companions.get_mut(&device).map(|c| &mut c.keys)
        }
    }

    /// The device number a new companion gets: the lowest free one.
    pub fn free_device(&self) -> Option<u16> {
        if self.companions.len() >= MAX_COMPANIONS {
            return None;
        }
        (1..=u16::MAX).find(|d| !self.companions.contains_key(d))
    }
}

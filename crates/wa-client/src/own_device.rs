//! The companion device's own state: the keys it registers with, and what it
//! learns when a phone links it (its JIDs and the account's signed vouch).
//!
//! A [`DeviceState`] is created once per link attempt, filled in by
//! [`pair`](crate::pair::pair), grown by [`login`](crate::login::login)
//! (the id of the next one-time prekey) and kept in a
//! [`DeviceStore`](crate::store::DeviceStore) between runs. The prekeys
//! themselves live in a [`PreKeyStore`](crate::store::PreKeyStore).

use std::fmt;

use prost::Message as _;
use rand::CryptoRng;
use wa_core::jid::Jid;
use wa_core::keys::{Hex, KeyPair};
use wa_core::payload::{Agent, RegistrationKeys};
use wa_core::proto::AdvSignedDeviceIdentity;
use wa_core::signal::{self, PreKey, SignalError, SignedPreKey};

/// The id of the signed prekey a fresh device registers with.
const FIRST_SIGNED_PREKEY_ID: u32 = 1;

/// Everything a companion device keeps about itself.
///
/// `Debug` prints public keys and JIDs only, never private keys or the ADV
/// secret.
#[derive(Clone)]
pub struct DeviceState {
    /// Noise static key pair: how the server recognises this device at login.
    pub noise: KeyPair,
    /// Signal identity key pair.
    pub identity: KeyPair,
    /// Signal registration id (1..=16380).
    pub registration_id: u32,
    /// The current signed prekey.
    pub signed_prekey: SignedPreKey,
    /// When the current signed prekey was made (unix seconds); it is
    /// rotated at login once older than
    /// [`SIGNED_PREKEY_MAX_AGE`](crate::login::SIGNED_PREKEY_MAX_AGE).
    pub signed_prekey_created: u64,
    /// Secret shared with the phone through the QR code; keys the HMAC of
    /// `pair-success`.
    pub adv_secret: [u8; 32],
    /// The id the next generated one-time prekey gets.
    pub next_prekey_id: u32,
    /// After pairing: our JID, phone number form with device
    /// (`PN:D@s.whatsapp.net`).
    pub jid: Option<Jid>,
    /// After pairing (or login): our LID with device (`LID:D@lid`).
    pub lid: Option<Jid>,
    /// After pairing: the account's signed vouch for this device, with the
    /// account signature key and our device signature.
    pub account: Option<AdvSignedDeviceIdentity>,
    /// After pairing: the platform name the phone reported, if any.
    pub platform: Option<String>,
    /// The account's push name, from app state (`setting_pushName`): sent
    /// with our presence, so the server names our messages with it.
    pub push_name: Option<String>,
    /// The account's salt for `cstoken`s, from app state (`nct_salt_sync`):
    /// what a 1:1 message carries when we hold no token of the contact's.
    pub nct_salt: Option<Vec<u8>>,
}

impl DeviceState {
    /// A fresh, unpaired device with new keys.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> DeviceState {
        let identity = signal::generate_identity(rng);
        let signed_prekey = match SignedPreKey::generate(&identity, FIRST_SIGNED_PREKEY_ID, rng) {
            Ok(k) => k,
            // Id 1 is always in range; keep the arm total anyway.
            Err(_) => {
                SignedPreKey::from_parts(FIRST_SIGNED_PREKEY_ID, KeyPair::generate(rng), [0; 64])
            }
        };
        let mut adv_secret = [0u8; 32];
        rng.fill_bytes(&mut adv_secret);
        DeviceState {
            noise: KeyPair::generate(rng),
            identity,
            registration_id: signal::generate_registration_id(rng),
            signed_prekey,
            signed_prekey_created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            adv_secret,
            next_prekey_id: 1,
            jid: None,
            lid: None,
            account: None,
            platform: None,
            push_name: None,
            nct_salt: None,
        }
    }

    /// True once a phone has linked this device.
    pub fn is_paired(&self) -> bool {
        self.jid.is_some()
    }

    /// The encoded `ClientPayload` an unpaired device registers with,
    /// describing itself as `agent` says.
    pub fn registration_payload(&self, agent: &Agent) -> Result<Vec<u8>, SignalError> {
        let keys = RegistrationKeys {
            registration_id: signal::encode_registration_id(self.registration_id),
            identity: *self.identity.public(),
            signed_prekey_id: signal::encode_key_id(self.signed_prekey.id())?,
            signed_prekey: *self.signed_prekey.public(),
            signed_prekey_signature: *self.signed_prekey.signature(),
        };
        Ok(agent.registration(&keys).encode_to_vec())
    }

    /// The encoded `ClientPayload` a paired device logs in with; `None`
    /// when not paired (or the JID's user is not a phone number).
    pub fn login_payload(&self, agent: &Agent) -> Option<Vec<u8>> {
        let jid = self.jid.as_ref()?;
        let username = jid.user().parse().ok()?;
        Some(
            agent
                .login(username, u32::from(jid.device()))
                .encode_to_vec(),
        )
    }

    /// Generates `count` one-time prekeys from
    /// [`next_prekey_id`](Self::next_prekey_id) and advances it. The caller
    /// stores them (and this state) before uploading them.
    #[must_use = "the prekeys must be stored"]
    pub fn generate_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        count: u32,
        rng: &mut R,
    ) -> Vec<PreKey> {
        let fresh = signal::generate_prekeys(self.next_prekey_id, count, rng);
        if let Some(last) = fresh.last() {
            self.next_prekey_id = last.id() % signal::MAX_KEY_ID + 1;
        }
        fresh
    }
}

impl fmt::Debug for DeviceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceState")
            .field("noise", &Hex(self.noise.public()))
            .field("identity", &Hex(self.identity.public()))
            .field("registration_id", &self.registration_id)
            .field("signed_prekey_id", &self.signed_prekey.id())
            .field("next_prekey_id", &self.next_prekey_id)
            .field("jid", &self.jid.as_ref().map(ToString::to_string))
            .field("lid", &self.lid.as_ref().map(ToString::to_string))
            .field("account", &self.account.is_some())
            .field("platform", &self.platform)
            .field("push_name", &self.push_name.is_some())
            .field("nct_salt", &self.nct_salt.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secrets() {
        let state = DeviceState::new(&mut rand::rng());
        let shown = format!("{state:?}");
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert!(shown.contains(&hex(state.identity.public())));
        for secret in [
            hex(state.noise.private()),
            hex(state.identity.private()),
            hex(state.signed_prekey.key_pair().private()),
            hex(&state.adv_secret),
        ] {
            assert!(!shown.contains(&secret), "{shown}");
        }
    }

    #[test]
    fn prekey_ids_continue() {
        let mut state = DeviceState::new(&mut rand::rng());
        let ids: Vec<u32> = state
            .generate_prekeys(2, &mut rand::rng())
            .iter()
            .map(PreKey::id)
            .collect();
        assert_eq!(ids, [1, 2]);
        let next = state.generate_prekeys(1, &mut rand::rng())[0].id();
        assert_eq!(next, 3);
        assert_eq!(state.next_prekey_id, 4);
        assert!(state.login_payload(&Agent::default()).is_none());
        assert!(state.registration_payload(&Agent::default()).is_ok());
    }
}

//! Signal-protocol glue: sessions, 1:1 and group ciphers, key material, on
//! `wacore-libsignal` (WhatsApp's flavour of Signal's libsignal: keys are
//! 0x05-prefixed Curve25519 keys, X3DH without Kyber, sender-key messages
//! signed with XEdDSA).
//!
//! Both our companion client and the simulator's scripted phones use this
//! module, so both ends of every test conversation run the same Signal code;
//! Baileys (an independent peer) is what keeps the two honest.
//!
//! # Addresses
//!
//! A [`SignalAddress`] is `name.device`. The name is the JID's user, with
//! `_<domain>` appended when the JID's domain type is not 0: `_1` for `@lid`,
//! `_128` for `@hosted`, `_129` for `@hosted.lid`, and for other servers the
//! JID's raw agent if it has one. The device is the JID's device (0 for the
//! phone). So `123:4@s.whatsapp.net` is `123.4` and `456:2@lid` is `456_1.2`.
//! This is what whatsmeow (`types/jid.go`, `SignalAddressUser`) and Baileys
//! (`Signal/libsignal.js`, `jidToSignalProtocolAddress`) both do.
//! Sender keys are named by the group JID's string form and the sender's
//! address (see [`sender_key_name`]).
//!
//! # Sending and receiving
//!
//! WhatsApp pads every plaintext before Signal encryption; [`pad`] and
//! [`unpad`] are kept apart from [`encrypt`] / [`decrypt`] because `<enc v="3">`
//! payloads carry no padding. A 1:1 conversation starts with
//! [`process_prekey_bundle`] (a bundle fetched from the server), then
//! [`encrypt`] returns [`EncType::Pkmsg`] until the peer's first reply has been
//! decrypted, and [`EncType::Msg`] from then on. Groups use
//! [`create_sender_key_distribution`] (sent pairwise to each member inside a
//! `Message.senderKeyDistributionMessage`) and [`group_encrypt`] (`skmsg`).
//!
//! # Stores
//!
//! The library's store traits are async (boxed by `async-trait`) but need no
//! runtime; the functions here are `async` for that reason only. A
//! [`SignalStore`] lends the five stores at once as [`SignalStores`];
//! [`MemoryStore`] is the in-memory one. Notes for persistent stores:
//!
//! - [`decrypt`] deletes a consumed one-time prekey right after the library has
//!   stored the new session, so `store_session` must be durable when it
//!   returns, or a crash in between leaves a session-less pkmsg undecryptable.
//! - The library leases outbound counters in batches: a record that goes
//!   through `serialize`/`deserialize` fast-forwards past the lease (up to 64
//!   counters), which is safe but skips counters. A store that writes every
//!   record before the ciphertext leaves may call `waive_counter_lease` on each
//!   record it loads instead.
//! - Identity keys are trusted on first use and changes are accepted (the
//!   caller learns of them through [`IdentityChange`]), as WhatsApp clients do.

mod address;
mod error;
mod group;
mod keys;
mod memory;
mod padding;
mod session;

use std::fmt;

pub use address::SignalAddress;
pub use error::SignalError;
pub use group::{
    create_sender_key_distribution, group_decrypt, group_encrypt, process_sender_key_distribution,
    sender_key_name,
};
pub use keys::{
    BundlePreKey, BundleSignedPreKey, KEY_TYPE_DJB, MAX_KEY_ID, PreKey, PreKeyBundle, SignedPreKey,
    decode_key_id, decode_registration_id, encode_key_id, encode_registration_id,
    generate_identity, generate_prekeys, generate_registration_id, signed_prekey_message,
    verify_signed_prekey,
};
pub use memory::{
    MemoryIdentityStore, MemoryPreKeyStore, MemorySenderKeyStore, MemorySessionStore,
    MemorySignedPreKeyStore, MemoryStore,
};
pub use padding::{MAX_PAD, pad, unpad};
pub use session::{EncType, decrypt, encrypt, has_session, process_prekey_bundle};

/// The underlying library's protocol module, for store implementations.
pub use wacore_libsignal::protocol as libsignal;
pub use wacore_libsignal::protocol::IdentityChange;

use wacore_libsignal::protocol::{
    IdentityKeyStore, PreKeyStore, SenderKeyStore, SessionStore, SignedPreKeyStore,
};

/// The five stores a Signal operation may touch, borrowed at once.
///
/// The library's functions take each store as its own `&mut dyn`, so one
/// object cannot stand in for all of them; this struct carries the split.
pub struct SignalStores<'a> {
    /// Our identity key pair, registration id, and peers' identity keys.
    pub identity: &'a mut dyn IdentityKeyStore,
    /// Our one-time prekeys.
    pub prekeys: &'a mut dyn PreKeyStore,
    /// Our signed prekeys.
    pub signed_prekeys: &'a mut dyn SignedPreKeyStore,
    /// Pairwise sessions, one record per address.
    pub sessions: &'a mut dyn SessionStore,
    /// Group sender keys, ours and other members'.
    pub sender_keys: &'a mut dyn SenderKeyStore,
}

impl fmt::Debug for SignalStores<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalStores").finish_non_exhaustive()
    }
}

/// Something that can lend all five Signal stores at once.
pub trait SignalStore {
    /// Borrows the stores for one operation.
    fn stores(&mut self) -> SignalStores<'_>;
}

impl SignalStore for SignalStores<'_> {
    fn stores(&mut self) -> SignalStores<'_> {
        SignalStores {
            identity: &mut *self.identity,
            prekeys: &mut *self.prekeys,
            signed_prekeys: &mut *self.signed_prekeys,
            sessions: &mut *self.sessions,
            sender_keys: &mut *self.sender_keys,
        }
    }
}

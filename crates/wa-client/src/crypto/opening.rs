//! Reading received messages. Decrypting moves a ratchet on, and a message
//! whose plaintext is not kept before the moved ratchet is stored can never
//! be read again: a redelivery meets the stored "old counter" and is taken
//! for a duplicate. So an [`Opening`] holds the store lock for one stanza,
//! keeps the records its decryptions change in memory, and writes them only
//! when the caller [commits](Opening::commit), after it has kept what it
//! read. Stopped in between, the next delivery is read from the kept copy,
//! or decrypted again from the records as they were.

use tokio::sync::MutexGuard;
use wa_core::jid::Jid;
use wa_core::signal::libsignal::{
    IdentityKeyStore as _, PreKeySignalMessage, SenderKeyStore as _, SessionStore as _,
};
use wa_core::signal::{self, EncType, SignalAddress, SignalError};

use super::{
    Crypto, CryptoError, Decrypted, address, identity_key, load_record, put_sender_key, scratch,
};

/// Decryptions of one stanza under one hold of the store lock; what they
/// changed is written by [`Opening::commit`] (dropped, nothing is).
pub(crate) struct Opening<'c> {
    crypto: &'c Crypto,
    _guard: MutexGuard<'c, ()>,
    sessions: Vec<(String, Vec<u8>)>,
    identities: Vec<(String, [u8; 32])>,
    used_prekeys: Vec<u32>,
    /// (group, sender, record)
    sender_keys: Vec<(String, String, Vec<u8>)>,
}

impl std::fmt::Debug for Opening<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opening")
            .field("sessions", &self.sessions.len())
            .field("sender_keys", &self.sender_keys.len())
            .finish_non_exhaustive()
    }
}

/// Replaces the entry under `key`, or adds it.
fn put<K: PartialEq, V>(list: &mut Vec<(K, V)>, key: K, value: V) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = value,
        None => list.push((key, value)),
    }
}

impl Crypto {
    /// Starts reading one stanza: waits for the store lock and holds it.
    pub(crate) async fn opening(&self) -> Opening<'_> {
        Opening {
            crypto: self,
            _guard: self.lock.lock().await,
            sessions: Vec::new(),
            identities: Vec::new(),
            used_prekeys: Vec::new(),
            sender_keys: Vec::new(),
        }
    }
}

impl Opening<'_> {
    /// Decrypts a `pkmsg` or `msg` from device `sender`.
    pub(crate) async fn decrypt(
        &mut self,
        sender: &Jid,
        kind: EncType,
        ciphertext: &[u8],
        signed_prekey: &signal::SignedPreKey,
    ) -> Result<Decrypted, CryptoError> {
        let store = &self.crypto.store;
        let addr = address(sender)?;
        let name = addr.to_string();
        let mut scratch = scratch(&self.crypto.identity, self.crypto.registration_id)?;
        let remote = addr.protocol_address();
        let pending = self.sessions.iter().find(|(n, _)| *n == name);
        let record = match pending {
            Some((_, bytes)) => Some(bytes.clone()),
            None => store
                .load_sessions(std::slice::from_ref(&name))
                .await?
                .pop()
                .flatten(),
        };
        if let Some(bytes) = record {
            scratch
                .sessions
                .store_session(remote, load_record(&bytes)?)
                .await?;
        }
        let stored = store.load_identity(&name).await?;
        let pending = self.identities.iter().find(|(n, _)| *n == name);
        let known = pending.map(|(_, k)| *k).or(stored);
        if let Some(key) = known {
            scratch
                .identity
                .save_identity(remote, &identity_key(&key)?)
                .await?;
        }
        let mut prekey_id = None;
        if kind == EncType::Pkmsg {
            let message = PreKeySignalMessage::try_from(ciphertext).map_err(SignalError::from)?;
            if let Some(id) = message.pre_key_id() {
                let id = u32::from(id);
                if let Some(k) = store.load_prekey(id).await? {
                    scratch.prekeys.insert(&k)?;
                    prekey_id = Some(id);
                }
            }
            let spk_id = u32::from(message.signed_pre_key_id());
            let spk = if spk_id == signed_prekey.id() {
                Some(signed_prekey.clone())
            } else {
                store.load_signed_prekey(spk_id).await?
            };
            if let Some(spk) = spk {
                scratch.signed_prekeys.insert(&spk, 0)?;
            }
        }
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        let plaintext = signal::decrypt(&mut scratch, &addr, kind, ciphertext, &mut rng).await?;

        if let Some(record) = scratch.sessions.load_session(remote).await? {
            put(&mut self.sessions, name.clone(), record.serialize()?);
        }
        let mut identity_changed = false;
        if let Some(key) = scratch.identity.identity_of(&addr) {
            identity_changed = known.is_some_and(|k| k != key);
            if known != Some(key) {
                put(&mut self.identities, name, key);
            }
        }
        if let Some(id) = prekey_id
            && !scratch.prekeys.contains(id)
        {
            self.used_prekeys.push(id);
        }
        Ok(Decrypted {
            plaintext,
            identity_changed,
        })
    }

    /// Stores the sender key `sender` distributed for `group`, at once: a
    /// kept copy does not carry the distribution, and storing it twice (a
    /// redelivery decrypted again) is harmless. It is added to the stored
    /// record; a record this opening moved on gets it too, in memory only,
    /// so nothing moved on is stored before the copy is kept.
    pub(crate) async fn process_sender_key(
        &mut self,
        group: &Jid,
        sender: &Jid,
        distribution: &[u8],
    ) -> Result<(), CryptoError> {
        let addr = address(sender)?;
        let (gname, sname) = (group.to_string(), addr.to_string());
        let mut stored = scratch(&self.crypto.identity, self.crypto.registration_id)?;
        self.crypto
            .load_sender_key(&mut stored, group, &addr)
            .await?;
        signal::process_sender_key_distribution(&mut stored, group, &addr, distribution).await?;
        self.crypto
            .save_sender_key(&stored, group, &addr, &gname, &sname)
            .await?;
        let pending = self
            .sender_keys
            .iter()
            .position(|(g, s, _)| (g, s) == (&gname, &sname));
        if let Some(i) = pending {
            let mut moved = scratch(&self.crypto.identity, self.crypto.registration_id)?;
            put_sender_key(&mut moved, group, &addr, &self.sender_keys[i].2).await?;
            signal::process_sender_key_distribution(&mut moved, group, &addr, distribution).await?;
            let key = signal::sender_key_name(group, &addr);
            if let Some(record) = moved.sender_keys.load_sender_key(&key).await? {
                self.sender_keys[i].2 = record.serialize()?;
            }
        }
        Ok(())
    }

    /// Decrypts an `skmsg` from `sender` in `group`.
    pub(crate) async fn group_decrypt(
        &mut self,
        group: &Jid,
        sender: &Jid,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let addr = address(sender)?;
        let (gname, sname) = (group.to_string(), addr.to_string());
        let mut scratch = scratch(&self.crypto.identity, self.crypto.registration_id)?;
        self.load_sender_key(&mut scratch, group, &addr).await?;
        let plaintext = signal::group_decrypt(&mut scratch, group, &addr, ciphertext).await?;
        let key = signal::sender_key_name(group, &addr);
        if let Some(record) = scratch.sender_keys.load_sender_key(&key).await? {
            let bytes = record.serialize()?;
            self.sender_keys
                .retain(|(g, s, _)| (g, s) != (&gname, &sname));
            self.sender_keys.push((gname, sname, bytes));
        }
        Ok(plaintext)
    }

    /// Loads the sender key of (`group`, `sender`) into `scratch`: the one
    /// changed in this opening, else the stored one.
    async fn load_sender_key(
        &self,
        scratch: &mut signal::MemoryStore,
        group: &Jid,
        sender: &SignalAddress,
    ) -> Result<(), CryptoError> {
        let (gname, sname) = (group.to_string(), sender.to_string());
        let pending = self
            .sender_keys
            .iter()
            .find(|(g, s, _)| (g, s) == (&gname, &sname));
        match pending {
            Some((_, _, bytes)) => put_sender_key(scratch, group, sender, bytes).await,
            None => self.crypto.load_sender_key(scratch, group, sender).await,
        }
    }

    /// Writes what the decryptions changed: sessions and sender keys,
    /// then the identities (last: a commit that fails before them is read
    /// again from the kept copy, and the identity change is still told
    /// when the next message meets it), then removes the one-time prekeys
    /// they used up.
    pub(crate) async fn commit(self) -> Result<(), CryptoError> {
        let store = &self.crypto.store;
        if !self.sessions.is_empty() {
            store.store_sessions(&self.sessions).await?;
        }
        for (group, sender, record) in &self.sender_keys {
            store.store_sender_key(group, sender, record).await?;
        }
        if !self.identities.is_empty() {
            store.save_identities(&self.identities).await?;
        }
        for id in &self.used_prekeys {
            store.remove_prekey(*id).await?;
        }
        Ok(())
    }
}

//! Group messages: sender keys (`<enc type="skmsg">`) and their distribution.
//!
//! Each sender has one sender key per group, named by the group JID and the
//! sender's address. The sender hands its current chain to every member
//! device in a SenderKeyDistributionMessage (sent pairwise), then encrypts
//! each group message once.

use rand::CryptoRng;
use wacore_libsignal::protocol::{self as lib, SenderKeyDistributionMessage, SenderKeyName};

use super::{SignalAddress, SignalError, SignalStore};
use crate::jid::Jid;

/// The library's name of `sender`'s sender key in `group`:
/// `"<group jid>:<sender address>"`.
pub fn sender_key_name(group: &Jid, sender: &SignalAddress) -> SenderKeyName {
    SenderKeyName::new(group.to_string(), sender.to_string())
}

/// Our sender key distribution message for `group`, creating our sender key
/// (a new chain) if there is none yet. `own` is our own device's address.
///
/// The bytes go into `Message.senderKeyDistributionMessage
/// .axolotlSenderKeyDistributionMessage`.
pub async fn create_sender_key_distribution<S, R>(
    store: &mut S,
    group: &Jid,
    own: &SignalAddress,
    rng: &mut R,
) -> Result<Vec<u8>, SignalError>
where
    S: SignalStore + ?Sized,
    R: CryptoRng,
{
    let name = sender_key_name(group, own);
    let stores = store.stores();
    let lock = stores.sender_keys.sender_key_lock(&name).await;
    let _guard = lock.lock().await;
    let skdm = lib::create_sender_key_distribution_message(&name, stores.sender_keys, rng).await?;
    Ok(skdm.serialized().to_vec())
}

/// Takes in `sender`'s sender key for `group` from its distribution message.
pub async fn process_sender_key_distribution<S>(
    store: &mut S,
    group: &Jid,
    sender: &SignalAddress,
    distribution: &[u8],
) -> Result<(), SignalError>
where
    S: SignalStore + ?Sized,
{
    let skdm = SenderKeyDistributionMessage::try_from(distribution)?;
    let name = sender_key_name(group, sender);
    let stores = store.stores();
    let lock = stores.sender_keys.sender_key_lock(&name).await;
    let _guard = lock.lock().await;
    lib::process_sender_key_distribution_message(&name, &skdm, stores.sender_keys).await?;
    Ok(())
}

/// Encrypts `plaintext` (already padded) to `group` with our sender key.
///
/// Fails with [`SignalError::NoSenderKey`] until
/// [`create_sender_key_distribution`] has created one.
pub async fn group_encrypt<S, R>(
    store: &mut S,
    group: &Jid,
    own: &SignalAddress,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, SignalError>
where
    S: SignalStore + ?Sized,
    R: CryptoRng,
{
    let name = sender_key_name(group, own);
    let stores = store.stores();
    let lock = stores.sender_keys.sender_key_lock(&name).await;
    let _guard = lock.lock().await;
    let message = lib::group_encrypt(stores.sender_keys, &name, plaintext, rng).await?;
    Ok(message.serialized().to_vec())
}

/// Decrypts `sender`'s group message (still padded).
///
/// Fails with [`SignalError::NoSenderKey`] when we never got `sender`'s
/// distribution message (or not for this chain): ask for a retry.
pub async fn group_decrypt<S>(
    store: &mut S,
    group: &Jid,
    sender: &SignalAddress,
    ciphertext: &[u8],
) -> Result<Vec<u8>, SignalError>
where
    S: SignalStore + ?Sized,
{
    let name = sender_key_name(group, sender);
    let stores = store.stores();
    let lock = stores.sender_keys.sender_key_lock(&name).await;
    let _guard = lock.lock().await;
    Ok(lib::group_decrypt(ciphertext, stores.sender_keys, &name).await?)
}

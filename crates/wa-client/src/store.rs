//! Where a device keeps its [`DeviceState`] between runs.
//!
//! One trait per role (this one: the device's own keys and identity); each
//! has an in-memory implementation and one conformance suite that every
//! implementation (memory, SQL) runs.

mod memory;

pub use memory::MemoryDeviceStore;

use async_trait::async_trait;

use crate::device::DeviceState;

/// A failure of a store backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, database, ...).
    #[error("store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data that cannot be read back as a valid state.
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
}

/// Keeps one device's [`DeviceState`].
#[async_trait]
pub trait DeviceStore: Send + Sync + std::fmt::Debug {
    /// The stored state, `None` if nothing was saved yet (or it was deleted).
    async fn load(&self) -> Result<Option<DeviceState>, StoreError>;
    /// Saves `state`, replacing what was stored.
    async fn save(&self, state: &DeviceState) -> Result<(), StoreError>;
    /// Forgets the stored state (after a logout).
    async fn delete(&self) -> Result<(), StoreError>;
}

/// The behaviour every [`DeviceStore`] must show; panics (test assertions)
/// on a violation. Starts from, and leaves, an empty store.
pub async fn conformance_device_store(store: &dyn DeviceStore) -> Result<(), StoreError> {
    assert!(store.load().await?.is_none(), "a new store is empty");

    let mut rng = rand::rng();
    let mut state = DeviceState::new(&mut rng);
    store.save(&state).await?;
    let loaded = store.load().await?;
    assert!(
        loaded.as_ref().is_some_and(|l| same(l, &state)),
        "fresh state round-trips: {loaded:?}"
    );

    // Paired, with prekeys: every field must survive.
    state.generate_prekeys(5, &mut rng);
    state.jid = Some(wa_core::jid::Jid::with_device(
        "15550001111",
        3,
        wa_core::jid::Server::User,
    ));
    state.lid = Some(wa_core::jid::Jid::with_device(
        "123456789",
        3,
        wa_core::jid::Server::Lid,
    ));
    state.account = Some(wa_core::proto::AdvSignedDeviceIdentity {
        details: Some(vec![1, 2, 3]),
        account_signature_key: Some(vec![4; 32]),
        account_signature: Some(vec![5; 64]),
        device_signature: Some(vec![6; 64]),
    });
    state.platform = Some("android".to_owned());
    store.save(&state).await?;
    let loaded = store.load().await?;
    assert!(
        loaded.as_ref().is_some_and(|l| same(l, &state)),
        "saving replaces the state: {loaded:?}"
    );

    store.delete().await?;
    assert!(store.load().await?.is_none(), "delete forgets the state");
    store.delete().await?;
    Ok(())
}

/// Field-by-field equality, private halves included (`KeyPair` has no `Eq`).
fn same(a: &DeviceState, b: &DeviceState) -> bool {
    let pair = |x: &wa_core::keys::KeyPair, y: &wa_core::keys::KeyPair| {
        x.private() == y.private() && x.public() == y.public()
    };
    pair(&a.noise, &b.noise)
        && pair(&a.identity, &b.identity)
        && a.registration_id == b.registration_id
        && a.signed_prekey.id() == b.signed_prekey.id()
        && pair(a.signed_prekey.key_pair(), b.signed_prekey.key_pair())
        && a.signed_prekey.signature() == b.signed_prekey.signature()
        && a.adv_secret == b.adv_secret
        && a.next_prekey_id == b.next_prekey_id
        && a.prekeys.len() == b.prekeys.len()
        && a.prekeys
            .iter()
            .zip(&b.prekeys)
            .all(|(x, y)| x.id() == y.id() && pair(x.key_pair(), y.key_pair()))
        && a.jid == b.jid
        && a.lid == b.lid
        && a.account == b.account
        && a.platform == b.platform
}

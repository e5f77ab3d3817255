//! A client killed while it reads a message loses nothing. Decrypting moves
//! the ratchet on; if the moved ratchet were stored before the plaintext
//! was kept, a client that died in between would meet the redelivered
//! message as an "old counter" and drop it as a duplicate (the chaos suite
//! saw exactly this). Here a store freezes the client (its write never
//! returns, as a killed process never returns) at the moment it keeps the
//! copy, and another client on the same store takes over, as a restarted
//! bridge does: it must read the message, 1:1 and in a group.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};
use wa_client::store::*;
use wa_client::{Client, ClientEvent, ClientOptions, DeviceState, MemoryStore};
use wa_core::jid::Jid;
use wa_core::signal::{PreKey, SignedPreKey};
use wa_sim::Sim;

#[path = "support/companion.rs"]
mod companion;
use companion::{next, next_message, options, paired, sim};

/// Ends a frozen client's connection, as its process dying would, and
/// waits until the server has queued again what it did not confirm.
async fn kill(sim: &Sim, client: &Client) {
    let device = client.jid().device();
    assert!(sim.cut("15554440190", device), "connected");
    while sim.is_connected("15554440190", device) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A memory store that, once armed, never returns from keeping a copy.
#[derive(Debug)]
struct Freezing {
    inner: Arc<MemoryStore>,
    armed: AtomicBool,
    frozen: Notify,
}

impl Freezing {
    fn over(inner: &Arc<MemoryStore>) -> Arc<Freezing> {
        Arc::new(Freezing {
            inner: inner.clone(),
            armed: AtomicBool::new(false),
            frozen: Notify::new(),
        })
    }
}

/// Implements `$role` for [`Freezing`] by passing each call on.
macro_rules! pass_on {
    ($role:ident { $(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $role for Freezing {
            $(async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

pass_on!(DeviceStore {
    fn load(&self) -> Option<DeviceState>;
    fn save(&self, state: &DeviceState) -> ();
    fn delete(&self) -> ();
});
pass_on!(IdentityStore {
    fn load_identity(&self, address: &str) -> Option<[u8; 32]>;
    fn save_identities(&self, keys: &[(String, [u8; 32])]) -> Vec<bool>;
    fn delete_identity(&self, address: &str) -> ();
});
pass_on!(PreKeyStore {
    fn store_prekeys(&self, keys: &[PreKey]) -> ();
    fn load_prekey(&self, id: u32) -> Option<PreKey>;
    fn remove_prekey(&self, id: u32) -> ();
    fn prekey_count(&self) -> usize;
});
pass_on!(SignedPreKeyStore {
    fn store_signed_prekey(&self, key: &SignedPreKey) -> ();
    fn load_signed_prekey(&self, id: u32) -> Option<SignedPreKey>;
    fn remove_signed_prekey(&self, id: u32) -> ();
});
pass_on!(SessionStore {
    fn load_sessions(&self, addresses: &[String]) -> Vec<Option<Vec<u8>>>;
    fn store_sessions(&self, records: &[(String, Vec<u8>)]) -> ();
    fn delete_session(&self, address: &str) -> ();
});
pass_on!(SenderKeyStore {
    fn load_sender_key(&self, group: &str, sender: &str) -> Option<Vec<u8>>;
    fn store_sender_key(&self, group: &str, sender: &str, record: &[u8]) -> ();
    fn delete_sender_key(&self, group: &str, sender: &str) -> ();
    fn sender_key_holders(&self, group: &str) -> Vec<String>;
    fn add_sender_key_holders(&self, group: &str, devices: &[String]) -> ();
    fn clear_sender_key_holders(&self, group: &str) -> ();
});
pass_on!(DeviceListStore {
    fn load_devices(&self, user: &str) -> Option<CachedDevices>;
    fn store_devices(&self, user: &str, devices: &CachedDevices) -> ();
    fn delete_devices(&self, user: &str) -> ();
});
pass_on!(LidStore {
    fn store_lid_mapping(&self, pn: &str, lid: &str) -> ();
    fn lid_for_pn(&self, pn: &str) -> Option<String>;
    fn pn_for_lid(&self, lid: &str) -> Option<String>;
});
pass_on!(PrivacyTokenStore {
    fn store_privacy_token(&self, user: &str, token: &[u8], timestamp: u64) -> bool;
    fn privacy_token(&self, user: &str) -> Option<PrivacyToken>;
    fn token_issued_at(&self, user: &str) -> Option<u64>;
    fn set_token_issued_at(&self, user: &str, at: u64) -> ();
    fn prune_privacy_tokens(&self, before: u64) -> usize;
});
pass_on!(MessageSecretStore {
    fn store_message_secrets(&self, secrets: &[MessageSecret]) -> ();
    fn message_secret(&self, chat: &str, sender: &str, id: &str) -> Option<Vec<u8>>;
    fn prune_message_secrets(&self, before: u64) -> usize;
});
pass_on!(AppStateStore {
    fn store_app_state_keys(&self, keys: &[AppStateKey]) -> ();
    fn app_state_key(&self, id: &[u8]) -> Option<AppStateKey>;
    fn latest_app_state_key(&self) -> Option<AppStateKey>;
    fn app_state(&self, name: &str) -> Option<Vec<u8>>;
    fn store_app_state(&self, name: &str, state: &[u8]) -> ();
    fn delete_app_state(&self, name: &str) -> ();
});

#[async_trait]
impl DedupeStore for Freezing {
    async fn mark_message_seen(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        at: u64,
    ) -> Result<bool, StoreError> {
        self.inner.mark_message_seen(chat, sender, id, at).await
    }
    async fn prune_seen(&self, before: u64) -> Result<usize, StoreError> {
        self.inner.prune_seen(before).await
    }
    async fn keep_unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
        plaintext: &[u8],
        at: u64,
    ) -> Result<(), StoreError> {
        if self.armed.load(Ordering::SeqCst) {
            self.frozen.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner
            .keep_unacked(chat, sender, id, plaintext, at)
            .await
    }
    async fn unacked(
        &self,
        chat: &str,
        sender: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.unacked(chat, sender, id).await
    }
    async fn drop_unacked(&self, chat: &str, sender: &str, id: &str) -> Result<(), StoreError> {
        self.inner.drop_unacked(chat, sender, id).await
    }
}

fn manual(sim: &Sim) -> ClientOptions {
    ClientOptions {
        auto_ack: false,
        ..options(sim)
    }
}

async fn start(sim: &Sim, store: &Arc<Freezing>) -> (Client, mpsc::Receiver<ClientEvent>) {
    let store: Arc<dyn Store> = store.clone();
    let (client, mut events) = Client::start(manual(sim), store).await.unwrap();
    assert!(matches!(next(&mut events).await, ClientEvent::Connected));
    (client, events)
}

#[tokio::test]
async fn a_client_killed_before_keeping_a_copy_reads_the_message_again() {
    let sim = sim().await;
    let mine = sim.account("15554440190");
    let bob = sim.account("15554440191");
    let _carol = sim.account("15554440192");
    let memory = paired(&sim, &mine).await;

    let first = Freezing::over(&memory);
    let (client, _events) = start(&sim, &first).await;
    let group = client
        .create_group(
            "killed",
            &[Jid::user_jid("15554440191"), Jid::user_jid("15554440192")],
        )
        .await
        .unwrap();

    // 1:1: the first client freezes while keeping the copy; the second one
    // (a restart) gets the message delivered again and must read it.
    first.armed.store(true, Ordering::SeqCst);
    let one = bob.send_text("15554440190", "one to one").await.unwrap();
    first.frozen.notified().await;
    kill(&sim, &client).await;
    let second = Freezing::over(&memory);
    let (client, mut events) = start(&sim, &second).await;
    let m = next_message(&mut events).await;
    assert_eq!(
        (m.id.as_str(), m.text()),
        (one.as_str(), Some("one to one"))
    );
    client.ack(&m.ack).await.unwrap();

    // A group message, the same way: after one that brought Bob's sender
    // key (acknowledged), so this one is a bare skmsg and only the sender
    // key's ratchet moves.
    let warm = bob.send_group_text(&group.jid, "the key").await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!((m.id.as_str(), m.text()), (warm.as_str(), Some("the key")));
    client.ack(&m.ack).await.unwrap();
    second.armed.store(true, Ordering::SeqCst);
    let two = bob
        .send_group_text(&group.jid, "in the group")
        .await
        .unwrap();
    second.frozen.notified().await;
    kill(&sim, &client).await;
    let third = Freezing::over(&memory);
    let (client, mut events) = start(&sim, &third).await;
    let m = next_message(&mut events).await;
    assert_eq!(
        (m.id.as_str(), m.text()),
        (two.as_str(), Some("in the group"))
    );
    assert_eq!(m.chat, group.jid);
    client.ack(&m.ack).await.unwrap();

    // And the sessions go on: the next messages read as usual.
    let three = bob.send_text("15554440190", "after").await.unwrap();
    let m = next_message(&mut events).await;
    assert_eq!((m.id.as_str(), m.text()), (three.as_str(), Some("after")));
    let four = bob
        .send_group_text(&group.jid, "after, group")
        .await
        .unwrap();
    let m = next_message(&mut events).await;
    assert_eq!(
        (m.id.as_str(), m.text()),
        (four.as_str(), Some("after, group"))
    );
}

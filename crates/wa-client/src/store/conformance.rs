//! The behaviour every [`Store`] backend must show.

use wa_core::jid::{Jid, Server};
use wa_core::keys::KeyPair;
use wa_core::signal::{self, SignedPreKey};

use super::{AppStateKey, CachedDevices, MessageSecret, PrivacyToken, Store, StoreError};
use crate::own_device::DeviceState;

/// Runs every role's checks against `store`; panics (test assertions) on a
/// violation, returns backend errors. Starts from, and leaves, an empty
/// store.
pub async fn conformance(store: &dyn Store) -> Result<(), StoreError> {
    device(store).await?;
    identities(store).await?;
    prekeys(store).await?;
    sessions(store).await?;
    sender_keys(store).await?;
    device_lists(store).await?;
    lids(store).await?;
    privacy_tokens(store).await?;
    message_secrets(store).await?;
    dedupe(store).await?;
    app_state(store).await?;
    // Delete forgets every role.
    store.save(&DeviceState::new(&mut rand::rng())).await?;
    store
        .save_identities(&[("a.0".to_owned(), [1; 32])])
        .await?;
    store.store_sessions(&[("a.0".to_owned(), vec![1])]).await?;
    store.store_app_state_keys(&[app_key(1, 5)]).await?;
    store.store_app_state("regular", &[1, 2]).await?;
    store.store_privacy_token("1@lid", &[1], 5).await?;
    store.set_token_issued_at("1@lid", 5).await?;
    store
        .store_message_secrets(&[secret("c@g.us", "s@lid", "M", &[1], 5)])
        .await?;
    store.delete().await?;
    assert!(store.load().await?.is_none(), "delete forgets the device");
    assert_eq!(store.load_identity("a.0").await?, None, "and identities");
    assert_eq!(
        store.load_sessions(&["a.0".to_owned()]).await?,
        [None],
        "and sessions"
    );
    assert_eq!(
        store.latest_app_state_key().await?,
        None,
        "and app-state keys"
    );
    assert_eq!(store.app_state("regular").await?, None, "and app states");
    assert_eq!(
        store.privacy_token("1@lid").await?,
        None,
        "and privacy tokens"
    );
    assert_eq!(
        store.token_issued_at("1@lid").await?,
        None,
        "and when ours were issued"
    );
    assert_eq!(
        store.message_secret("c@g.us", "s@lid", "M").await?,
        None,
        "and message secrets"
    );
    Ok(())
}

fn secret(chat: &str, sender: &str, id: &str, bytes: &[u8], at: u64) -> MessageSecret {
    MessageSecret {
        chat: chat.to_owned(),
        sender: sender.to_owned(),
        id: id.to_owned(),
        secret: bytes.to_vec(),
        at,
    }
}

async fn message_secrets(store: &dyn Store) -> Result<(), StoreError> {
    let (chat, a, b) = ("1@g.us", "2@lid", "3@s.whatsapp.net");
    assert_eq!(store.message_secret(chat, a, "M1").await?, None);
    store.store_message_secrets(&[]).await?;
    store
        .store_message_secrets(&[
            secret(chat, a, "M1", &[1; 32], 100),
            secret(chat, b, "M1", &[2; 32], 100),
            secret("4@lid", a, "M1", &[3; 32], 300),
        ])
        .await?;
    // Keyed by chat, sender and id: each its own.
    assert_eq!(
        store.message_secret(chat, a, "M1").await?,
        Some(vec![1; 32])
    );
    assert_eq!(
        store.message_secret(chat, b, "M1").await?,
        Some(vec![2; 32])
    );
    assert_eq!(
        store.message_secret("4@lid", a, "M1").await?,
        Some(vec![3; 32])
    );
    assert_eq!(store.message_secret(chat, a, "M2").await?, None);
    // The first secret of a message stays.
    store
        .store_message_secrets(&[secret(chat, a, "M1", &[9; 32], 400)])
        .await?;
    assert_eq!(
        store.message_secret(chat, a, "M1").await?,
        Some(vec![1; 32])
    );
    // Pruned by when they were kept: the later copy did not renew it.
    assert_eq!(store.prune_message_secrets(100).await?, 0);
    assert_eq!(store.prune_message_secrets(101).await?, 2);
    assert_eq!(store.message_secret(chat, a, "M1").await?, None);
    assert_eq!(
        store.message_secret("4@lid", a, "M1").await?,
        Some(vec![3; 32])
    );
    assert_eq!(store.prune_message_secrets(u64::MAX).await?, 1);
    Ok(())
}

async fn device(store: &dyn Store) -> Result<(), StoreError> {
    assert!(store.load().await?.is_none(), "a new store is empty");
    let mut rng = rand::rng();
    let mut state = DeviceState::new(&mut rng);
    store.save(&state).await?;
    let loaded = store.load().await?;
    assert!(
        loaded.as_ref().is_some_and(|l| same(l, &state)),
        "fresh state round-trips: {loaded:?}"
    );

    // Paired: every field must survive.
    let _ = state.generate_prekeys(5, &mut rng);
    state.jid = Some(Jid::with_device("15550001111", 3, Server::User));
    state.lid = Some(Jid::with_device("123456789", 3, Server::Lid));
    state.account = Some(wa_core::proto::AdvSignedDeviceIdentity {
        details: Some(vec![1, 2, 3]),
        account_signature_key: Some(vec![4; 32]),
        account_signature: Some(vec![5; 64]),
        device_signature: Some(vec![6; 64]),
    });
    state.platform = Some("android".to_owned());
    state.push_name = Some("Dora Example ✨".to_owned());
    state.nct_salt = Some(vec![9; 32]);
    state.signed_prekey_created = 1_700_000_123;
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

async fn identities(store: &dyn Store) -> Result<(), StoreError> {
    let a = "123_1.0".to_owned();
    assert_eq!(store.load_identity(&a).await?, None);
    assert_eq!(
        store.save_identities(&[(a.clone(), [7; 32])]).await?,
        [false],
        "a first key is no change"
    );
    assert_eq!(
        store
            .save_identities(&[(a.clone(), [7; 32]), ("123_1.3".to_owned(), [2; 32])])
            .await?,
        [false, false]
    );
    assert_eq!(store.load_identity(&a).await?, Some([7; 32]));
    assert_eq!(store.load_identity("123_1.1").await?, None, "per device");
    assert_eq!(store.load_identity("123_1.3").await?, Some([2; 32]));
    assert_eq!(
        store
            .save_identities(&[("123_1.3".to_owned(), [2; 32]), (a.clone(), [8; 32])])
            .await?,
        [false, true],
        "a different key is reported, in order"
    );
    assert_eq!(store.load_identity(&a).await?, Some([8; 32]));
    store.delete_identity("123_1.3").await?;
    store.delete_identity("123_1.0").await?;
    assert_eq!(store.load_identity("123_1.0").await?, None);
    Ok(())
}

async fn prekeys(store: &dyn Store) -> Result<(), StoreError> {
    let mut rng = rand::rng();
    assert_eq!(store.prekey_count().await?, 0);
    let keys = signal::generate_prekeys(10, 3, &mut rng);
    store.store_prekeys(&keys).await?;
    assert_eq!(store.prekey_count().await?, 3);
    for k in &keys {
        let loaded = store.load_prekey(k.id()).await?;
        assert!(
            loaded.as_ref().is_some_and(|l| l.id() == k.id()
                && l.key_pair().private() == k.key_pair().private()
                && l.public() == k.public()),
            "prekey {} round-trips",
            k.id()
        );
    }
    assert!(store.load_prekey(9).await?.is_none());
    store.remove_prekey(11).await?;
    assert!(
        store.load_prekey(11).await?.is_none(),
        "a used prekey is gone"
    );
    assert_eq!(store.prekey_count().await?, 2);
    store.remove_prekey(11).await?;
    for k in &keys {
        store.remove_prekey(k.id()).await?;
    }

    let identity = signal::generate_identity(&mut rng);
    let signed = SignedPreKey::generate(&identity, 4, &mut rng)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store.store_signed_prekey(&signed).await?;
    let loaded = store.load_signed_prekey(4).await?;
    assert!(
        loaded.as_ref().is_some_and(|l| l.id() == 4
            && l.signature() == signed.signature()
            && l.key_pair().private() == signed.key_pair().private()),
        "signed prekey round-trips"
    );
    assert!(store.load_signed_prekey(5).await?.is_none());
    store.remove_signed_prekey(4).await?;
    assert!(store.load_signed_prekey(4).await?.is_none());
    Ok(())
}

async fn sessions(store: &dyn Store) -> Result<(), StoreError> {
    let a = "100_1.0".to_owned();
    let b = "100_1.2".to_owned();
    assert_eq!(
        store.load_sessions(&[a.clone(), b.clone()]).await?,
        [None, None]
    );
    store
        .store_sessions(&[(a.clone(), vec![1, 2]), (b.clone(), vec![3])])
        .await?;
    assert_eq!(
        store
            .load_sessions(&[b.clone(), "x.0".to_owned(), a.clone()])
            .await?,
        [Some(vec![3]), None, Some(vec![1, 2])],
        "loaded in the order asked"
    );
    store.store_sessions(&[(a.clone(), vec![9])]).await?;
    assert_eq!(
        store.load_sessions(std::slice::from_ref(&a)).await?,
        [Some(vec![9])]
    );
    store.delete_session(&a).await?;
    assert_eq!(store.load_sessions(std::slice::from_ref(&a)).await?, [None]);
    store.delete_session(&b).await?;
    // A large batch (a first group message) in one call.
    let many: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|i| (format!("{i}_1.0"), vec![(i % 251) as u8; 8]))
        .collect();
    store.store_sessions(&many).await?;
    let names: Vec<String> = many.iter().map(|(n, _)| n.clone()).collect();
    let loaded = store.load_sessions(&names).await?;
    assert!(
        loaded
            .iter()
            .zip(&many)
            .all(|(l, (_, r))| l.as_ref() == Some(r)),
        "3000 sessions round-trip in one batch"
    );
    for n in &names {
        store.delete_session(n).await?;
    }
    Ok(())
}

async fn sender_keys(store: &dyn Store) -> Result<(), StoreError> {
    let g = "120363@g.us";
    assert_eq!(store.load_sender_key(g, "1.0").await?, None);
    store.store_sender_key(g, "1.0", &[1, 2]).await?;
    store.store_sender_key(g, "2.0", &[3]).await?;
    store.store_sender_key("other@g.us", "1.0", &[4]).await?;
    assert_eq!(store.load_sender_key(g, "1.0").await?, Some(vec![1, 2]));
    assert_eq!(store.load_sender_key(g, "2.0").await?, Some(vec![3]));
    store.store_sender_key(g, "1.0", &[5]).await?;
    assert_eq!(store.load_sender_key(g, "1.0").await?, Some(vec![5]));
    store.delete_sender_key(g, "1.0").await?;
    assert_eq!(store.load_sender_key(g, "1.0").await?, None);
    assert_eq!(
        store.load_sender_key("other@g.us", "1.0").await?,
        Some(vec![4]),
        "per group"
    );
    store.delete_sender_key(g, "2.0").await?;
    store.delete_sender_key("other@g.us", "1.0").await?;

    assert!(store.sender_key_holders(g).await?.is_empty());
    store
        .add_sender_key_holders(g, &["1@lid".to_owned(), "2:1@lid".to_owned()])
        .await?;
    store
        .add_sender_key_holders(g, &["2:1@lid".to_owned(), "3@lid".to_owned()])
        .await?;
    let mut holders = store.sender_key_holders(g).await?;
    holders.sort();
    assert_eq!(holders, ["1@lid", "2:1@lid", "3@lid"], "a set, merged");
    assert!(store.sender_key_holders("other@g.us").await?.is_empty());
    store.clear_sender_key_holders(g).await?;
    assert!(store.sender_key_holders(g).await?.is_empty());
    Ok(())
}

async fn device_lists(store: &dyn Store) -> Result<(), StoreError> {
    let entry = CachedDevices {
        devices: vec![0, 3, 17],
        fetched: 1_700_000_000,
    };
    assert_eq!(store.load_devices("9@lid").await?, None);
    store.store_devices("9@lid", &entry).await?;
    assert_eq!(store.load_devices("9@lid").await?, Some(entry.clone()));
    let newer = CachedDevices {
        devices: vec![0],
        fetched: 1_700_000_100,
    };
    store.store_devices("9@lid", &newer).await?;
    assert_eq!(store.load_devices("9@lid").await?, Some(newer));
    store.delete_devices("9@lid").await?;
    assert_eq!(store.load_devices("9@lid").await?, None);
    Ok(())
}

async fn lids(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.lid_for_pn("1555").await?, None);
    store.store_lid_mapping("1555", "777").await?;
    assert_eq!(store.lid_for_pn("1555").await?.as_deref(), Some("777"));
    assert_eq!(store.pn_for_lid("777").await?.as_deref(), Some("1555"));
    // A number that moved to another LID: the old LID no longer maps to it.
    store.store_lid_mapping("1555", "888").await?;
    assert_eq!(store.lid_for_pn("1555").await?.as_deref(), Some("888"));
    assert_eq!(store.pn_for_lid("888").await?.as_deref(), Some("1555"));
    assert_eq!(store.pn_for_lid("777").await?, None);
    Ok(())
}

async fn privacy_tokens(store: &dyn Store) -> Result<(), StoreError> {
    let (a, b) = ("1@lid", "2@s.whatsapp.net");
    assert_eq!(store.privacy_token(a).await?, None);
    assert_eq!(store.token_issued_at(a).await?, None);
    let token = |bytes: &[u8], timestamp| PrivacyToken {
        token: bytes.to_vec(),
        timestamp,
    };
    assert!(store.store_privacy_token(a, &[1, 2, 3], 100).await?);
    assert_eq!(store.privacy_token(a).await?, Some(token(&[1, 2, 3], 100)));
    assert!(
        store.store_privacy_token(a, &[4], 200).await?,
        "a newer token replaces"
    );
    assert_eq!(store.privacy_token(a).await?, Some(token(&[4], 200)));
    assert!(
        !store.store_privacy_token(a, &[5], 150).await?,
        "an older token is refused"
    );
    assert_eq!(store.privacy_token(a).await?, Some(token(&[4], 200)));
    assert!(
        store.store_privacy_token(a, &[0, 0xff], 200).await?,
        "an equal timestamp replaces"
    );
    assert_eq!(store.privacy_token(a).await?, Some(token(&[0, 0xff], 200)));

    // Issued-at and the received token are independent, and per user.
    assert_eq!(store.token_issued_at(a).await?, None, "none issued yet");
    store.set_token_issued_at(b, 300).await?;
    assert_eq!(store.token_issued_at(b).await?, Some(300));
    assert_eq!(store.privacy_token(b).await?, None, "b gave us none");
    store.set_token_issued_at(b, 250).await?;
    assert_eq!(
        store.token_issued_at(b).await?,
        Some(250),
        "issued-at is replaced as set"
    );
    assert!(
        store.store_privacy_token(b, &[9], 50).await?,
        "b's first token, older than a's"
    );
    assert_eq!(store.privacy_token(a).await?, Some(token(&[0, 0xff], 200)));
    store.set_token_issued_at(a, 400).await?;
    assert_eq!(store.token_issued_at(a).await?, Some(400));
    assert_eq!(store.token_issued_at(b).await?, Some(250));

    // Pruning forgets received tokens older than the bound, nothing else.
    assert_eq!(store.prune_privacy_tokens(50).await?, 0);
    assert_eq!(store.prune_privacy_tokens(100).await?, 1);
    assert_eq!(store.privacy_token(b).await?, None);
    assert_eq!(store.privacy_token(a).await?, Some(token(&[0, 0xff], 200)));
    assert_eq!(
        store.token_issued_at(b).await?,
        Some(250),
        "pruning keeps issued-at"
    );
    assert!(
        store.store_privacy_token(b, &[8], 40).await?,
        "a pruned token is forgotten: any timestamp stores"
    );
    assert_eq!(store.prune_privacy_tokens(u64::MAX).await?, 2);
    assert_eq!(store.privacy_token(a).await?, None);
    assert_eq!(store.token_issued_at(a).await?, Some(400));
    Ok(())
}

async fn dedupe(store: &dyn Store) -> Result<(), StoreError> {
    assert!(
        store
            .mark_message_seen("c@s.whatsapp.net", "s", "ID1", 100)
            .await?
    );
    assert!(
        !store
            .mark_message_seen("c@s.whatsapp.net", "s", "ID1", 101)
            .await?
    );
    assert!(
        store
            .mark_message_seen("c@s.whatsapp.net", "t", "ID1", 102)
            .await?,
        "the same id from another sender is another message"
    );
    assert!(store.mark_message_seen("d@g.us", "s", "ID1", 200).await?);
    assert_eq!(store.prune_seen(150).await?, 2);
    assert!(
        store
            .mark_message_seen("c@s.whatsapp.net", "s", "ID1", 300)
            .await?,
        "pruned entries are forgotten"
    );
    assert!(!store.mark_message_seen("d@g.us", "s", "ID1", 300).await?);
    assert_eq!(store.prune_seen(u64::MAX).await?, 2);

    // Kept copies: by (chat, sender, id), replaced, dropped, pruned.
    let chat = "c@s.whatsapp.net";
    assert_eq!(store.unacked(chat, "", "K1").await?, None);
    store.keep_unacked(chat, "", "K1", b"first", 400).await?;
    store.keep_unacked(chat, "", "K1", b"second", 401).await?;
    store
        .keep_unacked("g@g.us", "s", "K1", b"group", 402)
        .await?;
    store
        .keep_unacked("g@g.us", "t", "K2", b"\x00\xff", 500)
        .await?;
    assert_eq!(
        store.unacked(chat, "", "K1").await?.as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(
        store.unacked("g@g.us", "s", "K1").await?.as_deref(),
        Some(&b"group"[..])
    );
    assert_eq!(store.unacked("g@g.us", "t", "K1").await?, None);
    store.drop_unacked(chat, "", "K1").await?;
    store.drop_unacked(chat, "", "K1").await?;
    assert_eq!(store.unacked(chat, "", "K1").await?, None);
    assert_eq!(
        store.unacked("g@g.us", "s", "K1").await?.as_deref(),
        Some(&b"group"[..]),
        "dropping one copy leaves the others"
    );
    assert_eq!(store.prune_seen(450).await?, 1);
    assert_eq!(store.unacked("g@g.us", "s", "K1").await?, None);
    assert_eq!(
        store.unacked("g@g.us", "t", "K2").await?.as_deref(),
        Some(&b"\x00\xff"[..])
    );
    store.drop_unacked("g@g.us", "t", "K2").await?;
    Ok(())
}

fn app_key(n: u8, timestamp: i64) -> AppStateKey {
    AppStateKey {
        id: vec![0, 0, 0, 0, 1, n],
        data: [n; 32],
        timestamp,
    }
}

async fn app_state(store: &dyn Store) -> Result<(), StoreError> {
    assert_eq!(store.latest_app_state_key().await?, None);
    assert_eq!(store.app_state_key(&app_key(1, 0).id).await?, None);
    store
        .store_app_state_keys(&[app_key(1, 100), app_key(2, 300)])
        .await?;
    store.store_app_state_keys(&[app_key(3, 200)]).await?;
    assert_eq!(
        store.app_state_key(&app_key(1, 0).id).await?,
        Some(app_key(1, 100))
    );
    assert_eq!(store.app_state_key(&[9]).await?, None);
    assert_eq!(
        store.latest_app_state_key().await?,
        Some(app_key(2, 300)),
        "the newest by timestamp, not the last stored"
    );
    store.store_app_state_keys(&[app_key(4, 300)]).await?;
    assert_eq!(
        store.latest_app_state_key().await?,
        Some(app_key(4, 300)),
        "of equal timestamps, the greatest id"
    );
    store.store_app_state_keys(&[app_key(4, 50)]).await?;
    assert_eq!(
        store.app_state_key(&app_key(4, 0).id).await?,
        Some(app_key(4, 50)),
        "a key with a known id replaces it"
    );
    assert_eq!(store.latest_app_state_key().await?, Some(app_key(2, 300)));

    assert_eq!(store.app_state("regular_low").await?, None);
    store.store_app_state("regular_low", &[1, 2, 3]).await?;
    store.store_app_state("regular_high", &[4]).await?;
    assert_eq!(store.app_state("regular_low").await?, Some(vec![1, 2, 3]));
    let big = vec![7u8; 100_000];
    store.store_app_state("regular_low", &big).await?;
    assert_eq!(
        store.app_state("regular_low").await?,
        Some(big),
        "replaced; large states round-trip"
    );
    store.delete_app_state("regular_low").await?;
    assert_eq!(store.app_state("regular_low").await?, None);
    assert_eq!(store.app_state("regular_high").await?, Some(vec![4]));
    store.delete_app_state("regular_high").await?;
    store.delete_app_state("regular_high").await?;
    Ok(())
}

/// Field-by-field equality, private halves included (`KeyPair` has no `Eq`).
fn same(a: &DeviceState, b: &DeviceState) -> bool {
    let pair = |x: &KeyPair, y: &KeyPair| x.private() == y.private() && x.public() == y.public();
    pair(&a.noise, &b.noise)
        && pair(&a.identity, &b.identity)
        && a.registration_id == b.registration_id
        && a.signed_prekey.id() == b.signed_prekey.id()
        && pair(a.signed_prekey.key_pair(), b.signed_prekey.key_pair())
        && a.signed_prekey.signature() == b.signed_prekey.signature()
        && a.signed_prekey_created == b.signed_prekey_created
        && a.adv_secret == b.adv_secret
        && a.next_prekey_id == b.next_prekey_id
        && a.jid == b.jid
        && a.lid == b.lid
        && a.account == b.account
        && a.platform == b.platform
        && a.push_name == b.push_name
        && a.nct_salt == b.nct_salt
}

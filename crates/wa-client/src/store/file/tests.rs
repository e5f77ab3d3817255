//! The file store: conformance, a reopen round-trip of every role, the
//! lock, the file mode, corrupt files, and `Debug`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wa_core::jid::{Jid, Server};
use wa_core::keys::KeyPair;
use wa_core::proto::AdvSignedDeviceIdentity;

use super::*;
use crate::store::Store;

/// A fresh path in the temp folder, removed (with its `.tmp`) on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        TempPath::in_dir(&std::env::temp_dir(), name)
    }

    /// In memory where there is a tmpfs: for tests of behaviour, not of
    /// durability, that write thousands of snapshots (an fsync to disk
    /// costs milliseconds each).
    fn fast(name: &str) -> TempPath {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            TempPath::in_dir(shm, name)
        } else {
            TempPath::new(name)
        }
    }

    fn in_dir(dir: &Path, name: &str) -> TempPath {
        let unique: u64 = rand::random();
        TempPath(dir.join(format!(
            "wa-client-{name}-{}-{unique:016x}.json",
            std::process::id()
        )))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        let _ = fs::remove_file(sibling(&self.0, ".tmp"));
        let _ = fs::remove_file(sibling(&self.0, ".lock"));
    }
}

fn snapshot(store: &FileStore) -> Vec<u8> {
    store.memory.with_inner(encode).unwrap().unwrap()
}

/// A paired device with every field set.
fn paired_device() -> DeviceState {
    let mut state = DeviceState::new(&mut rand::rng());
    let _ = state.generate_prekeys(3, &mut rand::rng());
    state.jid = Some(Jid::with_device("15550001111", 3, Server::User));
    state.lid = Some(Jid::with_device("123456789", 3, Server::Lid));
    state.account = Some(AdvSignedDeviceIdentity {
        details: Some(vec![1, 2, 3]),
        account_signature_key: Some(vec![4; 32]),
        account_signature: Some(vec![5; 64]),
        device_signature: Some(vec![6; 64]),
    });
    state.platform = Some("android".to_owned());
    state.signed_prekey_created = 1_700_000_123;
    state
}

/// Something in every role.
async fn fill(store: &dyn Store, state: &DeviceState) -> Result<(), StoreError> {
    store.save(state).await?;
    store
        .save_identities(&[("1_1.0".to_owned(), [7; 32]), ("2.3".to_owned(), [8; 32])])
        .await?;
    store
        .store_prekeys(&wa_core::signal::generate_prekeys(5, 2, &mut rand::rng()))
        .await?;
    store.store_signed_prekey(&state.signed_prekey).await?;
    store
        .store_sessions(&[("1_1.0".to_owned(), vec![1, 2, 3])])
        .await?;
    store.store_sender_key("g@g.us", "1_1.0", &[9, 9]).await?;
    store
        .add_sender_key_holders("g@g.us", &["1@lid".to_owned(), "2:1@lid".to_owned()])
        .await?;
    let cached = CachedDevices {
        devices: vec![0, 3],
        fetched: 1_700_000_000,
    };
    store.store_devices("1@lid", &cached).await?;
    store.store_lid_mapping("1555", "777").await?;
    store
        .store_privacy_token("1@lid", &[0xee, 0, 1], 1_700_000_001)
        .await?;
    store
        .set_token_issued_at("2@s.whatsapp.net", 1_700_000_002)
        .await?;
    store
        .mark_message_seen("c@s.whatsapp.net", "s", "ID", 5)
        .await?;
    store
        .keep_unacked("g@g.us", "s", "ID2", &[7, 0, 7], 5)
        .await?;
    store
        .store_app_state_keys(&[AppStateKey {
            id: vec![0, 0, 0, 0, 1, 2],
            data: [3; 32],
            timestamp: 1_700_000_000_000,
        }])
        .await?;
    store.store_app_state("regular_low", &[4, 5, 6]).await?;
    Ok(())
}

#[tokio::test]
async fn file_store_conforms() {
    let path = TempPath::fast("conformance");
    let store = FileStore::open(&path.0).unwrap();
    let result = crate::store::conformance(&store).await;
    assert!(result.is_ok(), "{result:?}");
    let written = snapshot(&store);
    drop(store);
    let reopened = FileStore::open(&path.0).unwrap();
    assert_eq!(snapshot(&reopened), written, "the file is current");
}

#[tokio::test]
async fn every_role_survives_a_reopen() {
    let path = TempPath::new("reopen");
    assert!(!path.0.exists());
    let store = FileStore::open(&path.0).unwrap();
    let state = paired_device();
    fill(&store, &state).await.unwrap();
    let written = snapshot(&store);
    drop(store);

    let store = FileStore::open(&path.0).unwrap();
    // What encode writes, decode gives back exactly...
    assert_eq!(snapshot(&store), written);
    // ...and encode writes what the roles hold.
    let loaded = store.load().await.unwrap().unwrap();
    let pair = |a: &KeyPair, b: &KeyPair| a.private() == b.private() && a.public() == b.public();
    assert!(pair(&loaded.noise, &state.noise));
    assert!(pair(&loaded.identity, &state.identity));
    assert!(pair(
        loaded.signed_prekey.key_pair(),
        state.signed_prekey.key_pair()
    ));
    assert_eq!(loaded.signed_prekey.id(), state.signed_prekey.id());
    assert_eq!(
        loaded.signed_prekey.signature(),
        state.signed_prekey.signature()
    );
    assert_eq!(loaded.signed_prekey_created, state.signed_prekey_created);
    assert_eq!(loaded.registration_id, state.registration_id);
    assert_eq!(loaded.adv_secret, state.adv_secret);
    assert_eq!(loaded.next_prekey_id, state.next_prekey_id);
    assert_eq!(
        (&loaded.jid, &loaded.lid, &loaded.account, &loaded.platform),
        (&state.jid, &state.lid, &state.account, &state.platform)
    );
    assert_eq!(store.load_identity("2.3").await.unwrap(), Some([8; 32]));
    assert_eq!(store.prekey_count().await.unwrap(), 2);
    assert!(store.load_prekey(6).await.unwrap().is_some());
    let signed = store.load_signed_prekey(state.signed_prekey.id()).await;
    assert!(
        signed
            .unwrap()
            .is_some_and(|k| pair(k.key_pair(), state.signed_prekey.key_pair()))
    );
    assert_eq!(
        store.load_sessions(&["1_1.0".to_owned()]).await.unwrap(),
        [Some(vec![1, 2, 3])]
    );
    assert_eq!(
        store.load_sender_key("g@g.us", "1_1.0").await.unwrap(),
        Some(vec![9, 9])
    );
    assert_eq!(
        store.sender_key_holders("g@g.us").await.unwrap(),
        ["1@lid", "2:1@lid"]
    );
    assert_eq!(
        store
            .load_devices("1@lid")
            .await
            .unwrap()
            .map(|d| d.devices),
        Some(vec![0, 3])
    );
    assert_eq!(
        store.pn_for_lid("777").await.unwrap().as_deref(),
        Some("1555")
    );
    assert_eq!(
        store.privacy_token("1@lid").await.unwrap(),
        Some(crate::store::PrivacyToken {
            token: vec![0xee, 0, 1],
            timestamp: 1_700_000_001
        }),
        "the privacy token survives"
    );
    assert_eq!(
        store.token_issued_at("2@s.whatsapp.net").await.unwrap(),
        Some(1_700_000_002)
    );
    assert_eq!(store.token_issued_at("1@lid").await.unwrap(), None);
    assert!(
        !store
            .mark_message_seen("c@s.whatsapp.net", "s", "ID", 6)
            .await
            .unwrap(),
        "the seen mark survives"
    );
    assert_eq!(
        store.unacked("g@g.us", "s", "ID2").await.unwrap(),
        Some(vec![7, 0, 7]),
        "the kept copy survives"
    );
    let key = store.latest_app_state_key().await.unwrap().unwrap();
    assert_eq!(
        (key.id.as_slice(), key.data, key.timestamp),
        (&[0, 0, 0, 0, 1, 2][..], [3; 32], 1_700_000_000_000)
    );
    assert_eq!(
        store.app_state("regular_low").await.unwrap(),
        Some(vec![4, 5, 6])
    );

    // Delete clears the file too.
    store.delete().await.unwrap();
    drop(store);
    let store = FileStore::open(&path.0).unwrap();
    assert!(store.load().await.unwrap().is_none());
    assert_eq!(store.load_identity("2.3").await.unwrap(), None);
}

#[tokio::test]
async fn a_file_from_before_privacy_tokens_loads_with_none() {
    let path = TempPath::new("old-format");
    let store = FileStore::open(&path.0).unwrap();
    fill(&store, &paired_device()).await.unwrap();
    drop(store);
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&path.0).unwrap()).unwrap();
    let fields = json.as_object_mut().unwrap();
    assert!(fields.remove("privacy_tokens").is_some());
    assert!(fields.remove("tokens_issued").is_some());
    fs::write(&path.0, serde_json::to_vec(&json).unwrap()).unwrap();

    let store = FileStore::open(&path.0).unwrap();
    assert!(store.load().await.unwrap().is_some(), "the rest loads");
    assert_eq!(store.privacy_token("1@lid").await.unwrap(), None);
    assert_eq!(
        store.token_issued_at("2@s.whatsapp.net").await.unwrap(),
        None
    );
    assert!(store.store_privacy_token("1@lid", &[1], 1).await.unwrap());
}

#[test]
fn one_store_per_file() {
    let path = TempPath::new("lock");
    let first = FileStore::open(&path.0).unwrap();
    let second = FileStore::open(&path.0);
    assert!(matches!(second, Err(StoreError::Backend(_))), "{second:?}");
    drop(first);
    assert!(FileStore::open(&path.0).is_ok(), "free again once closed");
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let path = TempPath::new("mode");
    let store = FileStore::open(&path.0).unwrap();
    store.save(&paired_device()).await.unwrap();
    let mode = fs::metadata(&path.0).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_bad_file_is_corrupt_naming_the_path() {
    let path = TempPath::new("corrupt");
    let state = paired_device();
    let store = FileStore::open(&path.0).unwrap();
    store.save(&state).await.unwrap();
    drop(store);
    let good = fs::read_to_string(&path.0).unwrap();
    let secret = STANDARD.encode(state.identity.private());
    let short = STANDARD.encode([1u8; 31]);
    for bad in [
        String::new(),
        "{".to_owned(),
        "null".to_owned(),
        "[1,2]".to_owned(),
        r#"{"version": 2}"#.to_owned(),
        r#"{"version": 1}"#.to_owned(),
        good[..good.len() / 2].to_owned(),
        good.replace(&secret, "!!"),
        good.replace(&secret, &short),
        // A key where a number belongs: the message must not quote it.
        good.replace(
            "\"registration_id\":",
            &format!("\"registration_id\":\"{secret}\",\"x\":"),
        ),
        good.replace("15550001111:3@s.whatsapp.net", "no-at-sign"),
    ] {
        fs::write(&path.0, &bad).unwrap();
        match FileStore::open(&path.0) {
            Err(StoreError::Corrupt(why)) => {
                assert!(why.contains(&path.0.display().to_string()), "{why}");
                assert!(!why.contains(&secret), "{why}");
            }
            other => panic!("{bad:?} opened: {other:?}"),
        }
    }
    fs::write(&path.0, [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(
        FileStore::open(&path.0),
        Err(StoreError::Corrupt(_))
    ));
    // A folder where the file should be.
    let dir = TempPath::new("dir");
    fs::create_dir(&dir.0).unwrap();
    let result = FileStore::open(&dir.0);
    let _ = fs::remove_dir(&dir.0);
    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

#[tokio::test]
async fn debug_prints_no_secrets() {
    let path = TempPath::new("debug");
    let store = FileStore::open(&path.0).unwrap();
    let state = paired_device();
    fill(&store, &state).await.unwrap();
    let shown = format!("{store:?}");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for secret in [
        state.noise.private().as_slice(),
        state.identity.private(),
        state.signed_prekey.key_pair().private(),
        &state.adv_secret,
    ] {
        assert!(!shown.contains(&hex(secret)), "{shown}");
        assert!(!shown.contains(&STANDARD.encode(secret)), "{shown}");
    }
    assert!(shown.contains("FileStore"), "{shown}");
}

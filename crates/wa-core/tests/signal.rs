//! Signal glue end to end: sessions from prekey bundles, the 1:1 cipher both
//! ways, one-time prekey use, tampering, group sender keys, and padding.
//!
//! Every device is a `MemoryStore`; the async functions are driven by a
//! minimal executor, since the in-memory stores never wait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use rand::CryptoRng;
use wa_core::Jid;
use wa_core::keys::KeyPair;
use wa_core::signal::{
    self, EncType, IdentityChange, MemoryStore, PreKey, PreKeyBundle, SignalAddress, SignalError,
    SignedPreKey, create_sender_key_distribution, decrypt, encrypt, group_decrypt, group_encrypt,
    has_session, pad, process_prekey_bundle, process_sender_key_distribution, unpad,
};

/// Polls `fut` to completion on this thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => thread::park(),
        }
    }
}

const NOW_MS: u64 = 1_700_000_000_000;

/// One device: its stores and the key material it would upload.
struct Device {
    store: MemoryStore,
    identity: KeyPair,
    registration_id: u32,
    address: SignalAddress,
    signed_prekey: SignedPreKey,
    prekeys: Vec<PreKey>,
}

impl Device {
    fn new(jid: &str) -> Device {
        let rng = &mut rand::rng();
        let identity = signal::generate_identity(rng);
        let registration_id = signal::generate_registration_id(rng);
        let mut store = MemoryStore::new(&identity, registration_id).unwrap();
        let signed_prekey = SignedPreKey::generate(&identity, 1, rng).unwrap();
        store.signed_prekeys.insert(&signed_prekey, NOW_MS).unwrap();
        let prekeys = signal::generate_prekeys(1, 5, rng);
        for key in &prekeys {
            store.prekeys.insert(key).unwrap();
        }
        let jid: Jid = jid.parse().unwrap();
        Device {
            store,
            identity,
            registration_id,
            address: SignalAddress::from_jid(&jid).unwrap(),
            signed_prekey,
            prekeys,
        }
    }

    /// The bundle the server hands out, with the `index`th one-time prekey.
    fn bundle(&self, index: Option<usize>) -> PreKeyBundle {
        PreKeyBundle::from_keys(
            self.registration_id,
            self.identity.public(),
            &self.signed_prekey,
            index.map(|i| &self.prekeys[i]),
        )
        .unwrap()
    }

    fn start_session(&mut self, peer: &Device, index: Option<usize>) -> IdentityChange {
        block_on(process_prekey_bundle(
            &mut self.store,
            &peer.address,
            &peer.bundle(index),
            &mut rand::rng(),
        ))
        .unwrap()
    }

    fn send(&mut self, to: &Device, text: &[u8]) -> (EncType, Vec<u8>) {
        block_on(encrypt(&mut self.store, &to.address, text)).unwrap()
    }

    fn receive(
        &mut self,
        from: &Device,
        (enc_type, bytes): &(EncType, Vec<u8>),
    ) -> Result<Vec<u8>, SignalError> {
        block_on(decrypt(
            &mut self.store,
            &from.address,
            *enc_type,
            bytes,
            &mut rand::rng(),
        ))
    }

    fn has_session_with(&mut self, peer: &Device) -> bool {
        block_on(has_session(&mut self.store, &peer.address)).unwrap()
    }
}

/// The conversation after the session is built: pkmsg until Bob answers,
/// then msg both ways.
fn converse(alice: &mut Device, bob: &mut Device) {
    let first = alice.send(bob, b"hello bob");
    assert_eq!(first.0, EncType::Pkmsg);
    assert_eq!(bob.receive(alice, &first).unwrap(), b"hello bob");
    assert!(bob.has_session_with(alice));

    // Bob has not answered yet, so Alice's session is still unacknowledged.
    let second = alice.send(bob, b"are you there?");
    assert_eq!(second.0, EncType::Pkmsg);
    assert_eq!(bob.receive(alice, &second).unwrap(), b"are you there?");

    let reply = bob.send(alice, b"hi alice");
    assert_eq!(reply.0, EncType::Msg);
    assert_eq!(alice.receive(bob, &reply).unwrap(), b"hi alice");

    for round in 0..3 {
        let a = format!("alice {round}").into_bytes();
        let m = alice.send(bob, &a);
        assert_eq!(m.0, EncType::Msg);
        assert_eq!(bob.receive(alice, &m).unwrap(), a);

        let b = format!("bob {round}").into_bytes();
        let m = bob.send(alice, &b);
        assert_eq!(m.0, EncType::Msg);
        assert_eq!(alice.receive(bob, &m).unwrap(), b);
    }

    // Two in a row from one side, read in reverse order.
    let m1 = alice.send(bob, b"one");
    let m2 = alice.send(bob, b"two");
    assert_eq!(bob.receive(alice, &m2).unwrap(), b"two");
    assert_eq!(bob.receive(alice, &m1).unwrap(), b"one");
}

#[test]
fn session_with_one_time_prekey() {
    let mut alice = Device::new("111:1@s.whatsapp.net");
    let mut bob = Device::new("222@s.whatsapp.net");
    assert!(!alice.has_session_with(&bob));
    assert_eq!(
        alice.start_session(&bob, Some(0)),
        IdentityChange::NewOrUnchanged
    );
    assert!(alice.has_session_with(&bob));
    assert!(!bob.has_session_with(&alice));

    let used = bob.prekeys[0].id();
    assert!(bob.store.prekeys.contains(used));
    converse(&mut alice, &mut bob);
    assert!(
        !bob.store.prekeys.contains(used),
        "prekey {used} not consumed"
    );
    assert_eq!(bob.store.prekeys.len(), 4);
    assert_eq!(
        bob.store.identity.identity_of(&alice.address),
        Some(*alice.identity.public())
    );
}

#[test]
fn session_without_one_time_prekey() {
    let mut alice = Device::new("333@lid");
    let mut bob = Device::new("444:2@lid");
    alice.start_session(&bob, None);
    converse(&mut alice, &mut bob);
    assert_eq!(bob.store.prekeys.len(), 5, "no one-time prekey was named");
}

#[test]
fn a_one_time_prekey_serves_one_session() {
    let mut alice = Device::new("111@s.whatsapp.net");
    let mut carol = Device::new("555@s.whatsapp.net");
    let mut bob = Device::new("222@s.whatsapp.net");
    // The server (wrongly) hands Bob's prekey 0 to both Alice and Carol.
    alice.start_session(&bob, Some(0));
    carol.start_session(&bob, Some(0));

    let from_alice = alice.send(&bob, b"from alice");
    let from_carol = carol.send(&bob, b"from carol");
    assert_eq!(bob.receive(&alice, &from_alice).unwrap(), b"from alice");

    // Carol's pkmsg names a prekey Bob has deleted: refused, no session kept.
    assert!(matches!(
        bob.receive(&carol, &from_carol),
        Err(SignalError::UnknownPreKey)
    ));
    assert!(!bob.has_session_with(&carol));

    // Replaying Alice's pkmsg finds her session; its counter is spent.
    assert!(matches!(
        bob.receive(&alice, &from_alice),
        Err(SignalError::Duplicate)
    ));

    // Carol starts over from a bundle without the used prekey and gets through.
    carol.start_session(&bob, None);
    let retry = carol.send(&bob, b"again");
    assert_eq!(bob.receive(&carol, &retry).unwrap(), b"again");
}

#[test]
fn changed_identity_is_reported() {
    let mut alice = Device::new("111@s.whatsapp.net");
    let bob = Device::new("222@s.whatsapp.net");
    assert_eq!(
        alice.start_session(&bob, Some(0)),
        IdentityChange::NewOrUnchanged
    );
    assert_eq!(
        alice.start_session(&bob, Some(1)),
        IdentityChange::NewOrUnchanged
    );

    // Bob reinstalls: same address, new identity.
    let reinstalled = Device::new("222@s.whatsapp.net");
    assert_eq!(
        alice.start_session(&reinstalled, Some(0)),
        IdentityChange::ReplacedExisting
    );
}

#[test]
fn bundle_with_a_bad_signature_is_refused() {
    let mut alice = Device::new("111@s.whatsapp.net");
    let bob = Device::new("222@s.whatsapp.net");
    let mut bundle = bob.bundle(Some(0));
    bundle.signed_prekey.signature[10] ^= 1;
    let result = block_on(process_prekey_bundle(
        &mut alice.store,
        &bob.address,
        &bundle,
        &mut rand::rng(),
    ));
    assert!(matches!(result, Err(SignalError::BadSignature)));
    assert!(!alice.has_session_with(&bob));

    // Signed by someone else's identity: also refused.
    let mallory = Device::new("666@s.whatsapp.net");
    let mut bundle = bob.bundle(Some(0));
    bundle.identity = mallory.identity.public().to_vec();
    let result = block_on(process_prekey_bundle(
        &mut alice.store,
        &bob.address,
        &bundle,
        &mut rand::rng(),
    ));
    assert!(matches!(result, Err(SignalError::BadSignature)));
}

#[test]
fn encrypt_without_session_is_an_error() {
    let mut alice = Device::new("111@s.whatsapp.net");
    let bob = Device::new("222@s.whatsapp.net");
    let result = block_on(encrypt(&mut alice.store, &bob.address, b"x"));
    assert!(matches!(result, Err(SignalError::NoSession)));
}

/// Each single-bit flip of `bytes`, decrypted as `enc_type` from `from`.
fn flipped_copies(bytes: &[u8], range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in range {
        for bit in 0..8 {
            let mut copy = bytes.to_vec();
            copy[i] ^= 1 << bit;
            out.push(copy);
        }
    }
    out
}

#[test]
fn tampered_msg_is_an_error_and_the_original_still_decrypts() {
    let mut alice = Device::new("111@s.whatsapp.net");
    let mut bob = Device::new("222@s.whatsapp.net");
    alice.start_session(&bob, Some(0));
    let first = alice.send(&bob, b"hello");
    bob.receive(&alice, &first).unwrap();
    let reply = bob.send(&alice, b"hi");
    alice.receive(&bob, &reply).unwrap();

    let (enc_type, bytes) = alice.send(&bob, b"secret");
    assert_eq!(enc_type, EncType::Msg);
    for tampered in flipped_copies(&bytes, 0..bytes.len()) {
        let result = bob.receive(&alice, &(EncType::Msg, tampered));
        assert!(result.is_err(), "a flipped bit decrypted");
    }
    // The MAC is the last 8 bytes: flipping one there is a MAC failure.
    let mut mac_flipped = bytes.clone();
    let last = mac_flipped.len() - 1;
    mac_flipped[last] ^= 0x80;
    let err = bob
        .receive(&alice, &(EncType::Msg, mac_flipped))
        .unwrap_err();
    assert!(matches!(err, SignalError::BadMac), "{err:?}");

    for junk in [
        Vec::new(),
        vec![0x33],
        bytes[..bytes.len() / 2].to_vec(),
        vec![0xff; 100],
    ] {
        assert!(bob.receive(&alice, &(EncType::Msg, junk.clone())).is_err());
        assert!(bob.receive(&alice, &(EncType::Pkmsg, junk)).is_err());
    }
    // A msg passed off as a pkmsg does not parse as one.
    assert!(
        bob.receive(&alice, &(EncType::Pkmsg, bytes.clone()))
            .is_err()
    );

    assert_eq!(
        bob.receive(&alice, &(EncType::Msg, bytes)).unwrap(),
        b"secret"
    );
}

#[test]
fn tampered_pkmsg_body_is_an_error_and_the_original_still_decrypts() {
    let mut alice = Device::new("111@s.whatsapp.net");
    let mut bob = Device::new("222@s.whatsapp.net");
    alice.start_session(&bob, Some(0));
    let (enc_type, bytes) = alice.send(&bob, b"hello");
    assert_eq!(enc_type, EncType::Pkmsg);

    // The inner SignalMessage (its ciphertext and MAC) sits inside the
    // pkmsg; some outer fields (the registration id) are not authenticated.
    let inner = signal::libsignal::PreKeySignalMessage::try_from(bytes.as_slice())
        .unwrap()
        .message()
        .serialized()
        .to_vec();
    let start = bytes
        .windows(inner.len())
        .position(|w| w == inner.as_slice())
        .unwrap();
    for tampered in flipped_copies(&bytes, start..start + inner.len()) {
        let result = bob.receive(&alice, &(EncType::Pkmsg, tampered));
        assert!(result.is_err(), "a flipped bit decrypted");
    }
    assert!(
        !bob.has_session_with(&alice),
        "a failed pkmsg left a session"
    );
    assert!(bob.store.prekeys.contains(bob.prekeys[0].id()));

    assert_eq!(
        bob.receive(&alice, &(EncType::Pkmsg, bytes)).unwrap(),
        b"hello"
    );
    assert!(!bob.store.prekeys.contains(bob.prekeys[0].id()));
}

#[test]
fn group_message_reaches_members_with_the_distribution() {
    let group: Jid = "120363000000000001@g.us".parse().unwrap();
    let mut alice = Device::new("111:3@s.whatsapp.net");
    let mut bob = Device::new("222@s.whatsapp.net");
    let mut carol = Device::new("333:1@lid");
    let mut dave = Device::new("444@s.whatsapp.net");
    let rng = &mut rand::rng();

    // No sender key yet: nothing to encrypt with.
    assert!(matches!(
        block_on(group_encrypt(
            &mut alice.store,
            &group,
            &alice.address,
            b"x",
            rng
        )),
        Err(SignalError::NoSenderKey)
    ));

    let skdm = block_on(create_sender_key_distribution(
        &mut alice.store,
        &group,
        &alice.address,
        rng,
    ))
    .unwrap();
    // Asking again before sending hands out the same chain.
    let again = block_on(create_sender_key_distribution(
        &mut alice.store,
        &group,
        &alice.address,
        rng,
    ))
    .unwrap();
    assert_eq!(skdm, again);

    // The distribution travels pairwise, padded, as WhatsApp sends it.
    for member in [&mut bob, &mut carol] {
        alice.start_session(member, Some(0));
        let sent = block_on(encrypt(&mut alice.store, &member.address, &pad(&skdm, 7))).unwrap();
        let padded = member.receive(&alice, &sent).unwrap();
        let received = unpad(&padded).unwrap();
        block_on(process_sender_key_distribution(
            &mut member.store,
            &group,
            &alice.address,
            received,
        ))
        .unwrap();
    }

    let skmsg = block_on(group_encrypt(
        &mut alice.store,
        &group,
        &alice.address,
        b"hello group",
        rng,
    ))
    .unwrap();
    for member in [&mut bob, &mut carol] {
        let plain = block_on(group_decrypt(
            &mut member.store,
            &group,
            &alice.address,
            &skmsg,
        ))
        .unwrap();
        assert_eq!(plain, b"hello group");
    }

    // Dave never got the distribution.
    assert!(matches!(
        block_on(group_decrypt(
            &mut dave.store,
            &group,
            &alice.address,
            &skmsg
        )),
        Err(SignalError::NoSenderKey)
    ));
    // Bob's key is for Alice's messages in this group only.
    let other_group: Jid = "120363000000000002@g.us".parse().unwrap();
    assert!(matches!(
        block_on(group_decrypt(
            &mut bob.store,
            &other_group,
            &alice.address,
            &skmsg
        )),
        Err(SignalError::NoSenderKey)
    ));
    assert!(matches!(
        block_on(group_decrypt(
            &mut bob.store,
            &group,
            &carol.address,
            &skmsg
        )),
        Err(SignalError::NoSenderKey)
    ));
    // Once read, the same message is a duplicate.
    assert!(matches!(
        block_on(group_decrypt(
            &mut bob.store,
            &group,
            &alice.address,
            &skmsg
        )),
        Err(SignalError::Duplicate)
    ));

    // A tampered skmsg fails its signature (or does not parse).
    let next = block_on(group_encrypt(
        &mut alice.store,
        &group,
        &alice.address,
        b"second",
        rng,
    ))
    .unwrap();
    for i in 0..next.len() {
        let mut tampered = next.clone();
        tampered[i] ^= 0x01;
        assert!(
            block_on(group_decrypt(
                &mut bob.store,
                &group,
                &alice.address,
                &tampered
            ))
            .is_err(),
            "byte {i} flipped still decrypted"
        );
    }
    assert_eq!(
        block_on(group_decrypt(&mut bob.store, &group, &alice.address, &next)).unwrap(),
        b"second"
    );
    assert!(matches!(
        block_on(process_sender_key_distribution(
            &mut dave.store,
            &group,
            &alice.address,
            &skdm[..skdm.len() - 1]
        )),
        Err(SignalError::Malformed(_))
    ));
}

#[test]
fn padding_round_trips_through_encryption() {
    let mut alice = Device::new("111@s.whatsapp.net");
    let mut bob = Device::new("222@s.whatsapp.net");
    alice.start_session(&bob, None);
    for random in [0u8, 1, 0x0f, 0x10, 0xff] {
        let plaintext = b"a protobuf Message";
        let padded = pad(plaintext, random);
        let sent = alice.send(&bob, &padded);
        let received = bob.receive(&alice, &sent).unwrap();
        assert_eq!(received, padded);
        assert_eq!(unpad(&received).unwrap(), plaintext);
    }
}

#[test]
fn pad_and_unpad() {
    for random in 0..=255u8 {
        for len in [0usize, 1, 15, 16, 17, 300] {
            let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let padded = pad(&plaintext, random);
            let n = padded.len() - len;
            assert!((1..=16).contains(&n));
            assert_eq!(n, usize::from(random & 0x0f) + 1);
            assert_eq!(unpad(&padded).unwrap(), plaintext.as_slice());
        }
    }
    // Padding that any length accepts, as long as its bytes agree.
    assert_eq!(unpad(&[9, 9, 2, 2]).unwrap(), [9, 9]);
    assert_eq!(unpad(&[3, 3, 3]).unwrap(), [] as [u8; 0]);
}

#[test]
fn bad_padding_is_an_error() {
    let cases: [&[u8]; 6] = [&[], &[0], &[1, 2, 0], &[1, 2, 5], &[7, 1, 3, 3], &[4, 4, 4]];
    for padded in cases {
        assert!(
            matches!(unpad(padded), Err(SignalError::BadPadding)),
            "{padded:?}"
        );
    }
}

#[test]
fn futures_are_send_with_a_send_rng() {
    fn assert_send<T: Send>(_: &T) {}
    fn check<R: CryptoRng + Send>(store: &mut MemoryStore, to: &SignalAddress, rng: &mut R) {
        let group: Jid = "1@g.us".parse().unwrap();
        assert_send(&encrypt(store, to, b""));
        assert_send(&decrypt(store, to, EncType::Msg, b"", rng));
        assert_send(&group_encrypt(store, &group, to, b"", rng));
        assert_send(&group_decrypt(store, &group, to, b""));
    }
    let mut alice = Device::new("111@s.whatsapp.net");
    let bob = Device::new("222@s.whatsapp.net");
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    check(&mut alice.store, &bob.address, &mut rng);
}

#[test]
fn enc_types_parse_and_print() {
    for enc_type in [EncType::Pkmsg, EncType::Msg] {
        assert_eq!(enc_type.to_string().parse::<EncType>().unwrap(), enc_type);
    }
    assert_eq!(EncType::Pkmsg.as_str(), "pkmsg");
    assert_eq!(EncType::Msg.as_str(), "msg");
    assert!(matches!(
        "skmsg".parse::<EncType>(),
        Err(SignalError::UnknownEncType)
    ));
}

use super::*;
use proptest::prelude::*;

const KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// Known answers computed independently (Python `cryptography`: HKDF-SHA256
/// with no salt, AES-256-CBC with PKCS#7, HMAC-SHA256 truncated to 10)
/// for the media key 00 01 .. 1f.
#[test]
fn known_answers() {
    let cases = [
        (
            MediaKind::Image,
            &b"not really a jpeg"[..],
            "7c916a972fcf184fb91bbade4312c2c9caa2611588725a6ba683cf2be970d59da4d7379ac208eecc0b91",
            "21ac2586e213d1f490778a07bf0025a98fc57595863a282372bac594b398322b",
            "b1a65f751fa8c64244a1adc4dce11f86cc219a0488d83202b908810c8fce944e",
        ),
        (
            MediaKind::History,
            &b""[..],
            "43b0c8a6d32e81562675bacb27e3492009788da64053aaaaadec",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "05a4b99be3ecbddb1d600b4ddc425d95dfed4fbf596adda64e82792ca3ac4d36",
        ),
    ];
    for (kind, plain, blob, sha, enc) in cases {
        let e = encrypt_with_key(kind, &KEY, plain);
        assert_eq!(hex::encode(&e.blob), blob, "{kind:?}");
        assert_eq!(hex::encode(e.file_sha256), sha);
        assert_eq!(hex::encode(e.file_enc_sha256), enc);
        assert_eq!(e.file_length, plain.len() as u64);
        let back = decrypt(
            kind,
            &KEY,
            &unhex(blob),
            Some(&unhex(enc)),
            Some(&unhex(sha)),
        );
        assert_eq!(back.unwrap(), plain);
    }
}

#[test]
fn info_strings_and_paths() {
    let table = [
        (MediaKind::Image, "WhatsApp Image Keys", "image"),
        (MediaKind::Sticker, "WhatsApp Image Keys", "image"),
        (MediaKind::Video, "WhatsApp Video Keys", "video"),
        (MediaKind::Gif, "WhatsApp Video Keys", "video"),
        (MediaKind::Audio, "WhatsApp Audio Keys", "audio"),
        (MediaKind::Ptt, "WhatsApp Audio Keys", "audio"),
        (MediaKind::Document, "WhatsApp Document Keys", "document"),
        (MediaKind::History, "WhatsApp History Keys", "md-msg-hist"),
        (
            MediaKind::AppState,
            "WhatsApp App State Keys",
            "md-app-state",
        ),
        (
            MediaKind::LinkThumbnail,
            "WhatsApp Link Thumbnail Keys",
            "thumbnail-link",
        ),
    ];
    assert_eq!(table.len(), MediaKind::ALL.len());
    for (kind, info, path) in table {
        assert_eq!(kind.hkdf_info(), info);
        assert_eq!(kind.mms_type(), path);
    }
}

#[test]
fn round_trip_every_kind_and_size() {
    let mut rng = rand::rng();
    for kind in MediaKind::ALL {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 1000, 65_537] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let e = encrypt(kind, &plain, &mut rng);
            assert_eq!(e.blob.len(), (len / 16 + 1) * 16 + MAC_LEN);
            let got = decrypt(
                kind,
                &e.media_key,
                &e.blob,
                Some(&e.file_enc_sha256),
                Some(&e.file_sha256),
            );
            assert_eq!(got.unwrap(), plain, "{kind:?} {len}");
        }
    }
}

#[test]
fn aliases_share_keys() {
    let e = encrypt_with_key(MediaKind::Sticker, &KEY, b"sticker");
    assert_eq!(
        decrypt(MediaKind::Image, &KEY, &e.blob, None, None).unwrap(),
        b"sticker"
    );
    let e = encrypt_with_key(MediaKind::Ptt, &KEY, b"voice");
    assert_eq!(
        decrypt(MediaKind::Audio, &KEY, &e.blob, None, None).unwrap(),
        b"voice"
    );
}

#[test]
fn each_check_names_itself() {
    let e = encrypt_with_key(MediaKind::Document, &KEY, b"the quarterly report");
    let (enc, sha) = (Some(&e.file_enc_sha256[..]), Some(&e.file_sha256[..]));

    // A flipped byte: the enc hash catches it first, the MAC without it.
    let mut bad = e.blob.clone();
    bad[3] ^= 1;
    let r = decrypt(MediaKind::Document, &KEY, &bad, enc, sha);
    assert_eq!(r, Err(MediaError::EncHashMismatch));
    let r = decrypt(MediaKind::Document, &KEY, &bad, None, sha);
    assert_eq!(r, Err(MediaError::MacMismatch));

    // The wrong key, or the wrong kind, fails the MAC.
    let mut other = KEY;
    other[0] ^= 0xff;
    let r = decrypt(MediaKind::Document, &other, &e.blob, enc, sha);
    assert_eq!(r, Err(MediaError::MacMismatch));
    let r = decrypt(MediaKind::Image, &KEY, &e.blob, enc, sha);
    assert_eq!(r, Err(MediaError::MacMismatch));

    // Truncated below one block and a MAC.
    let r = decrypt(MediaKind::Document, &KEY, &e.blob[..25], None, sha);
    assert_eq!(r, Err(MediaError::TooShort(25)));
    let r = decrypt(MediaKind::Document, &KEY, &[], None, None);
    assert_eq!(r, Err(MediaError::TooShort(0)));

    // The plaintext hash, and an expected hash of the wrong length.
    let r = decrypt(MediaKind::Document, &KEY, &e.blob, enc, Some(&[0; 32]));
    assert_eq!(r, Err(MediaError::HashMismatch));
    let r = decrypt(MediaKind::Document, &KEY, &e.blob, Some(&[1, 2]), sha);
    assert_eq!(r, Err(MediaError::EncHashMismatch));
}

/// A blob with a valid MAC but bad padding or length: what a sender with
/// the key but a broken encoder would produce.
#[test]
fn bad_padding_behind_a_good_mac() {
    let keys = MediaKeys::derive(&KEY, MediaKind::Video);
    let seal = |ciphertext: &[u8]| {
        let mut blob = ciphertext.to_vec();
        blob.extend_from_slice(&keys.mac(ciphertext).finalize().into_bytes()[..MAC_LEN]);
        blob
    };
    // Not whole blocks.
    let r = decrypt(MediaKind::Video, &KEY, &seal(&[7; 17]), None, None);
    assert_eq!(r, Err(MediaError::BadPadding));
    // Whole blocks whose last plaintext byte is not valid PKCS#7: encrypt
    // without padding a block ending in 0x00.
    let cipher = cbc::Encryptor::<Aes256>::new(&keys.cipher_key.into(), &keys.iv.into());
    let ct = cipher.encrypt_padded_vec::<cbc::cipher::block_padding::NoPadding>(&[0; 16]);
    let r = decrypt(MediaKind::Video, &KEY, &seal(&ct), None, None);
    assert_eq!(r, Err(MediaError::BadPadding));
}

#[test]
fn debug_shows_no_key_material() {
    let e = encrypt_with_key(MediaKind::Image, &[0xab; 32], b"secret picture");
    let keys = MediaKeys::derive(&[0xab; 32], MediaKind::Image);
    for shown in [format!("{e:?}"), format!("{keys:?}")] {
        assert!(!shown.contains("171"), "{shown}");
        assert!(!shown.to_lowercase().contains("ab, ab"), "{shown}");
        assert!(!shown.contains("media_key"), "{shown}");
    }
    assert_eq!(format!("{keys:?}"), "MediaKeys { .. }");
}

proptest! {
    #[test]
    fn random_blobs_never_panic(
        blob in proptest::collection::vec(any::<u8>(), 0..200),
        key in proptest::collection::vec(any::<u8>(), 0..40),
        enc in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        sha in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        kind in 0usize..MediaKind::ALL.len(),
    ) {
        let _ = decrypt(MediaKind::ALL[kind], &key, &blob, enc.as_deref(), sha.as_deref());
    }

    #[test]
    fn any_plaintext_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..300)) {
        let e = encrypt_with_key(MediaKind::AppState, &KEY, &plain);
        let got = decrypt(
            MediaKind::AppState,
            &KEY,
            &e.blob,
            Some(&e.file_enc_sha256),
            Some(&e.file_sha256),
        );
        prop_assert_eq!(got, Ok(plain));
    }
}

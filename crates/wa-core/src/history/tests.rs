use super::*;
use crate::proto::history_sync::HistorySyncType;
use crate::proto::{
    Conversation, HistorySyncMsg, MessageKey, PhoneNumberToLidMapping, Pushname, WebMessageInfo,
};
use proptest::prelude::*;

fn chunk() -> HistorySync {
    let message = WebMessageInfo {
        key: Some(MessageKey {
            remote_jid: Some("15550001111@s.whatsapp.net".into()),
            from_me: Some(false),
            id: Some("3EB0AABBCCDDEEFF001122".into()),
            participant: None,
        }),
        message: Some(crate::proto::Message {
            conversation: Some("hello from the past".into()),
            ..Default::default()
        }),
        message_timestamp: Some(1_700_000_000),
        push_name: Some("Alice".into()),
        ..Default::default()
    };
    HistorySync {
        sync_type: Some(HistorySyncType::InitialBootstrap as i32),
        conversations: vec![Conversation {
            id: Some("15550001111@s.whatsapp.net".into()),
            messages: vec![HistorySyncMsg {
                message: Some(message),
                msg_order_id: Some(1),
            }],
            unread_count: Some(2),
            conversation_timestamp: Some(1_700_000_000),
            name: Some("Alice".into()),
            archived: Some(true),
            pinned: Some(1),
            mute_end_time: Some(1_800_000_000),
            ..Default::default()
        }],
        chunk_order: Some(0),
        progress: Some(100),
        pushnames: vec![Pushname {
            id: Some("15550001111@s.whatsapp.net".into()),
            pushname: Some("Alice".into()),
        }],
        phone_number_to_lid_mappings: vec![PhoneNumberToLidMapping {
            pn_jid: Some("15550001111@s.whatsapp.net".into()),
            lid_jid: Some("123456789@lid".into()),
        }],
        ..Default::default()
    }
}

#[test]
fn round_trip() {
    let sync = chunk();
    let blob = encode_blob(&sync);
    assert_eq!(&blob[..1], &[0x78], "a zlib header");
    assert_eq!(decode_blob(&blob).unwrap(), sync);
}

/// Field numbers on the wire, written by hand: syncType=1, conversations=2
/// {id=1, unreadCount=6, archived=16, pinned=24}, chunkOrder=5, progress=6,
/// pushnames=7 {id=1, pushname=2}, phoneNumberToLidMappings=15.
#[test]
fn field_numbers() {
    let conv = [
        &[0x0a, 1, b'c'][..], // id = "c"
        &[0x30, 4],           // unreadCount = 4
        &[0x80, 0x01, 1],     // archived (16, varint) = true
        &[0xc0, 0x01, 3],     // pinned (24, varint) = 3
    ]
    .concat();
    let raw = [
        &[0x08, 3][..], // syncType = RECENT
        &[0x12, conv.len() as u8],
        &conv,
        &[0x28, 7],                         // chunkOrder = 7
        &[0x30, 55],                        // progress = 55
        &[0x3a, 5, 0x0a, 1, b'u', 0x12, 0], // pushnames {id "u", pushname ""}
        &[0x7a, 3, 0x12, 1, b'l'],          // phoneNumberToLidMappings {lidJid "l"}
    ]
    .concat();
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let sync = decode_blob(&z.finish().unwrap()).unwrap();
    assert_eq!(sync.sync_type, Some(HistorySyncType::Recent as i32));
    assert_eq!(sync.chunk_order, Some(7));
    assert_eq!(sync.progress, Some(55));
    let c = &sync.conversations[0];
    assert_eq!(c.id.as_deref(), Some("c"));
    assert_eq!(c.unread_count, Some(4));
    assert_eq!(c.archived, Some(true));
    assert_eq!(c.pinned, Some(3));
    assert_eq!(sync.pushnames[0].id.as_deref(), Some("u"));
    assert_eq!(
        sync.phone_number_to_lid_mappings[0].lid_jid.as_deref(),
        Some("l")
    );
}

#[test]
fn truncated_streams_are_refused() {
    let blob = encode_blob(&chunk());
    for cut in [0, 1, 2, blob.len() / 2, blob.len() - 1] {
        assert!(
            matches!(decode_blob(&blob[..cut]), Err(HistoryError::Inflate(_))),
            "cut at {cut} of {}",
            blob.len()
        );
    }
}

#[test]
fn garbage_is_refused() {
    assert!(matches!(
        decode_blob(b"definitely not zlib"),
        Err(HistoryError::Inflate(_))
    ));
    // Valid zlib around bytes that are not a HistorySync.
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    std::io::Write::write_all(&mut z, &[0x0a, 0xff, 0xff, 0xff]).unwrap();
    assert!(matches!(
        decode_blob(&z.finish().unwrap()),
        Err(HistoryError::Decode(_))
    ));
}

#[test]
fn bombs_hit_the_cap() {
    // 8 MiB of zeros compresses to a few KiB.
    let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
    std::io::Write::write_all(&mut z, &vec![0u8; 8 << 20]).unwrap();
    let bomb = z.finish().unwrap();
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    assert_eq!(
        decode_blob_capped(&bomb, 1 << 20),
        Err(HistoryError::TooLarge { limit: 1 << 20 })
    );
    // Exactly at the cap is fine; one byte less is not.
    let at = encode_blob(&chunk());
    let len = chunk().encode_to_vec().len();
    assert!(decode_blob_capped(&at, len).is_ok());
    assert_eq!(
        decode_blob_capped(&at, len - 1),
        Err(HistoryError::TooLarge { limit: len - 1 })
    );
}

#[test]
fn sources() {
    let mut n = HistorySyncNotification {
        file_sha256: Some(vec![1; 32]),
        file_length: Some(1234),
        media_key: Some(vec![2; 32]),
        file_enc_sha256: Some(vec![3; 32]),
        direct_path: Some("/v/t62.36145-24/1_2_3_n.enc?ccb=11-4".into()),
        ..Default::default()
    };
    assert_eq!(
        notification_source(&n).unwrap(),
        Source::Download {
            direct_path: "/v/t62.36145-24/1_2_3_n.enc?ccb=11-4".into(),
            media_key: vec![2; 32],
            file_sha256: Some(vec![1; 32]),
            file_enc_sha256: Some(vec![3; 32]),
            file_length: Some(1234),
        }
    );
    let shown = format!("{:?}", notification_source(&n).unwrap());
    assert!(!shown.contains("2, 2"), "{shown}");

    n.initial_hist_bootstrap_inline_payload = Some(encode_blob(&chunk()));
    let Source::Inline(bytes) = notification_source(&n).unwrap() else {
        panic!("inline payload wins");
    };
    assert_eq!(decode_blob(&bytes).unwrap(), chunk());

    n.initial_hist_bootstrap_inline_payload = None;
    n.media_key = None;
    assert_eq!(
        notification_source(&n),
        Err(HistoryError::MissingField("mediaKey"))
    );
    n.direct_path = Some(String::new());
    assert_eq!(
        notification_source(&n),
        Err(HistoryError::MissingField("directPath"))
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_blob_capped(&bytes, 1 << 16);
    }

    #[test]
    fn flipped_bytes_never_panic(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut blob = encode_blob(&chunk());
        let i = at.index(blob.len());
        blob[i] ^= 1 << bit;
        let _ = decode_blob_capped(&blob, 1 << 16);
    }
}

use super::*;
use crate::binary::Content;
use crate::proto::message::{
    EncReactionMessage, ExtendedTextMessage, FutureProofMessage, ImageMessage, PollUpdateMessage,
    ProtocolMessage, ReactionMessage,
};
use crate::proto::{ContextInfo, MessageContextInfo, MessageKey};
use proptest::prelude::*;
use prost::Message as _;

// The vectors below come from Baileys 7.0.0-rc14's own code, run by a
// throwaway node script that imported
// `node_modules/baileys/lib/Utils/reporting-utils.js` and
// `node_modules/baileys/WAProto/index.js`, encoded each message with
// `proto.Message.encode(proto.Message.fromObject(m)).finish()` (no padding)
// and called `getMessageReportingToken(bytes, message, key)` with
//   key = { id: ID, fromMe: false, remoteJid: GROUP, participant: SENDER }
//     (so `from` = SENDER, `to` = GROUP), and
//   key = { id: ID, fromMe: true, remoteJid: GROUP }
//     (what `relayMessage` passes: GROUP for both),
// printing the `reporting_token` bytes (attrs `{ v: '2' }`). The messages
// carry `messageContextInfo.messageSecret` = SECRET.

/// 0x01, 0x02, ..., 0x20.
const SECRET: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8 + 1;
        i += 1;
    }
    s
};
const ID: &str = "3EB0C0FFEE0123456789AB";
const SENDER: &str = "15550001111@s.whatsapp.net";
const GROUP: &str = "120363000000000001@g.us";

/// `extendedTextMessage { text: 'hello *world*', matchedText:
/// 'https://example.com', previewType: 0, contextInfo { stanzaId: 'QUOTED1',
/// participant: '15550002222@s.whatsapp.net', quotedMessage { conversation:
/// 'quoted' }, mentionedJid: ['15550003333@s.whatsapp.net'],
/// forwardingScore: 3, isForwarded: true, expiration: 86400 } }`.
const TEXT: &str = "327f0a0d68656c6c6f202a776f726c642a121368747470733a2f2f6578616d706c652e636f6d50008a01560a0751554f54454431121a313535353030303232323240732e77686174736170702e6e65741a080a0671756f7465647a1a313535353030303333333340732e77686174736170702e6e6574a80103b00101c80180a3059a02221a200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

/// `imageMessage { url, mimetype: 'image/jpeg', caption: 'a cat',
/// fileSha256: 32×aa, fileLength: 12345, height: 640, width: 480,
/// mediaKey: 32×bb, fileEncSha256: 32×cc, directPath: '/v/t62/abc?x=1',
/// mediaKeyTimestamp: 1700000000, jpegThumbnail: ffd8ffd9, contextInfo {
/// isForwarded: true, forwardingScore: 1 }, viewOnce: false }`.
const IMAGE: &str = "1acf010a2268747470733a2f2f6d6d672e77686174736170702e6e65742f762f7436322f616263120a696d6167652f6a7065671a0561206361742220aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa28b96030800538e0034220bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb4a20cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc5a0e2f762f7436322f6162633f783d316080e2cfaa06820104ffd8ffd98a0106a80101b00101c801009a02221a200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

/// `protocolMessage { key { remoteJid: GROUP, fromMe: true, id: 'ORIG1' },
/// type: 14 (MESSAGE_EDIT), editedMessage { conversation: 'edited text' },
/// timestampMs: 1700000000123 }`: a 6-byte varint, the longest Baileys
/// reads.
const EDIT: &str = "623c0a220a1731323033363330303030303030303030303140672e757310011a054f52494731100e720d0a0b656469746564207465787478fbd095ffbc319a02221a200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

/// The same edit with `timestampMs: 1000`.
const EDIT_SMALL_TS: &str = "62380a220a1731323033363330303030303030303030303140672e757310011a054f52494731100e720d0a0b656469746564207465787478e8079a02221a200102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn token_hex(sender: &str, remote: &str, encoded: &[u8]) -> String {
    hex::encode(token(&SECRET, ID, sender, remote, encoded))
}

#[test]
fn tokens_match_baileys_rc14() {
    for (name, message, as_sender, as_baileys_sends) in [
        (
            "text",
            TEXT,
            "42cf1422532cac6b6a2e05c96a564a12",
            "1dae2b6de97e171dd082ad6311580873",
        ),
        (
            "image",
            IMAGE,
            "76d575e0dface6a38cb69e0c36a4e625",
            "b86767fc86c2a9ca3bf6b92de457f2d9",
        ),
        (
            "edit",
            EDIT,
            "d17e064ebfca3a85602b98fa9f6f01a3",
            "50c4f4758b5b4af019b7ea3225f249b6",
        ),
        (
            "edit, small timestamp",
            EDIT_SMALL_TS,
            "fb1a75f5f053dfe0162f371a64d1e7d4",
            "3c21c10a5db12a3d3330d854c2211542",
        ),
    ] {
        let bytes = unhex(message);
        assert_eq!(token_hex(SENDER, GROUP, &bytes), as_sender, "{name}");
        assert_eq!(token_hex(GROUP, GROUP, &bytes), as_baileys_sends, "{name}");
        assert_ne!(
            token_hex(GROUP, SENDER, &bytes),
            as_sender,
            "{name}: the info is id ‖ sender ‖ remote, in that order"
        );
    }
}

#[test]
fn content_keeps_only_the_listed_fields() {
    // extendedTextMessage (6) keeps text (1) and, of contextInfo (17), only
    // forwardingScore (21) and isForwarded (22); matchedText, previewType,
    // the quote, mentions, expiration and messageContextInfo (35) go.
    let mut inner = vec![0x0a, 13];
    inner.extend_from_slice(b"hello *world*");
    inner.extend_from_slice(&[0x8a, 0x01, 6, 0xa8, 0x01, 3, 0xb0, 0x01, 1]);
    let mut expected = vec![0x32, inner.len() as u8];
    expected.extend_from_slice(&inner);
    assert_eq!(content(&unhex(TEXT)), expected);
}

/// Baileys hashes the padded plaintext; the padding is parsed as protobuf.
#[test]
fn padded_input_reads_as_baileys_reads_it() {
    // Tokens Baileys gave for TEXT ‖ `p` bytes of value `p`.
    let text = unhex(TEXT);
    let padded = |p: u8| [text.clone(), vec![p; p as usize]].concat();
    let plain = token_hex(SENDER, GROUP, &text);
    for p in [5, 16] {
        assert_eq!(token_hex(SENDER, GROUP, &padded(p)), plain, "{p}: skipped");
    }
    assert_eq!(
        token_hex(SENDER, GROUP, &padded(8)),
        "73c003f2319cb3f631ce2e3e76636f2b"
    );
    assert_eq!(
        token_hex(SENDER, GROUP, &padded(9)),
        "09966178547f35c5e7be17776b580870"
    );
    for p in [1, 2, 3, 4, 6, 7, 10, 11, 12, 13, 14, 15] {
        assert!(content(&padded(p)).is_empty(), "{p}: Baileys sends none");
    }
}

fn image(caption: &str) -> ImageMessage {
    ImageMessage {
        url: Some("https://mmg.whatsapp.net/v/t62/abc".into()),
        mimetype: Some("image/jpeg".into()),
        caption: Some(caption.into()),
        file_sha256: Some(vec![0xaa; 32]),
        file_length: Some(12345),
        height: Some(640),
        width: Some(480),
        media_key: Some(vec![0xbb; 32]),
        direct_path: Some("/v/t62/abc".into()),
        media_key_timestamp: Some(1_700_000_000),
        context_info: Some(Box::new(ContextInfo {
            is_forwarded: Some(true),
            forwarding_score: Some(1),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn with_secret(message: Message) -> Message {
    Message {
        message_context_info: Some(MessageContextInfo {
            message_secret: Some(SECRET.to_vec()),
            ..Default::default()
        }),
        ..message
    }
}

fn image_message(image: ImageMessage) -> Vec<u8> {
    with_secret(Message {
        image_message: Some(Box::new(image)),
        ..Default::default()
    })
    .encode_to_vec()
}

#[test]
fn fields_outside_the_table_do_not_change_the_token() {
    let base = token(&SECRET, ID, SENDER, GROUP, &image_message(image("a cat")));
    let mut other = image("a cat");
    other.url = Some("https://elsewhere.example/x".into());
    other.file_sha256 = Some(vec![1; 32]);
    other.file_length = Some(1);
    other.height = Some(1);
    other.jpeg_thumbnail = Some(vec![0xff, 0xd8]);
    other.media_key_timestamp = Some(-1);
    if let Some(ctx) = other.context_info.as_mut() {
        ctx.stanza_id = Some("QUOTED".into());
        ctx.mentioned_jid = vec![SENDER.into()];
    }
    let mut bytes = image_message(other);
    bytes.extend_from_slice(&[0xa2, 0x06, 3, b'x', b'y', b'z']); // unknown field 100
    assert_eq!(token(&SECRET, ID, SENDER, GROUP, &bytes), base);

    let recaptioned = image_message(image("a dog"));
    assert_ne!(token(&SECRET, ID, SENDER, GROUP, &recaptioned), base);
    let mut unforwarded = image("a cat");
    unforwarded.context_info = None;
    assert_ne!(
        token(&SECRET, ID, SENDER, GROUP, &image_message(unforwarded)),
        base
    );
    assert_ne!(
        token(&[9; 32], ID, SENDER, GROUP, &image_message(image("a cat"))),
        base
    );
}

fn edit(text: &str) -> Message {
    with_secret(Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            key: Some(MessageKey {
                remote_jid: Some(GROUP.into()),
                from_me: Some(true),
                id: Some("ORIG1".into()),
                participant: None,
            }),
            r#type: Some(14),
            edited_message: Some(Box::new(Message {
                conversation: Some(text.into()),
                ..Default::default()
            })),
            timestamp_ms: Some(1_700_000_000_123),
            ..Default::default()
        })),
        ..Default::default()
    })
}

/// `"m"` fields (a whole `Message`) are filtered with an empty table, as in
/// whatsmeow and Baileys: they must parse, but contribute nothing.
#[test]
fn nested_whole_messages_contribute_nothing() {
    let a = edit("edited text").encode_to_vec();
    assert_eq!(a, unhex(EDIT), "prost encodes it as protobufjs did");
    let b = edit("something else entirely").encode_to_vec();
    assert_eq!(content(&a), content(&b));
    assert!(!content(&a).is_empty(), "key, type and timestampMs stay");

    let view_once = |inner: Message| {
        with_secret(Message {
            view_once_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(inner)),
            })),
            ..Default::default()
        })
    };
    let wrapped = view_once(Message {
        image_message: Some(Box::new(image("a cat"))),
        ..Default::default()
    });
    assert!(content(&wrapped.encode_to_vec()).is_empty());
    let beside = Message {
        conversation: Some("hi".into()),
        ..wrapped
    };
    assert_eq!(
        content(&beside.encode_to_vec()),
        [&[0x0a, 2][..], b"hi"].concat()
    );

    // A wrapped message that does not parse spoils the whole content.
    // viewOnceMessage (37) { message (1) { conversation: 9 bytes, cut } },
    // then conversation "x".
    let broken = [0xaa, 0x02, 4, 0x0a, 2, 0x0a, 9, 0x0a, 1, b'x'];
    assert!(content(&broken).is_empty());
    assert_eq!(content(&broken[7..]), [0x0a, 1, b'x']);
}

#[test]
fn each_level_is_sorted_by_field_number_keeping_repeats_in_order() {
    // pollCreationMessage (49): options (3) "b", "a", then name (2), then
    // conversation (1) at the top after it.
    let option = |name: u8| [0x1a, 3, 0x0a, 1, name];
    let mut poll = [option(b'b'), option(b'a')].concat();
    poll.extend_from_slice(&[0x12, 1, b'q', 0x20, 5]); // name, selectable count
    let mut message = vec![0x8a, 0x03, poll.len() as u8];
    message.extend_from_slice(&poll);
    message.extend_from_slice(&[0x0a, 1, b'c']);

    let mut sorted_poll = vec![0x12, 1, b'q'];
    sorted_poll.extend_from_slice(&[option(b'b'), option(b'a')].concat());
    let mut expected = vec![0x0a, 1, b'c', 0x8a, 0x03, sorted_poll.len() as u8];
    expected.extend_from_slice(&sorted_poll);
    assert_eq!(content(&message), expected);
}

#[test]
fn malformed_input_gives_empty_content() {
    let long_varint = [0xff; 11];
    let too_big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    for (what, bytes) in [
        ("truncated tag", &[0x80][..]),
        ("no length", &[0x0a]),
        ("length past the end", &[0x0a, 5, b'a']),
        ("huge length", &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, b'a']),
        ("truncated varint value", &[0x08, 0x80]),
        ("truncated fixed64", &[0x09, 1, 2, 3]),
        ("truncated fixed32", &[0x0d, 1, 2]),
        ("start group", &[0x0b, 0x0c]),
        ("wire type 6", &[0x0e]),
        ("varint over 10 bytes", &long_varint),
        ("varint over 64 bits", &too_big),
        ("good field, then garbage", &[0x0a, 1, b'x', 0x0f]),
        ("garbage in a filtered sub-message", &[0x1a, 2, 0x12, 5]),
        ("garbage in an unlisted field's varint", &[0x10, 0x80]),
    ] {
        assert!(content(bytes).is_empty(), "{what}");
    }
    // Bytes of a field outside the table are skipped unparsed.
    assert_eq!(
        content(&[0x9a, 0x02, 2, 0xff, 0xff, 0x0a, 1, b'x']),
        [0x0a, 1, b'x']
    );
    // Ten-byte varints (negative int64s) are fine, unlike in Baileys.
    let mut negative = edit("x");
    if let Some(p) = negative.protocol_message.as_mut() {
        p.timestamp_ms = Some(-1);
    }
    let c = content(&negative.encode_to_vec());
    assert!(c.windows(11).any(|w| w
        == [
            0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
        ]));
}

#[test]
fn reactions_poll_votes_and_event_responses_get_no_token() {
    let text = Message {
        extended_text_message: Some(Box::new(ExtendedTextMessage {
            text: Some("hi".into()),
            ..Default::default()
        })),
        ..Default::default()
    };
    assert!(should_include(&text));
    assert!(should_include(&Message::default()));
    for excluded in [
        Message {
            reaction_message: Some(ReactionMessage::default()),
            ..Default::default()
        },
        Message {
            enc_reaction_message: Some(EncReactionMessage::default()),
            ..Default::default()
        },
        Message {
            poll_update_message: Some(PollUpdateMessage::default()),
            ..Default::default()
        },
        Message {
            enc_event_response_message: Some(Default::default()),
            ..Default::default()
        },
    ] {
        assert!(!should_include(&excluded), "{excluded:?}");
    }
}

#[test]
fn node_is_a_v2_reporting_token() {
    let t = [7u8; 16];
    let n = node(t);
    assert_eq!(n.tag, "reporting");
    assert!(n.attrs.is_empty());
    let [child] = n.child_nodes() else {
        panic!("one child: {n}");
    };
    assert_eq!(child.tag, "reporting_token");
    assert_eq!(child.attrs.iter().count(), 1);
    assert_eq!(child.attr_str("v"), Some("2"));
    assert_eq!(child.content, Content::Bytes(t.to_vec()));
}

/// The shared derivation gives the poll-vote key of `msgsecret` too.
#[test]
fn secret_key_is_the_msgsecret_derivation() {
    use crate::msgsecret::{VoteContext, open_vote, seal_vote};
    use crate::proto::message::PollVoteMessage;
    use aes_gcm::aead::{Aead, KeyInit as _, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};

    let ctx = VoteContext {
        poll_id: ID,
        poll_sender: SENDER,
        voter: "15550002222@s.whatsapp.net",
    };
    let vote = PollVoteMessage {
        selected_options: vec![vec![1; 32]],
    };
    let sealed = seal_vote(&SECRET, ctx, &vote, [3; 12]);
    let key = secret_key(
        &SECRET,
        ctx.poll_id,
        ctx.poll_sender,
        ctx.voter,
        b"Poll Vote",
    );
    let aad = [ctx.poll_id.as_bytes(), &[0], ctx.voter.as_bytes()].concat();
    let plain = Aes256Gcm::new((&*key).into())
        .decrypt(
            &Nonce::from([3; 12]),
            Payload {
                msg: sealed.enc_payload.as_deref().unwrap(),
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(plain, vote.encode_to_vec());
    assert_eq!(open_vote(&SECRET, ctx, &sealed), Ok(vote));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = token(&SECRET, ID, SENDER, GROUP, &bytes);
    }

    #[test]
    fn cut_or_flipped_messages_never_panic(
        which in 0usize..4,
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut bytes = unhex([TEXT, IMAGE, EDIT, EDIT_SMALL_TS][which]);
        let i = at.index(bytes.len());
        let cut = content(&bytes[..i]);
        prop_assert!(cut.len() <= bytes.len());
        bytes[i] ^= 1 << bit;
        let _ = content(&bytes);
    }
}

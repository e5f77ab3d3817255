//! Inputs from fuzzing (`fuzz/`, see `fuzz/seed-corpus.sh`) and hand-made edge
//! cases near them: each must give a specific error, or the stated value, and
//! never a panic, a hang or a huge allocation.
//!
//! Frames below are hex, flags byte first. Tokens used: `0x19` = `iq`,
//! `0x08` = `id`, `0x0c` = `jid`, `0x03` = `s.whatsapp.net`, `0x1c` = `g.us`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use wa_core::binary::{
    DecodeError, EncodeError, MAX_DEPTH, MAX_INFLATED, Node, decode, decode_node, encode,
};
use wa_core::frame::{FrameError, ServerFrameDecoder};
use wa_core::jid::{Jid, Server};

fn frame(hex: &str) -> Vec<u8> {
    hex::decode(hex.replace(' ', "")).unwrap()
}

fn decode_err(hex: &str) -> DecodeError {
    match decode(&frame(hex)) {
        Ok(node) => panic!("{hex} decoded to {node}"),
        Err(e) => e,
    }
}

#[test]
fn truncated_ad_jid_is_unexpected_end() {
    // <iq jid=AD_JID ...>, cut after the tag, the domain and the device bytes.
    for hex in [
        "00 f8 03 19 0c f7",
        "00 f8 03 19 0c f7 00",
        "00 f8 03 19 0c f7 00 05",
        "00 f8 03 19 0c f7 00 05 ff 82 12",
    ] {
        assert_eq!(decode_err(hex), DecodeError::UnexpectedEnd, "{hex}");
    }
    // The whole AD_JID decodes: 123:5@s.whatsapp.net.
    let node = decode(&frame("00 f8 03 19 0c f7 00 05 ff 82 12 3f")).unwrap();
    assert_eq!(
        node.attr_jid("jid"),
        Some(&Jid::with_device("123", 5, Server::User))
    );
}

#[test]
fn jid_user_that_is_a_jid_is_refused() {
    // AD_JID whose user is a JID_PAIR.
    assert_eq!(
        decode_err("00 f8 03 19 0c f7 00 05 fa 00 03"),
        DecodeError::UnexpectedJid("jid user")
    );
}

#[test]
fn huge_counts_without_data_are_unexpected_end() {
    for hex in [
        // Content LIST_16 of 65,535 children, none present.
        "00 f8 02 19 f9 ff ff",
        // Node header LIST_16 of size 65,535: 32,767 attributes announced.
        "00 f9 ff ff 19",
        // Content BINARY_32 of 4 GiB, none present.
        "00 f8 02 19 fe ff ff ff ff",
        // Content BINARY_20 of 1 MiB - 1, none present.
        "00 f8 02 19 fd 0f ff ff",
        // Attribute value BINARY_8 of 255 bytes, 2 present.
        "00 f8 03 19 08 fc ff 41 42",
    ] {
        assert_eq!(decode_err(hex), DecodeError::UnexpectedEnd, "{hex}");
    }
}

#[test]
fn packed_strings_at_their_edges() {
    // Length byte 0x80: zero bytes, odd flag set. An empty string: fine as an
    // attribute value, refused as a tag.
    let node = decode(&frame("00 f8 03 19 08 ff 80")).unwrap();
    assert_eq!(node.attr_str("id"), Some(""));
    assert_eq!(decode_err("00 f8 01 ff 80"), DecodeError::EmptyNode);
    // Length byte 0xff: 127 bytes announced, none present.
    assert_eq!(
        decode_err("00 f8 03 19 08 ff ff"),
        DecodeError::UnexpectedEnd
    );
    // Nibble 0xc is outside the nibble alphabet.
    assert_eq!(
        decode_err("00 f8 01 ff 01 c0"),
        DecodeError::InvalidPacked(0x0c)
    );
    // Hex packing: 0xab is "AB".
    assert_eq!(decode(&frame("00 f8 01 fb 01 ab")).unwrap().tag, "AB");
}

/// `levels` nodes `<iq>`, each the only child of the one before.
fn nested(levels: usize) -> Node {
    let mut node = Node::new("iq");
    for _ in 1..levels {
        node = Node::new("iq").children(vec![node]);
    }
    node
}

#[test]
fn nesting_stops_at_the_depth_limit() {
    // The root is depth 0, so MAX_DEPTH + 1 levels are the most accepted.
    let deepest = nested(MAX_DEPTH + 1);
    assert_eq!(decode(&encode(&deepest).unwrap()).unwrap(), deepest);
    let too_deep = encode(&nested(MAX_DEPTH + 2)).unwrap();
    assert_eq!(decode(&too_deep), Err(DecodeError::TooDeep));
    // A million levels of `f8 02 19 f8 01` fail the same way, not by
    // overflowing the stack.
    let mut bomb = vec![0u8];
    for _ in 0..1_000_000 {
        bomb.extend_from_slice(&[0xf8, 0x02, 0x19, 0xf8, 0x01]);
    }
    assert_eq!(decode(&bomb), Err(DecodeError::TooDeep));
}

#[test]
fn compressed_garbage_is_an_inflate_error() {
    for hex in ["02 ff ff ff ff", "02 78 9c ff", "06 78 9c 4b 4c 4a 06 00"] {
        assert!(
            matches!(decode_err(hex), DecodeError::Inflate(_)),
            "{hex}: {:?}",
            decode(&frame(hex))
        );
    }
    // A well-formed zlib stream of nothing: no node in it.
    let mut z = flate2::write::ZlibEncoder::new(vec![2u8], flate2::Compression::fast());
    z.write_all(b"").unwrap();
    assert_eq!(
        decode(&z.finish().unwrap()),
        Err(DecodeError::UnexpectedEnd)
    );
}

#[test]
fn zip_bomb_stops_at_the_inflate_limit() {
    let mut z = flate2::write::ZlibEncoder::new(vec![2u8], flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..=MAX_INFLATED >> 20 {
        z.write_all(&zeros).unwrap();
    }
    let bomb = z.finish().unwrap();
    // Far below what a frame can carry.
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    assert_eq!(decode(&bomb), Err(DecodeError::InflatedTooLarge));
}

#[test]
fn malformed_structure_gives_its_own_error() {
    assert_eq!(decode_err("00 00"), DecodeError::EmptyNode);
    assert_eq!(decode_err("00 f8 00"), DecodeError::EmptyNode);
    assert_eq!(decode_err("00 19"), DecodeError::InvalidListTag(0x19));
    assert_eq!(decode_err("00 f8 01 f0"), DecodeError::InvalidTag(0xf0));
    assert_eq!(decode_err("00 f8 01 fc 01 ff"), DecodeError::InvalidUtf8);
    assert_eq!(decode_err("00 f8 01 19 00"), DecodeError::TrailingBytes(1));
    assert_eq!(decode_err(""), DecodeError::UnexpectedEnd);
    assert_eq!(decode_node(&[]), Err(DecodeError::UnexpectedEnd));
    // JID_PAIR with an empty server; INTEROP_JID on another server.
    assert_eq!(
        decode_err("00 f8 03 19 0c fa ff 81 1f 00"),
        DecodeError::InvalidJid("empty server")
    );
    assert_eq!(
        decode_err("00 f8 03 19 0c f5 ff 81 1f 00 01 00 07 03"),
        DecodeError::InvalidJid("interop jid with another server")
    );
}

#[test]
fn decodable_but_unencodable_jids_are_encode_errors() {
    // FB_JID 1, device 300, on s.whatsapp.net: its AD_JID form has one device byte.
    let node = decode(&frame("00 f8 03 19 0c f6 ff 81 1f 01 2c 03")).unwrap();
    assert_eq!(
        node.attr_jid("jid"),
        Some(&Jid::with_device("1", 300, Server::User))
    );
    assert_eq!(encode(&node), Err(EncodeError::DeviceOutOfRange));
    // FB_JID 1, device 2, on g.us: groups have no device form.
    let node = decode(&frame("00 f8 03 19 0c f6 ff 81 1f 00 02 1c")).unwrap();
    assert_eq!(encode(&node), Err(EncodeError::DeviceWithoutForm));
}

#[test]
fn unsupported_version_does_not_depend_on_the_cut() {
    // Found by fuzz/fuzz_targets/frame_codec.rs: "WA" then version 5.2 was
    // BadHeader when the version bytes arrived late, UnsupportedVersion when
    // the four bytes came together.
    let header = [b'W', b'A', 5, 2];
    let mut whole = ServerFrameDecoder::new();
    whole.push(&header);
    assert_eq!(
        whole.next_frame(),
        Err(FrameError::UnsupportedVersion(5, 2))
    );
    for cut in 1..header.len() {
        let mut d = ServerFrameDecoder::new();
        d.push(&header[..cut]);
        assert_eq!(d.next_frame(), Ok(None), "cut at {cut}");
        d.push(&header[cut..]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::UnsupportedVersion(5, 2)),
            "cut at {cut}"
        );
    }
    // A byte that rules out "WA" is refused at once.
    let mut d = ServerFrameDecoder::new();
    d.push(b"WB");
    assert_eq!(d.next_frame(), Err(FrameError::BadHeader));
}

use std::borrow::Cow;
use std::io::Write;

use proptest::prelude::*;

use super::*;
use crate::jid::{Jid, Server};

fn ping() -> Node {
    Node::new("iq")
        .attr("id", "1A2B")
        .attr("to", Jid::server_jid())
        .attr("type", "get")
        .attr("xmlns", "w:p")
        .children(vec![Node::new("ping")])
}

#[test]
fn ping_iq_matches_the_known_vector() {
    let bytes = encode(&ping()).unwrap();
    assert_eq!(
        hex::encode(&bytes),
        "00f80a1908fb021a2b11fa000304291657f801f80156"
    );
    assert_eq!(decode(&bytes).unwrap(), ping());
}

#[test]
fn string_forms() {
    let cases: &[(&str, &str)] = &[
        ("type", "04"),        // single-byte token
        ("read-self", "ec00"), // double-byte token, dictionary 0
        ("123", "ff82123f"),   // nibble, odd
        ("12-.", "ff0212ab"),  // nibble with '-' and '.'
        ("1A2B", "fb021a2b"),  // hex, even
        ("ABC", "fb82abcf"),   // hex, odd
        ("abc", "fc03616263"), // lowercase: raw
        ("", "fc00"),          // empty string: raw
    ];
    for (s, want) in cases {
        let node = Node::new("a").attr("k", *s);
        let bytes = encode(&node).unwrap();
        // list(3) "a" "k" value
        let mut prefix = encode(&Node::new("a").attr("k", "")).unwrap();
        prefix.truncate(prefix.len() - 2);
        assert_eq!(hex::encode(&bytes[prefix.len()..]), *want, "{s:?}");
        assert_eq!(decode(&bytes).unwrap(), node, "{s:?}");
    }
}

#[test]
fn long_nibble_strings_are_raw() {
    let s127 = "1".repeat(127);
    let s128 = "1".repeat(128);
    let b127 = encode(&Node::new("a").attr("k", s127.clone())).unwrap();
    let b128 = encode(&Node::new("a").attr("k", s128.clone())).unwrap();
    assert!(b127.windows(2).any(|w| w == [0xff, 0x80 | 64]));
    assert!(b128.windows(2).any(|w| w == [0xfc, 128]));
    assert_eq!(
        decode(&b128).unwrap().attr_str("k").map(str::to_owned),
        Some(s128)
    );
}

#[test]
fn byte_lengths_pick_their_form() {
    for (len, tag, header) in [
        (0usize, 0xfc, 2usize),
        (255, 0xfc, 2),
        (256, 0xfd, 4),
        ((1 << 20) - 1, 0xfd, 4),
        (1 << 20, 0xfe, 5),
    ] {
        let node = Node::new("a").bytes(vec![7u8; len]);
        let bytes = encode(&node).unwrap();
        // flags, list8, size, tag "a" (raw: fc 01 61), then the content header
        let at = 1 + 2 + 3;
        assert_eq!(bytes[at], tag, "len {len}");
        assert_eq!(bytes.len(), at + header + len);
        assert_eq!(decode(&bytes).unwrap(), node);
    }
}

#[test]
fn list_sizes_pick_their_form() {
    for (n, marker) in [(0usize, 0x00u8), (255, 0xf8), (256, 0xf9), (300, 0xf9)] {
        let node = Node::new("a").children(vec![Node::new("b"); n]);
        let bytes = encode(&node).unwrap();
        assert_eq!(bytes[6], marker, "{n} children");
        assert_eq!(decode(&bytes).unwrap(), node);
    }
}

#[test]
fn jid_forms() {
    let cases: Vec<(Jid, &str)> = vec![
        (Jid::user_jid("123"), "fa"),
        ("123:7@s.whatsapp.net".parse().unwrap(), "f70007"),
        ("123:5@lid".parse().unwrap(), "f70105"),
        ("123:2@hosted".parse().unwrap(), "f78002"),
        ("123:2@hosted.lid".parse().unwrap(), "f78102"),
        ("100:3@msgr".parse().unwrap(), "f6"),
        ("7-100:3@interop".parse().unwrap(), "f5"),
        ("123-456@g.us".parse().unwrap(), "fa"),
    ];
    for (jid, start) in cases {
        let node = Node::new("a").attr("k", jid.clone());
        let bytes = encode(&node).unwrap();
        let value_at = 1 + 2 + 3 + 1; // flags, list, "a" raw, key token? no: key raw "k"
        let _ = value_at;
        let hex_bytes = hex::encode(&bytes);
        assert!(hex_bytes.contains(start), "{jid}: {hex_bytes}");
        let back = decode(&bytes).unwrap();
        assert_eq!(back.attr_jid("k"), Some(&jid), "{jid}");
    }
}

#[test]
fn compressed_frames_inflate() {
    let plain = encode(&ping()).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&plain[1..]).unwrap();
    let mut frame = vec![2u8];
    frame.extend(z.finish().unwrap());
    assert_eq!(decode(&frame).unwrap(), ping());
    let mut junk = frame.clone();
    junk.extend_from_slice(b"junk");
    assert_eq!(decode(&junk), Err(DecodeError::TrailingBytes(4)));
    assert!(matches!(
        decode(&[2, 1, 2, 3]),
        Err(DecodeError::Inflate(_))
    ));
}

#[test]
fn zip_bombs_are_refused() {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..33 {
        z.write_all(&zeros).unwrap();
    }
    let mut frame = vec![2u8];
    frame.extend(z.finish().unwrap());
    assert_eq!(decode(&frame), Err(DecodeError::InflatedTooLarge));
}

#[test]
fn malformed_inputs_get_distinct_errors() {
    assert_eq!(decode(&[]), Err(DecodeError::UnexpectedEnd));
    assert_eq!(decode(&[0]), Err(DecodeError::UnexpectedEnd));
    assert_eq!(decode(&[0, 0]), Err(DecodeError::EmptyNode));
    assert_eq!(decode(&[0, 0xf8, 1, 0]), Err(DecodeError::EmptyNode));
    assert_eq!(decode(&[0, 7]), Err(DecodeError::InvalidListTag(7)));
    assert_eq!(decode(&[0, 0xf8, 1, 0xfa]), Err(DecodeError::UnexpectedEnd));
    assert_eq!(
        decode(&[0, 0xf8, 1, 0xfa, 0, 3]),
        Err(DecodeError::UnexpectedJid("tag"))
    );
    assert_eq!(
        decode(&[0, 0xf8, 1, 0xfa, 0, 0]),
        Err(DecodeError::InvalidJid("empty server"))
    );
    assert_eq!(
        decode(&[0, 0xf8, 1, 0xfc, 0xff]),
        Err(DecodeError::UnexpectedEnd)
    );
    assert_eq!(
        decode(&[0, 0xf8, 1, 0xfc, 1, 0xff]),
        Err(DecodeError::InvalidUtf8)
    );
    assert_eq!(
        decode(&[0, 0xf8, 1, 0xff, 1, 0xcc]),
        Err(DecodeError::InvalidPacked(0xc))
    );
    assert_eq!(
        decode(&[0, 0xf8, 1, 4, 9]),
        Err(DecodeError::TrailingBytes(1))
    );
    assert_eq!(
        decode(&[0, 0xf8, 1, 0xf0]),
        Err(DecodeError::InvalidTag(0xf0))
    );
    // 100 attributes announced, none present: an error, not an allocation.
    assert_eq!(
        decode(&[0, 0xf9, 0xff, 0xff, 4]),
        Err(DecodeError::UnexpectedEnd)
    );
}

#[test]
fn deep_nesting_is_refused() {
    let mut node = Node::new("leaf");
    for _ in 0..=MAX_DEPTH {
        node = Node::new("n").children(vec![node]);
    }
    let bytes = encode(&node).unwrap();
    assert_eq!(decode(&bytes), Err(DecodeError::TooDeep));
}

#[test]
fn encoder_errors() {
    assert_eq!(encode(&Node::new("")), Err(EncodeError::EmptyTag));
    let jid = Jid::with_device("1", 300, Server::User);
    assert_eq!(
        encode(&Node::new("a").attr("to", jid)),
        Err(EncodeError::DeviceOutOfRange)
    );
    let group_device = Jid::with_device("1-2", 3, Server::Group);
    assert_eq!(
        encode(&Node::new("a").attr("to", group_device)),
        Err(EncodeError::DeviceWithoutForm)
    );
}

#[test]
fn json_round_trip() {
    let v = json::to_json(&ping());
    assert_eq!(
        v.to_string(),
        r#"{"tag":"iq","attrs":{"id":"1A2B","to":"@s.whatsapp.net","type":"get","xmlns":"w:p"},"content":[{"tag":"ping","attrs":{},"content":null}]}"#
    );
    assert_eq!(json::from_json(&v).unwrap(), ping());
    let bad = serde_json::json!({"tag": "a", "content": {"b64": "!!"}});
    assert!(json::from_json(&bad).is_err());
}

fn arb_str() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (1u8..=235).prop_map(|i| token::single(i).unwrap().to_owned()),
        (0u8..4, any::<u8>()).prop_map(|(d, i)| token::double(d, i).unwrap().to_owned()),
        "[0-9.-]{1,130}",
        "[0-9A-F]{1,130}",
        "\\PC{0,40}",
    ]
}

fn arb_attr_value() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        3 => arb_str().prop_map(AttrValue::from),
        1 => crate::jid::tests::arb_jid()
            .prop_filter("the wire has a form for this jid", |j| {
                match j.server() {
                    Server::Messenger | Server::Interop => true,
                    s if s.ad_domain().is_some() => j.device() < 256,
                    _ => j.device() == 0,
                }
            })
            .prop_map(AttrValue::Jid),
    ]
}

fn arb_tag() -> impl Strategy<Value = String> {
    arb_str().prop_filter("tags are not empty", |s| !s.is_empty())
}

fn arb_node() -> impl Strategy<Value = Node> {
    let leaf = (
        arb_tag(),
        proptest::collection::vec((arb_str(), arb_attr_value()), 0..4),
        prop_oneof![
            Just(Content::None),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Content::Bytes),
        ],
    )
        .prop_map(|(tag, attrs, content)| {
            let mut a = Attrs::new();
            for (k, v) in attrs {
                a.push(Cow::Owned(k), v);
            }
            Node {
                tag: Cow::Owned(tag),
                attrs: a,
                content,
            }
        });
    leaf.prop_recursive(4, 64, 8, move |inner| {
        (arb_tag(), proptest::collection::vec(inner, 0..8))
            .prop_map(|(t, children)| Node::new(t).children(children))
    })
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(node in arb_node()) {
        let bytes = encode(&node).unwrap();
        prop_assert_eq!(decode(&bytes).unwrap(), node);
    }

    #[test]
    fn json_then_node_is_identity(node in arb_node()) {
        // JSON reads strings with '@' back as JIDs, as other clients write them.
        let back = json::from_json(&json::to_json(&node)).unwrap();
        prop_assert_eq!(&decode(&encode(&back).unwrap()).unwrap(), &back);
        prop_assert_eq!(json::to_json(&back), json::to_json(&node));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_of_mutated_valid_frames_never_panics(
        node in arb_node(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = encode(&node).unwrap();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let _ = decode(&bytes);
    }
}

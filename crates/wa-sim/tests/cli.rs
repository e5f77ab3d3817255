//! The `wa-sim node` debugging tools, run as a person would run them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const PING_HEX: &str = "00f80a1908fb021a2b11fa000304291657f801f80156";
const PING_JSON: &str = r#"{"tag":"iq","attrs":{"id":"1A2B","to":"@s.whatsapp.net","type":"get","xmlns":"w:p"},"content":[{"tag":"ping","attrs":{},"content":null}]}"#;

fn wa_sim(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wa-sim"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn decode_prints_json_with_attrs_in_wire_order() {
    let (ok, out, _) = wa_sim(&["node", "decode", PING_HEX]);
    assert!(ok);
    assert_eq!(out, PING_JSON);
}

#[test]
fn encode_prints_hex_with_flags_byte() {
    let (ok, out, _) = wa_sim(&["node", "encode", PING_JSON]);
    assert!(ok);
    assert_eq!(out, PING_HEX);
}

#[test]
fn bytes_content_and_jids() {
    let json =
        r#"{"tag":"enc","attrs":{"to":"123:4@s.whatsapp.net","v":"2"},"content":{"b64":"AQID"}}"#;
    let (ok, hex, _) = wa_sim(&["node", "encode", json]);
    assert!(ok);
    let (ok, back, _) = wa_sim(&["node", "decode", &hex]);
    assert!(ok);
    assert_eq!(back, json);
}

#[test]
fn bad_input_is_a_clear_error() {
    let (ok, _, err) = wa_sim(&["node", "decode", "zz"]);
    assert!(!ok);
    assert!(err.contains("not hex"), "{err}");
    let (ok, _, err) = wa_sim(&["node", "decode", "00f8"]);
    assert!(!ok);
    assert!(err.contains("input ended"), "{err}");
    let (ok, _, err) = wa_sim(&["node", "encode", "{\"attrs\":{}}"]);
    assert!(!ok);
    assert!(err.contains("tag"), "{err}");
}

//! Binary node decoder: never panics, and agrees with the encoder.
//!
//! Any bytes (flags byte first, so compressed frames are reached too) either
//! fail to decode or give a node. That node may not be encodable (e.g. an
//! AD_JID device above 255 read from an FB_JID), but when it is, decoding our
//! own encoding must give the same node back. Its JSON form must read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_core::binary::json::{from_json, to_json};
use wa_core::binary::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(first) = decode(data) else {
        return;
    };
    if let Ok(bytes) = encode(&first) {
        match decode(&bytes) {
            Ok(second) => assert_eq!(first, second, "re-decode differs; encoding {bytes:02x?}"),
            Err(e) => panic!("our own encoding does not decode: {e}; encoding {bytes:02x?}"),
        }
    }
    let json = to_json(&first);
    if let Err(e) = from_json(&json) {
        panic!("to_json output does not read back: {e}");
    }
});

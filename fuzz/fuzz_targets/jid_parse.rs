//! JID parser: never panics, and what it accepts prints back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wa_core::jid::Jid;

fuzz_target!(|text: &str| {
    let Ok(jid) = text.parse::<Jid>() else {
        return;
    };
    let printed = jid.to_string();
    match printed.parse::<Jid>() {
        Ok(again) => assert_eq!(jid, again, "{text:?} printed as {printed:?}"),
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    }
});

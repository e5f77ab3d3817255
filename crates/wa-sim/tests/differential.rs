//! Our client and Baileys rc14 through the same simulator, compared on the
//! wire. So far: the `ClientPayload` of registration and of login, as the
//! set of field paths each sets (DeviceProps and its history-sync config
//! included, read from the raw bytes, so a field our schema does not know
//! still counts). Every difference must be one of those listed, with its
//! reason, in docs/PROTOCOL-NOTES.md "Intended differences from Baileys";
//! a new one, or a listed one that went away, fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;

use support::baileys::{Baileys, baileys_dir};
use support::{Device, link, login, start_sim};

/// Paths whose length-delimited content is itself a message: userAgent,
/// its appVersion, webInfo and webdPayload, dnsSource, devicePairingData,
/// the deviceProps inside it, their version and historySyncConfig.
const NESTED: [&str; 9] = [
    "5", "5.2", "6", "6.3", "15", "19", "19.8", "19.8.2", "19.8.5",
];

/// Paths set by only one side, and why (the table in PROTOCOL-NOTES.md).
/// `(phase, path, who sets it)`.
const INTENDED: [(&str, &str, &str); 4] = [
    // userAgent.manufacturer: whatsmeow sends "", Baileys leaves it out.
    ("registration", "5.6", "ours"),
    ("login", "5.6", "ours"),
    // lc: whatsmeow sends 1 at login, Baileys does not.
    ("login", "24", "ours"),
    // historySyncConfig.thumbnailSyncDaysLimit: whatsmeow's 60.
    ("registration", "19.8.5.19", "ours"),
];

fn varint(bytes: &[u8]) -> (u64, usize) {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
    }
    panic!("truncated varint");
}

/// The field paths (numbers joined by dots) set in `bytes`.
fn paths(bytes: &[u8], prefix: &str, out: &mut BTreeSet<String>) {
    let mut i = 0;
    while i < bytes.len() {
        let (key, n) = varint(&bytes[i..]);
        i += n;
        let path = if prefix.is_empty() {
            (key >> 3).to_string()
        } else {
            format!("{prefix}.{}", key >> 3)
        };
        match key & 7 {
            0 => i += varint(&bytes[i..]).1,
            1 => i += 8,
            5 => i += 4,
            2 => {
                let (len, n) = varint(&bytes[i..]);
                i += n;
                let body = &bytes[i..i + usize::try_from(len).unwrap()];
                i += body.len();
                if NESTED.contains(&path.as_str()) {
                    paths(body, &path, out);
                }
            }
            other => panic!("wire type {other} at {path}"),
        }
        out.insert(path);
    }
}

fn path_set(payload: &[u8]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    paths(payload, "", &mut out);
    out
}

/// `(phase, path, who)` for each path only one side sets.
fn differences(
    phase: &'static str,
    ours: &BTreeSet<String>,
    theirs: &BTreeSet<String>,
) -> BTreeSet<(&'static str, String, &'static str)> {
    let only_ours = ours.difference(theirs).map(|p| (phase, p.clone(), "ours"));
    let only_theirs = theirs
        .difference(ours)
        .map(|p| (phase, p.clone(), "baileys"));
    only_ours.chain(only_theirs).collect()
}

#[tokio::test]
async fn client_payloads_match_baileys_but_for_the_listed_differences() {
    let Some(dir) = baileys_dir() else { return };
    let sim = start_sim().await;

    // Baileys: registration, then (after the scan and 515) login.
    let phone = sim.account("15550009001");
    let mut baileys = Baileys::start(&dir, &sim);
    let qr = baileys.next(&[]).await;
    assert_eq!(qr["event"], "qr", "{qr}");
    phone.scan(qr["qr"].as_str().unwrap()).await.unwrap();
    let open = baileys.next(&["qr", "restart"]).await;
    assert_eq!(open["event"], "open", "{open}");
    let theirs = sim.client_payloads();
    assert_eq!(theirs.len(), 2, "one registration, one login");

    // Ours, the same way.
    let phone = sim.account("15550009002");
    let mut device = Device::new();
    link(&sim, &phone, &mut device).await.unwrap();
    let (_conn, _events, _success) = login(&sim, &device).await;
    let ours = &sim.client_payloads()[2..];
    assert_eq!(ours.len(), 2, "one registration, one login");

    let mut found = BTreeSet::new();
    for (i, phase) in ["registration", "login"].into_iter().enumerate() {
        let (o, t) = (path_set(&ours[i]), path_set(&theirs[i]));
        assert!(t.contains("5.2.3"), "Baileys' {phase} has an app version");
        found.extend(differences(phase, &o, &t));
    }
    let intended: BTreeSet<(&str, String, &str)> = INTENDED
        .iter()
        .map(|(phase, path, who)| (*phase, (*path).to_owned(), *who))
        .collect();
    println!(
        "ClientPayload differences from Baileys: {} ({} intended)",
        found.len(),
        intended.len()
    );
    assert_eq!(
        found, intended,
        "unexplained (or no longer present) differences; list each in \
         docs/PROTOCOL-NOTES.md with its reason"
    );
}

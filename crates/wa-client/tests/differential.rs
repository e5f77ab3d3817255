//! Our client and Baileys rc14 through the same simulator, compared on the
//! wire after login: the stanzas each sends to start its session (before
//! any message), by shape (tag, `type`/`xmlns`, attribute names, child
//! tags). Every difference must be listed, with its reason, in
//! docs/PROTOCOL-NOTES.md "Intended differences from Baileys"; a new one,
//! or a listed one that went away, fails. (The ClientPayload comparison is
//! in crates/wa-sim/tests/differential.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../wa-sim/tests/support/baileys.rs"]
#[allow(dead_code)]
mod baileys;
#[path = "support/companion.rs"]
mod companion;

use std::collections::BTreeSet;
use std::time::Duration;

use companion::{paired, sim, start, stop};

/// Session-start stanza shapes only one side sends, and why (the table in
/// PROTOCOL-NOTES.md): `(shape, who)`.
const INTENDED: [(&str, &str); 1] = [
    // Baileys sends the unified session as it opens; we send it with our
    // first available presence, which the bridge sends only while the user
    // is active (so the phone keeps its notifications).
    ("ib type=- xmlns=- [] > unified_session", "baileys"),
];

#[tokio::test]
async fn session_start_matches_baileys_but_for_the_listed_differences() {
    let Some(dir) = baileys::baileys_dir() else {
        return;
    };
    let sim = sim().await;

    let phone = sim.account("15550009101");
    let mut peer = baileys::Baileys::start(&dir, &sim);
    let qr = peer.next(&[]).await;
    assert_eq!(qr["event"], "qr", "{qr}");
    phone.scan(qr["qr"].as_str().unwrap()).await.unwrap();
    let open = peer.next(&["qr", "restart"]).await;
    assert_eq!(open["event"], "open", "{open}");

    let mine = sim.account("15550009102");
    let store = paired(&sim, &mine).await;
    let (client, events) = start(&sim, &store).await;
    let device = client.jid().device();

    // What each sends on its own once online: Baileys' init queries run
    // right after "open" (privacy is among the last); a little more time
    // for anything that follows them.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !sim
        .stanza_shapes("15550009101", 1)
        .iter()
        .any(|s| s.contains("xmlns=privacy"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "Baileys' init queries"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let theirs: BTreeSet<String> = sim.stanza_shapes("15550009101", 1).into_iter().collect();
    let ours: BTreeSet<String> = sim
        .stanza_shapes("15550009102", device)
        .into_iter()
        .collect();
    assert!(
        theirs.iter().any(|s| s.contains("xmlns=passive")),
        "Baileys went active: {theirs:#?}"
    );
    let found: BTreeSet<(String, &str)> = ours
        .difference(&theirs)
        .map(|s| (s.clone(), "ours"))
        .chain(theirs.difference(&ours).map(|s| (s.clone(), "baileys")))
        .collect();
    let intended: BTreeSet<(String, &str)> = INTENDED
        .iter()
        .map(|(s, who)| ((*s).to_owned(), *who))
        .collect();
    println!(
        "session-start differences from Baileys: {} ({} intended)",
        found.len(),
        intended.len()
    );
    assert_eq!(
        found, intended,
        "unexplained (or no longer present) differences; list each in \
         docs/PROTOCOL-NOTES.md with its reason.\nours: {ours:#?}\ntheirs: {theirs:#?}"
    );
    stop(client, events).await;
}

//! What the bridge's companion tells WhatsApp about itself, and what the
//! user hears when WhatsApp refuses it: a real Synapse, wa-sim and the
//! bridge in this process. The phone lists the device by the configured
//! name; when the service starts refusing the bridge's WhatsApp Web
//! version (405), the management room says so and names the setting,
//! and so does the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use support::login::start_logged_in;
use support::matrix::body;

const WAIT: Duration = Duration::from_secs(40);
const ALICE_PN: &str = "15557810001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_version_is_told_in_the_management_room() {
    support::log::capture();
    let sim = support::bridge::start_sim().await;
    let phone = sim.account(ALICE_PN);
    let logged_in = start_logged_in(&sim, &phone, ALICE_PN, "wabridge-wire", false, WAIT).await;

    // The phone's list of linked devices shows network.device_name.
    assert_eq!(
        phone.linked_device_names(),
        vec![(1, Some("wabridge-test".to_owned()))]
    );

    // The service moves its minimum past our version; the next login is
    // refused with 405.
    sim.set_min_version("2.3000.2000000000".parse().unwrap());
    assert!(sim.cut(ALICE_PN, 1), "the bridge was connected");
    let (_, notice) = logged_in
        .alice
        .sync_until(WAIT, |room, e| {
            room == logged_in.management && body(e).contains("outdated (405)")
        })
        .await;
    let text = body(&notice);
    assert!(text.contains("network.app_version"), "{text}");
    assert!(
        text.contains(&wa_core::payload::DEFAULT_WEB_VERSION.to_string()),
        "the notice names the version sent: {text}"
    );
    let log = support::log::text();
    assert!(
        log.lines()
            .any(|l| l.contains("(405)") && l.contains("network.app_version")),
        "the log names the setting"
    );
    // No reconnect loop: the refusal is final until the admin acts.
    assert_eq!(
        log.matches("refused the client as outdated").count(),
        1,
        "one refusal, not a loop"
    );
    logged_in.bridge.stop().await;
}

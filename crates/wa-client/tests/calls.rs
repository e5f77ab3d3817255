//! Calls against wa-sim: a 1:1 offer (video), taken on our phone, hung up;
//! a group call's notice; each a `Call` event with the call's id and
//! creator, and the stanza acknowledged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wa_client::{Call, CallAction, ClientEvent};
use wa_core::jid::Jid;

#[path = "support/companion.rs"]
mod companion;
use companion::{paired, sim, start, wait_for};

async fn next_call(events: &mut tokio::sync::mpsc::Receiver<ClientEvent>) -> Call {
    wait_for(events, |e| match e {
        ClientEvent::Call(c) => Some(c.clone()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_call_rings_is_taken_elsewhere_and_ends() {
    let sim = sim().await;
    let mine = sim.account("15554440300");
    let bob = sim.account("15554440301");
    let store = paired(&sim, &mine).await;
    let (_client, mut events) = start(&sim, &store).await;
    let bob_jid = Jid::user_jid("15554440301");

    let ringing = bob.call("15554440300", true);
    let offer = next_call(&mut events).await;
    assert_eq!(
        (offer.id.as_str(), &offer.creator),
        (ringing.id.as_str(), &bob_jid)
    );
    assert_eq!(
        (offer.group, offer.action),
        (None, CallAction::Offer { video: true })
    );

    mine.answer_call(&ringing);
    let taken = next_call(&mut events).await;
    assert_eq!(
        (taken.id.as_str(), taken.action),
        (ringing.id.as_str(), CallAction::Accept)
    );
    assert_eq!(taken.from.user(), "15554440300", "our phone took it");

    bob.end_call(&ringing, None);
    let ended = next_call(&mut events).await;
    assert_eq!(ended.action, CallAction::Terminate { reason: None });

    let gid = sim
        .create_group("15554440301", "Callers", &["15554440300".to_owned()])
        .unwrap();
    let ringing = bob.call_group(&gid, false);
    let notice = next_call(&mut events).await;
    assert_eq!(notice.id, ringing.id);
    assert_eq!(
        (notice.group, notice.action),
        (Some(gid), CallAction::Offer { video: false })
    );
}

//! Communities against wa-sim: a group's metadata names its community and
//! the announcement group says what it is; a community lists its groups;
//! links and unlinks come as group changes, told both to the group (its
//! community) and to the community (the group).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use wa_client::{ClientEvent, GroupChange, GroupChangeKind, LinkKind, LinkedGroup};
use wa_core::jid::Jid;

#[path = "support/companion.rs"]
mod companion;
use companion::{paired, sim, start, wait_for};

#[tokio::test]
async fn a_community_its_groups_and_their_links() {
    let sim = sim().await;
    let mine = sim.account("15554440200");
    let bob = sim.account("15554440201");
    let store = paired(&sim, &mine).await;
    let (client, mut events) = start(&sim, &store).await;

    let (community, announcements) = bob
        .create_community("Neighbours", &["15554440200"])
        .unwrap();
    let info = client.group_info(&community).await.unwrap();
    assert!(info.is_community && !info.is_announcements);
    assert_eq!((info.subject.as_str(), info.parent), ("Neighbours", None));
    let info = client.group_info(&announcements).await.unwrap();
    assert!(info.is_announcements && info.announce && !info.is_community);
    assert_eq!(info.parent.as_ref(), Some(&community));

    let garden = bob
        .create_group_in(&community, "Garden", &["15554440200"])
        .unwrap();
    assert_eq!(
        client.group_info(&garden).await.unwrap().parent.as_ref(),
        Some(&community)
    );
    let mut listed = client.sub_groups(&community).await.unwrap();
    listed.sort_by(|a, b| a.subject.cmp(&b.subject).then(a.jid.cmp(&b.jid)));
    let names: Vec<(&str, bool)> = listed
        .iter()
        .map(|g| (g.subject.as_str(), g.is_announcements))
        .collect();
    assert_eq!(names, [("Garden", false), ("Neighbours", true)]);

    // A group of its own, then linked into the community: both sides told.
    let books = sim
        .create_group("15554440201", "Books", &["15554440200".to_owned()])
        .unwrap();
    assert!(bob.link_group(&community, &books));
    // Each side gets its notification; in which order is the server's.
    let told = both_told(&mut events, (&books, &community), true).await;
    assert_eq!(
        (&told[0].jid, told[0].subject.as_str()),
        (&community, "Neighbours")
    );
    assert_eq!((&told[1].jid, told[1].subject.as_str()), (&books, "Books"));
    assert_eq!(
        client.group_info(&books).await.unwrap().parent.as_ref(),
        Some(&community)
    );

    assert!(bob.unlink_group(&community, &books));
    let told = both_told(&mut events, (&books, &community), false).await;
    assert_eq!((&told[0].jid, &told[1].jid), (&community, &books));
    assert_eq!(client.group_info(&books).await.unwrap().parent, None);
}

/// Waits for the link (or unlink) change told to `group` (naming its
/// community) and the one told to `community` (naming the group), in
/// either order; returns what they name, the group's first.
async fn both_told(
    events: &mut tokio::sync::mpsc::Receiver<ClientEvent>,
    (group, community): (&Jid, &Jid),
    linked: bool,
) -> [LinkedGroup; 2] {
    let (mut to_group, mut to_community) = (None, None);
    while to_group.is_none() || to_community.is_none() {
        let (from, kind, other) = wait_for(events, |e| match e {
            ClientEvent::GroupChange(GroupChange {
                group,
                kind: GroupChangeKind::Linked { kind, group: other },
                ..
            }) if linked => Some((group.clone(), *kind, other.clone())),
            ClientEvent::GroupChange(GroupChange {
                group,
                kind:
                    GroupChangeKind::Unlinked {
                        kind,
                        group: other,
                        reason,
                    },
                ..
            }) if !linked => {
                assert_eq!(reason, "unlink_group");
                Some((group.clone(), *kind, other.clone()))
            }
            _ => None,
        })
        .await;
        match kind {
            LinkKind::Parent if from == *group => to_group = Some(other),
            LinkKind::Sub if from == *community => to_community = Some(other),
            _ => panic!("unexpected link change from {from}: {kind:?}"),
        }
    }
    [to_group.unwrap(), to_community.unwrap()]
}

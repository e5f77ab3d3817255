use super::*;
use crate::binary;
use crate::keys::KeyPair;
use crate::signal::{PreKey, SignedPreKey};

fn keys() -> RetryKeys {
    let mut rng = rand::rng();
    let identity = KeyPair::generate(&mut rng);
    let skey = SignedPreKey::generate(&identity, 1, &mut rng).unwrap();
    let key = PreKey::generate(77, &mut rng).unwrap();
    RetryKeys {
        bundle: PreKeyBundle::from_keys(4321, identity.public(), &skey, Some(&key)).unwrap(),
        device_identity: Some(vec![10, 2, 8, 1]),
    }
}

fn message() -> Node {
    Node::new("message")
        .attr(
            "from",
            "15551234567:3@s.whatsapp.net".parse::<Jid>().unwrap(),
        )
        .attr("id", "3EB0ABCDEF")
        .attr("t", "1700000000")
        .attr("type", "text")
}

/// What the server hands the sender: `to` becomes `from`.
fn as_received(sent: &Node, from: &str) -> Node {
    let mut node = Node::new("receipt").attr("from", from.parse::<Jid>().unwrap());
    for (k, v) in sent.attrs.iter().filter(|(k, _)| *k != "to") {
        node = node.attr(k.to_owned(), v.clone());
    }
    node.children(sent.child_nodes().to_vec())
}

#[test]
fn a_first_request_round_trips_without_keys() {
    let req = RetryRequest::for_message(&message(), 1, 4321, None).unwrap();
    assert!(!keys_expected(1));
    let node = req.to_node();
    assert_eq!(node.attr_str("type"), Some("retry"));
    assert_eq!(node.attr_str("id"), Some("3EB0ABCDEF"));
    assert_eq!(
        node.attr_jid("to").unwrap().to_string(),
        "15551234567:3@s.whatsapp.net"
    );
    let retry = node.child("retry").unwrap();
    for (k, v) in [
        ("count", "1"),
        ("id", "3EB0ABCDEF"),
        ("t", "1700000000"),
        ("v", "1"),
    ] {
        assert_eq!(retry.attr_str(k), Some(v), "{k}");
    }
    assert_eq!(
        node.child("registration").unwrap().content_bytes(),
        Some(&[0, 0, 0x10, 0xe1][..])
    );
    assert!(node.child("keys").is_none());

    // Through the wire codec, as the server would carry it.
    let wire = binary::decode(&binary::encode(&node).unwrap()).unwrap();
    let back = RetryRequest::parse(&as_received(&wire, "15551234567:3@s.whatsapp.net")).unwrap();
    assert_eq!(back, req);
    assert_eq!(back.device(), &req.peer);
}

#[test]
fn a_later_request_carries_the_bundle() {
    let gid: Jid = "120363000000000001@g.us".parse().unwrap();
    let sender: Jid = "15551234567:3@s.whatsapp.net".parse().unwrap();
    let group_message = Node::new("message")
        .attr("from", gid.clone())
        .attr("participant", sender.clone())
        .attr("id", "3EB0GROUP")
        .attr("t", "1700000001");
    let req = RetryRequest::for_message(&group_message, 2, 4321, Some(keys())).unwrap();
    assert!(keys_expected(2));
    let node = req.to_node();
    assert_eq!(node.attr_jid("participant"), Some(&sender));
    let k = node.child("keys").unwrap();
    let tags: Vec<&str> = k.child_nodes().iter().map(|n| n.tag.as_ref()).collect();
    assert_eq!(tags, ["type", "identity", "key", "skey", "device-identity"]);
    let wire = binary::decode(&binary::encode(&node).unwrap()).unwrap();
    let back = RetryRequest::parse(&as_received(&wire, "120363000000000001@g.us")).unwrap();
    assert_eq!(back, req);
    assert_eq!(back.device(), &sender);
    let bundle = &back.keys.unwrap().bundle;
    assert_eq!(bundle.registration, [0, 0, 0x10, 0xe1]);
    assert!(bundle.to_library(3).is_ok());
}

/// Shaped as Baileys 7.0.0-rc14 `sendRetryRequest` builds it (string
/// attributes, `error="0"` on `<retry>`, `<keys>` in its order), as the
/// server delivers it to the sender.
#[test]
fn parses_what_baileys_sends() {
    let k = keys();
    let b = &k.bundle;
    let prekey = b.prekey.clone().unwrap();
    let node = Node::new("receipt")
        .attr("from", "99887766554433:12@lid".parse::<Jid>().unwrap())
        .attr("id", "3EB0B1")
        .attr("type", "retry")
        .attr("t", "1700000005")
        .children(vec![
            Node::new("retry")
                .attr("count", "2")
                .attr("id", "3EB0B1")
                .attr("t", "1700000002")
                .attr("v", "1")
                .attr("error", "0"),
            Node::new("registration").bytes(vec![0, 0, 0x10, 0xe1]),
            Node::new("keys").children(vec![
                Node::new("type").bytes(vec![5]),
                Node::new("identity").bytes(b.identity.clone()),
                Node::new("key").children(vec![
                    Node::new("id").bytes(prekey.id.clone()),
                    Node::new("value").bytes(prekey.value.clone()),
                ]),
                Node::new("skey").children(vec![
                    Node::new("id").bytes(b.signed_prekey.id.clone()),
                    Node::new("value").bytes(b.signed_prekey.value.clone()),
                    Node::new("signature").bytes(b.signed_prekey.signature.clone()),
                ]),
                Node::new("device-identity").bytes(vec![10, 2, 8, 1]),
            ]),
        ]);
    let wire = binary::decode(&binary::encode(&node).unwrap()).unwrap();
    let req = RetryRequest::parse(&wire).unwrap();
    assert_eq!(req.id, "3EB0B1");
    assert_eq!(req.count, 2);
    assert_eq!(req.timestamp, Some(1_700_000_002));
    assert_eq!(req.registration_id, 4321);
    assert_eq!(req.device().to_string(), "99887766554433:12@lid");
    assert_eq!(req.participant, None);
    assert_eq!(req.keys, Some(k));
}

#[test]
fn malformed_requests_are_refused() {
    let good = RetryRequest::for_message(&message(), 2, 4321, Some(keys()))
        .unwrap()
        .to_node();
    let good = as_received(&good, "15551234567:3@s.whatsapp.net");
    assert!(RetryRequest::parse(&good).is_ok());

    /// Replaces the first descendant with tag `path[last]` under `path`.
    fn edit(node: &Node, path: &[&str], f: &dyn Fn(Option<&Node>) -> Option<Node>) -> Node {
        let mut out = node.clone();
        let Some((first, rest)) = path.split_first() else {
            return out;
        };
        let mut children: Vec<Node> = node.child_nodes().to_vec();
        let at = children.iter().position(|c| c.tag == *first);
        if rest.is_empty() {
            match (at, f(at.map(|i| &children[i]))) {
                (Some(i), Some(n)) => children[i] = n,
                (Some(i), None) => {
                    children.remove(i);
                }
                (None, Some(n)) => children.push(n),
                (None, None) => {}
            }
        } else if let Some(i) = at {
            children[i] = edit(&children[i], rest, f);
        }
        out.content = binary::Content::Nodes(children);
        out
    }
    let drop_it = |_: Option<&Node>| None;
    let short = |n: Option<&Node>| {
        let n = n.unwrap();
        let b = n.content_bytes().unwrap();
        Some(n.clone().bytes(b[..b.len() - 1].to_vec()))
    };
    let cases: Vec<(&str, Node, RetryError)> = vec![
        (
            "no retry",
            edit(&good, &["retry"], &drop_it),
            RetryError::Missing("retry"),
        ),
        (
            "no count",
            edit(&good, &["retry"], &|_| {
                Some(Node::new("retry").attr("id", "x"))
            }),
            RetryError::Missing("retry count"),
        ),
        (
            "zero count",
            edit(&good, &["retry"], &|_| {
                Some(Node::new("retry").attr("id", "x").attr("count", "0"))
            }),
            RetryError::Malformed("retry count"),
        ),
        (
            "word count",
            edit(&good, &["retry"], &|_| {
                Some(Node::new("retry").attr("id", "x").attr("count", "two"))
            }),
            RetryError::Malformed("retry count"),
        ),
        (
            "bad t",
            edit(&good, &["retry"], &|_| {
                Some(
                    Node::new("retry")
                        .attr("id", "x")
                        .attr("count", "1")
                        .attr("t", "soon"),
                )
            }),
            RetryError::Malformed("retry t"),
        ),
        (
            "no registration",
            edit(&good, &["registration"], &drop_it),
            RetryError::Missing("registration"),
        ),
        (
            "short registration",
            edit(&good, &["registration"], &short),
            RetryError::Malformed("registration"),
        ),
        (
            "key type",
            edit(&good, &["keys", "type"], &|_| {
                Some(Node::new("type").bytes(vec![6]))
            }),
            RetryError::Malformed("keys/type"),
        ),
        (
            "short identity",
            edit(&good, &["keys", "identity"], &short),
            RetryError::Malformed("keys/identity"),
        ),
        (
            "no skey",
            edit(&good, &["keys", "skey"], &drop_it),
            RetryError::Missing("keys/skey"),
        ),
        (
            "short skey id",
            edit(&good, &["keys", "skey", "id"], &short),
            RetryError::Malformed("keys/skey/id"),
        ),
        (
            "short skey signature",
            edit(&good, &["keys", "skey", "signature"], &short),
            RetryError::Malformed("keys/skey/signature"),
        ),
        (
            "short prekey",
            edit(&good, &["keys", "key", "value"], &short),
            RetryError::Malformed("keys/key/value"),
        ),
        (
            "empty device identity",
            edit(&good, &["keys", "device-identity"], &|_| {
                Some(Node::new("device-identity"))
            }),
            RetryError::Malformed("keys/device-identity"),
        ),
        (
            "delivery receipt",
            Node::new("receipt").attr("id", "x"),
            RetryError::NotARetry,
        ),
    ];
    for (what, node, want) in cases {
        assert_eq!(RetryRequest::parse(&node), Err(want), "{what}");
    }
    let mut no_from = good.clone();
    no_from.attrs = binary::Attrs::new();
    no_from = no_from.attr("type", "retry");
    assert_eq!(
        RetryRequest::parse(&no_from),
        Err(RetryError::Missing("from"))
    );
    // Without a prekey and a device identity the keys still parse.
    let lean = edit(
        &edit(&good, &["keys", "key"], &drop_it),
        &["keys", "device-identity"],
        &drop_it,
    );
    let keys = RetryRequest::parse(&lean).unwrap().keys.unwrap();
    assert_eq!((keys.bundle.prekey, keys.device_identity), (None, None));
}

#[test]
fn resends_carry_the_count() {
    let enc = resend_enc("pkmsg", 2, vec![1, 2, 3]);
    assert_eq!(enc.attr_str("v"), Some("2"));
    assert_eq!(enc.attr_str("type"), Some("pkmsg"));
    assert_eq!(enc.attr_str("count"), Some("2"));
}

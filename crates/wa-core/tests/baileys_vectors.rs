//! Our codec against Baileys (`baileys@7.0.0-rc14`), the independent reference:
//! golden vectors from `tests/vectors/binary_nodes.json`, and, when node is
//! installed, a live check in both directions through `scripts/baileys/codec.mjs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use wa_core::binary::{self, json as node_json};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn vectors() -> Vec<Value> {
    let text =
        std::fs::read_to_string(repo_root().join("tests/vectors/binary_nodes.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

/// Vectors where we deliberately part from Baileys, and what we do instead.
enum Deliberate {
    /// We refuse the bytes: Baileys accepts input no real server sends.
    Refuse(&'static str),
    /// We read the bytes as another node (attribute `jid` printed as given).
    ReadAs(&'static str),
}

fn deliberate(name: &str) -> Option<Deliberate> {
    match name {
        // A JID inside a JID's server part: whatsmeow refuses it too.
        "jid/quirk/double-at" => Some(Deliberate::Refuse("a jid stands where a plain string")),
        // FB_JIDs print their device only on the Messenger server itself.
        "jid/fb/device-0" => Some(Deliberate::ReadAs("1000012345@msgr.example")),
        // An unknown AD_JID domain byte is kept as the JID's agent (whatsmeow
        // keeps it too); Baileys drops it.
        "jid/ad/decode-unknown-domain" => Some(Deliberate::ReadAs("123.5:3@s.whatsapp.net")),
        _ => None,
    }
}

#[test]
fn we_decode_every_baileys_vector() {
    let vectors = vectors();
    assert!(vectors.len() > 90, "only {} vectors", vectors.len());
    for v in &vectors {
        let name = v["name"].as_str().unwrap();
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        let decoded = binary::decode(&bytes);
        match deliberate(name) {
            Some(Deliberate::Refuse(why)) => {
                let err = decoded.expect_err(name).to_string();
                assert!(err.contains(why), "{name}: {err}");
            }
            Some(Deliberate::ReadAs(jid)) => {
                let node = decoded.unwrap();
                assert_eq!(
                    node.attr_jid("jid").map(ToString::to_string).as_deref(),
                    Some(jid)
                );
            }
            None => {
                let node = decoded.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(node_json::to_json(&node), v["node"], "{name}");
            }
        }
    }
}

#[test]
fn we_encode_every_baileys_vector() {
    let mut exact = 0;
    let encodable = |v: &&Value| {
        v["decode_only"] != json!(true) && deliberate(v["name"].as_str().unwrap()).is_none()
    };
    for v in vectors().iter().filter(encodable) {
        let name = v["name"].as_str().unwrap();
        let node = node_json::from_json(&v["node"]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = binary::encode(&node).unwrap_or_else(|e| panic!("{name}: {e}"));
        if v["exact"] == json!(true) {
            assert_eq!(hex::encode(&ours), v["hex"].as_str().unwrap(), "{name}");
            exact += 1;
        } else {
            // Not byte-exact by construction (see the vector's note): same node.
            let back = binary::decode(&ours).unwrap();
            assert_eq!(node_json::to_json(&back), v["node"], "{name}");
        }
    }
    assert!(exact > 70, "only {exact} exact vectors");
}

/// Runs `node codec.mjs <mode>` over `lines`, one answer per line.
fn baileys(mode: &str, lines: &[String]) -> Option<Vec<String>> {
    let dir = repo_root().join("scripts/baileys");
    let required = std::env::var_os("WABRIDGE_REQUIRE_NODE").is_some();
    let installed = dir.join("node_modules/baileys").is_dir();
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(installed && node_ok) {
        assert!(
            !required,
            "WABRIDGE_REQUIRE_NODE is set but node or scripts/baileys/node_modules is missing"
        );
        eprintln!("node or Baileys not installed: live Baileys check not run");
        return None;
    }
    let mut child = Command::new("node")
        .arg("codec.mjs")
        .arg(mode)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out.len(), lines.len(), "one answer per line");
    Some(out)
}

/// A deterministic set of nodes, beyond the vectors, for the live check:
/// random shapes from a fixed seed, plus sizes the vector file does not hold.
fn generated_nodes() -> Vec<Value> {
    let mut seed = 0x2545_f491_u32;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let tokens = [
        "message",
        "receipt",
        "iq",
        "type",
        "id",
        "participant",
        "read-self",
        "enc",
    ];
    let values = [
        "text",
        "1700000000",
        "3EB0ABCDEF0123456789",
        "abc-def",
        "w:g2",
        "12.34-5",
        "123456789:12@s.whatsapp.net",
        "987654321@lid",
        "120363000000000001@g.us",
        "status@broadcast",
        "5:3@lid",
        "",
    ];
    let mut nodes = Vec::new();
    for i in 0..200 {
        let mut attrs = serde_json::Map::new();
        for _ in 0..(next() % 5) {
            let k = format!(
                "{}{}",
                tokens[(next() % 8) as usize],
                if next() % 2 == 0 { "" } else { "x" }
            );
            attrs.insert(k, json!(values[(next() % 12) as usize]));
        }
        let content = match next() % 3 {
            0 => Value::Null,
            1 => {
                let len = [0, 1, 100, 255, 256, 5000][(next() % 6) as usize];
                let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                json!({"b64": base64_encode(&bytes)})
            }
            _ => Value::Array(
                (0..(next() % 4))
                    .map(|j| json!({"tag": format!("child{j}"), "attrs": {}, "content": null}))
                    .collect(),
            ),
        };
        nodes.push(json!({"tag": tokens[i % 8], "attrs": attrs, "content": content}));
    }
    // BINARY_32 content and a LIST_16 of children.
    nodes.push(json!({"tag": "big", "attrs": {}, "content": {"b64": base64_encode(&vec![0x5a; (1 << 20) + 3])}}));
    let many: Vec<Value> = (0..300)
        .map(|_| json!({"tag": "item", "attrs": {}, "content": null}))
        .collect();
    nodes.push(json!({"tag": "list", "attrs": {}, "content": many}));
    nodes
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn baileys_decodes_our_bytes_to_the_same_node() {
    let mut nodes: Vec<Value> = vectors()
        .iter()
        .filter(|v| {
            v["decode_only"] != json!(true) && deliberate(v["name"].as_str().unwrap()).is_none()
        })
        .map(|v| v["node"].clone())
        .collect();
    nodes.extend(generated_nodes());
    let ours: Vec<String> = nodes
        .iter()
        .map(|n| hex::encode(binary::encode(&node_json::from_json(n).unwrap()).unwrap()))
        .collect();
    let Some(answers) = baileys("decode", &ours) else {
        return;
    };
    for (node, answer) in nodes.iter().zip(&answers) {
        let theirs: Value = serde_json::from_str(answer).unwrap();
        assert_eq!(
            &theirs, node,
            "Baileys decoded our encoding of {}",
            node["tag"]
        );
    }
}

#[test]
fn we_decode_what_baileys_encodes_now() {
    let nodes = generated_nodes();
    let lines: Vec<String> = nodes.iter().map(Value::to_string).collect();
    let Some(answers) = baileys("encode", &lines) else {
        return;
    };
    for (node, answer) in nodes.iter().zip(&answers) {
        let bytes = hex::decode(answer).unwrap_or_else(|_| panic!("Baileys said {answer}"));
        let ours = binary::decode(&bytes).unwrap();
        assert_eq!(&node_json::to_json(&ours), node);
        // Where no quirk applies our encoder writes the very same bytes.
        assert_eq!(
            hex::encode(binary::encode(&ours).unwrap()),
            *answer,
            "{}",
            node["tag"]
        );
    }
}

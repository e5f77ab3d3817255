//! Binary node codec benchmarks on `tests/vectors/bench_nodes.json`, the nodes
//! `scripts/baileys/bench.mjs` times for Baileys (`scripts/bench-codec` runs both).
//!
//! `encode/<node>`: `encode(&node)`, flags byte included (the JSON is read once,
//! untimed). `decode/<node>`: `decode(&frame)` of our own encoding of the node.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use wa_core::binary::json::from_json;
use wa_core::binary::{Node, decode, encode};

/// The benchmark nodes by name, with our encoding of each.
fn bench_nodes() -> Vec<(String, Node, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/bench_nodes.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("bench_nodes.json is JSON");
    let nodes = doc["nodes"].as_array().expect("\"nodes\" is a list");
    nodes
        .iter()
        .map(|entry| {
            let name = entry["name"].as_str().expect("node name").to_owned();
            let node = from_json(&entry["node"]).unwrap_or_else(|e| panic!("{name}: {e}"));
            let frame = encode(&node).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(decode(&frame).as_ref(), Ok(&node), "{name}: round trip");
            (name, node, frame)
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let nodes = bench_nodes();
    assert!(!nodes.is_empty(), "no benchmark nodes");

    let mut group = c.benchmark_group("encode");
    for (name, node, frame) in &nodes {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(name.as_str(), |b| b.iter(|| encode(black_box(node))));
    }
    group.finish();

    let mut group = c.benchmark_group("decode");
    for (name, _, frame) in &nodes {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(name.as_str(), |b| b.iter(|| decode(black_box(frame))));
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);

#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Fills fuzz/corpus/<target>/ with seed inputs (the corpus is gitignored):
#   node_decode  every frame of tests/vectors/binary_nodes.json up to 4 KiB (flags byte first)
#   frame_codec  a few streams: bare frames, WA header + frames, ED routing prefix
#   jid_parse    the JID forms the codec knows
# Needs python3. Usage: fuzz/seed-corpus.sh   (from anywhere), then from fuzz/:
#   RUSTC_BOOTSTRAP=1 cargo fuzz run node_decode -- -max_total_time=600 -timeout=10
# (cargo-fuzz wants a nightly rustc; RUSTC_BOOTSTRAP=1 lets stable 1.95 build it)
set -euo pipefail

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fuzz_dir")
corpus=$fuzz_dir/corpus
mkdir -p "$corpus/node_decode" "$corpus/frame_codec" "$corpus/jid_parse"

python3 - "$root/tests/vectors/binary_nodes.json" "$corpus" <<'PY'
import hashlib, json, os, sys

vectors_file, corpus = sys.argv[1], sys.argv[2]

def put(target, data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(data)

with open(vectors_file) as f:
    vectors = json.load(f)["vectors"]
n = 0
for v in vectors:
    data = bytes.fromhex(v["hex"])
    # libFuzzer's default -max_len is 4096; keep the seeds under it so they
    # are not truncated into different (and uninteresting) inputs.
    if len(data) <= 4096:
        put("node_decode", data)
        n += 1
print(f"node_decode: {n} seeds from {len(vectors)} vectors")

def frame(p):
    return len(p).to_bytes(3, "big") + p

ping = bytes.fromhex("00f80a1908fb021a2b11fa000304291657f801f80156")
header = b"WA\x06\x03"
routing = b"ED\x00\x01" + frame(b"\x08\x02\x10\x05")
streams = [
    bytes([1, 2, 3, 4, 0]) + frame(ping) + frame(b"") + frame(b"hello"),
    bytes([0, 0, 0, 0, 0]) + header + frame(ping),
    bytes([7, 3, 250, 1, 0]) + routing + header + frame(ping) + frame(b"x" * 300),
    bytes([5, 9, 2, 17, 0x40]) + b"route" + b"payload bytes" * 20,
    bytes([200, 255, 31, 64, 0xbf]) + bytes(range(256)) * 4,
    bytes([0, 1, 0, 1, 0]) + b"WA\x05\x02" + frame(b"old"),
    bytes([3, 3, 3, 3, 0]) + b"GET / HTTP/1.1\r\n\r\n",
]
for s in streams:
    put("frame_codec", s)
print(f"frame_codec: {len(streams)} seeds")

jids = [
    "123@s.whatsapp.net", "123:4@s.whatsapp.net", "123.5:2@s.whatsapp.net",
    "@s.whatsapp.net", "456@lid", "456:3@lid", "1@hosted", "1:9@hosted.lid",
    "123-456@g.us", "120363203265300650@g.us", "status@broadcast",
    "120363@newsletter", "1@c.us", "abc@call", "1@bot", "100:0@msgr",
    "100:3@msgr", "7-100:3@interop", "john.doe@example.com",
]
for j in jids:
    put("jid_parse", j.encode())
print(f"jid_parse: {len(jids)} seeds")
PY

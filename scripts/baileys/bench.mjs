#!/usr/bin/env node
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Micro-benchmark of Baileys' binary node codec on tests/vectors/bench_nodes.json,
// as the baseline for wabridge's Rust codec.
//
//   node bench.mjs [--target-ms N]      (default 1500 ms of timed work per case)
//
// Operations:
//   encode        encodeBinaryNode(node)                      (JSON -> Baileys node done once, untimed)
//   decode-async  await decodeBinaryNode(frame)                (frame = Baileys' own encoding, flags byte 00)
//   decode-sync   decodeDecompressedBinaryNode(body, consts)   (body = frame without the flags byte)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  BAILEYS_VERSION,
  baileysToJson,
  constants,
  decodeBinaryNode,
  decodeDecompressedBinaryNode,
  encodeBinaryNode,
  jsonToBaileys,
} from './baileys-json.mjs';

const BENCH_FILE = fileURLToPath(new URL('../../tests/vectors/bench_nodes.json', import.meta.url));

const args = process.argv.slice(2);
const targetIdx = args.indexOf('--target-ms');
const TARGET_NS = BigInt(Math.round((targetIdx >= 0 ? Number(args[targetIdx + 1]) : 1500) * 1e6));
assert.ok(TARGET_NS > 0n, 'bad --target-ms');

let sink = 0; // keeps results observable so the work cannot be optimized away

async function timeLoop(fn, isAsync, iterations) {
  const start = process.hrtime.bigint();
  if (isAsync) {
    for (let i = 0; i < iterations; i++) sink ^= (await fn()).tag.length;
  } else {
    for (let i = 0; i < iterations; i++) {
      const r = fn();
      sink ^= r.length ?? r.tag.length;
    }
  }
  return process.hrtime.bigint() - start;
}

/**
 * Warm up for ~20% of the target, then time batches (~1/20 of the target each)
 * until at least TARGET_NS of timed work has accumulated.
 */
async function measure(fn, isAsync) {
  let iterations = 1;
  let warmNs = 0n;
  let warmIters = 0;
  while (warmNs < TARGET_NS / 5n) {
    warmNs += await timeLoop(fn, isAsync, iterations);
    warmIters += iterations;
    iterations *= 2;
  }
  const batch = Math.max(1, Math.ceil(Number(TARGET_NS / 20n) / (Number(warmNs) / warmIters)));
  let ns = 0n;
  let n = 0;
  while (ns < TARGET_NS) {
    ns += await timeLoop(fn, isAsync, batch);
    n += batch;
  }
  return { nsPerOp: Number(ns) / n, iterations: n };
}

const data = JSON.parse(readFileSync(BENCH_FILE, 'utf8'));
const rows = [];
console.log(`# node ${process.version}, baileys ${BAILEYS_VERSION}, ${process.platform}/${process.arch}`);
for (const { name, node } of data.nodes) {
  const bnode = jsonToBaileys(node); // conversion outside the timing
  const frame = encodeBinaryNode(bnode);
  const body = frame.subarray(1);
  // sanity: both decoders give back the benchmark node
  assert.deepEqual(baileysToJson(await decodeBinaryNode(frame)), node, `${name}: async decode mismatch`);
  assert.deepEqual(baileysToJson(decodeDecompressedBinaryNode(body, constants)), node, `${name}: sync decode mismatch`);
  console.log(`# ${name}: ${frame.length} bytes encoded (incl. flags byte)`);

  rows.push([name, 'encode', await measure(() => encodeBinaryNode(bnode), false)]);
  rows.push([name, 'decode-async', await measure(() => decodeBinaryNode(frame), true)]);
  rows.push([name, 'decode-sync', await measure(() => decodeDecompressedBinaryNode(body, constants), false)]);
}

const header = ['node', 'op', 'ns/op', 'iterations'];
const table = rows.map(([node, op, r]) => [node, op, r.nsPerOp.toFixed(0), String(r.iterations)]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
const fmt = (r) => r.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
console.log(fmt(header));
for (const r of table) console.log(fmt(r));
if (sink === 0.5) console.log(''); // never true; reads sink

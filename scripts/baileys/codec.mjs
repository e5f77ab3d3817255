#!/usr/bin/env node
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Baileys (npm `baileys`, pinned in package.json) as the reference
// implementation of the WhatsApp binary node codec.
//
//   node codec.mjs decode       stdin: lines of hex frame payloads (flags byte first)
//                               stdout: one line of normalized JSON, or {"error": ...}
//   node codec.mjs encode       stdin: lines of JSON nodes (content may also be {"text": ...})
//                               stdout: one line of hex (leading 00 flags byte), or {"error": ...}
//   node codec.mjs vectors      (re)writes tests/vectors/binary_nodes.json
//   node codec.mjs bench-nodes  (re)writes tests/vectors/bench_nodes.json
//
// Blank input lines are skipped. See README.md in this folder.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

import {
  BAILEYS_VERSION,
  constants,
  decodeToJson,
  encodeJson,
  isIndexLikeKey,
  makePrng,
  parseHexLine,
} from './baileys-json.mjs';

const VECTORS_DIR = fileURLToPath(new URL('../../tests/vectors/', import.meta.url));
const VECTORS_FILE = `${VECTORS_DIR}binary_nodes.json`;
const BENCH_FILE = `${VECTORS_DIR}bench_nodes.json`;

const PING_HEX = '00f80a1908fb021a2b11fa000304291657f801f80156';

// ---------------------------------------------------------------------------
// stdin line modes

async function eachLine(fn) {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let out;
    try {
      out = await fn(line);
    } catch (err) {
      out = JSON.stringify({ error: String(err && err.message ? err.message : err) });
    }
    process.stdout.write(`${out}\n`);
  }
}

const decodeLine = async (line) => JSON.stringify(await decodeToJson(parseHexLine(line)));
const encodeLine = async (line) => encodeJson(JSON.parse(line)).toString('hex');

// ---------------------------------------------------------------------------
// helpers for building vectors

/** A JSON node. */
const n = (tag, attrs = {}, content = null) => ({ tag, attrs, content });
const b64 = (buf) => ({ b64: Buffer.from(buf).toString('base64') });
const text = (s) => ({ text: s });

const SINGLE = constants.SINGLE_BYTE_TOKENS;
const DOUBLE = constants.DOUBLE_BYTE_TOKENS;
const tokenOf = (s) => (Object.prototype.hasOwnProperty.call(constants.TOKEN_MAP, s) ? constants.TOKEN_MAP[s] : undefined);

// Hand-written byte builders for decode-only frames (forms Baileys' encoder never emits).
const W = {
  list(size) {
    if (size === 0) return [0];
    if (size < 256) return [248, size];
    return [249, size >> 8, size & 255];
  },
  token(s) {
    const t = tokenOf(s);
    assert.ok(t, `not a token: ${s}`);
    return typeof t.dict === 'number' ? [236 + t.dict, t.index] : [t.index];
  },
  raw8(s) {
    const b = Buffer.from(s, 'utf8');
    assert.ok(b.length < 256);
    return [252, b.length, ...b];
  },
  raw20(s) {
    const b = Buffer.from(s, 'utf8');
    return [253, (b.length >> 16) & 15, (b.length >> 8) & 255, b.length & 255, ...b];
  },
  raw32(s) {
    const b = Buffer.from(s, 'utf8');
    return [254, 0, (b.length >> 16) & 255, (b.length >> 8) & 255, b.length & 255, ...b];
  },
  nibble(s) {
    const code = (c) => ('0123456789-.'.indexOf(c) >= 0 ? '0123456789-.'.indexOf(c) : assert.fail(`nibble ${c}`));
    const out = [255, Math.ceil(s.length / 2) | (s.length % 2 ? 128 : 0)];
    for (let i = 0; i < s.length; i += 2) out.push((code(s[i]) << 4) | (i + 1 < s.length ? code(s[i + 1]) : 15));
    return out;
  },
  u16: (v) => [(v >> 8) & 255, v & 255],
  frame: (...parts) => Buffer.from([0, ...parts.flat()]),
};

/** Pack a list of tokens into one node: attr keys/values first, leftovers as childless children. */
function packTokens(tokens) {
  const [tag, ...rest] = tokens;
  // Index-like keys ("100") would be reordered by JS objects, so they only ever serve as values.
  const keys = rest.filter((t) => !isIndexLikeKey(t));
  const vals = rest.filter((t) => isIndexLikeKey(t));
  const attrs = {};
  const children = [];
  while (keys.length) {
    if (vals.length) attrs[keys.shift()] = vals.shift();
    else if (keys.length >= 2) attrs[keys.shift()] = keys.shift();
    else children.push(n(keys.shift()));
  }
  for (const v of vals) children.push(n(v));
  return n(tag, attrs, children.length ? children : null);
}

/** Deterministic printable text of exactly `len` bytes. */
function filler(len, seed) {
  const p = makePrng(seed);
  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'whatsapp', 'matrix', 'bridge', 'node', 'codec'];
  let s = '';
  while (s.length < len) s += `${words[p.int(words.length)]} `;
  return s.slice(0, len);
}

// ---------------------------------------------------------------------------
// the vector set

async function buildVectors() {
  const vectors = [];
  const names = new Set();

  const addName = (name) => {
    assert.ok(!names.has(name), `duplicate vector name ${name}`);
    names.add(name);
  };

  /**
   * A vector produced by Baileys' encoder. `exact` is declared by hand and
   * cross-checked: a normalized node is exact iff Baileys re-encodes it to the same bytes.
   * `wire` (optional): hex substring(s) the encoding must contain (documents the form chosen).
   */
  async function enc(name, input, { exact = true, note, wire } = {}) {
    addName(name);
    const hex = encodeJson(input).toString('hex');
    const node = await decodeToJson(Buffer.from(hex, 'hex'));
    for (const w of [wire].flat().filter(Boolean)) {
      assert.ok(hex.includes(w), `${name}: encoding ${hex.slice(0, 200)} does not contain ${w}`);
    }
    const reHex = encodeJson(node).toString('hex');
    assert.equal(reHex === hex, exact, `${name}: declared exact=${exact} but re-encoding the decoded node ${reHex === hex ? 'matches' : 'differs'}`);
    if (!exact) assert.ok(note, `${name}: exact=false needs a note`);
    const v = { name, input, hex, node, exact };
    if (note) v.note = note;
    vectors.push(v);
    return v;
  }

  /** A hand-built frame, checked only by decoding it with Baileys. */
  async function decodeOnly(name, bytes, note, expectNode) {
    addName(name);
    const hex = Buffer.from(bytes).toString('hex');
    const node = await decodeToJson(Buffer.from(hex, 'hex'));
    if (expectNode) assert.deepEqual(node, expectNode, `${name}: unexpected decode`);
    vectors.push({ name, hex, node, decode_only: true, exact: false, note });
  }

  const p = makePrng(0x5eed1234);

  // --- the known vector -----------------------------------------------------
  const ping = n('iq', { id: '1A2B', to: '@s.whatsapp.net', type: 'get', xmlns: 'w:p' }, [n('ping')]);
  const pingV = await enc('stanza/ping', ping);
  assert.equal(pingV.hex, PING_HEX, 'ping vector does not match the known encoding');

  // --- tokens -----------------------------------------------------------------
  const singles = SINGLE.slice(1); // index 0 is '' (never a token on the wire)
  assert.equal(singles.length, 235);
  const chunks = [
    [1, 78],
    [79, 156],
    [157, 235],
  ];
  for (const [lo, hi] of chunks) {
    const pad = (i) => String(i).padStart(3, '0');
    await enc(`token/single/${pad(lo)}-${pad(hi)}`, packTokens(SINGLE.slice(lo, hi + 1)));
  }
  for (let d = 0; d < DOUBLE.length; d++) {
    await enc(`token/double/dict${d}`, packTokens(DOUBLE[d]), { wire: [(236 + d).toString(16)] });
  }
  await enc('token/single/type', n('iq', { type: 'result' }), { wire: '00f803190414' });

  // --- strings ---------------------------------------------------------------
  const sv = (s) => n('item', { value: s });
  await enc('string/empty', sv(''), { wire: 'fc00' });
  await enc('string/binary8/ascii', sv('Hello, World!'), { wire: 'fc0d' });
  await enc('string/binary8/utf8', sv('Grüße aus Köln — 日本語 🌍'), { wire: 'fc' });
  await enc('string/binary8/255-bytes', sv(filler(255, 1)), { wire: 'fcff' });
  await enc('string/binary20/256-bytes', sv(filler(256, 2)), { wire: 'fd000100' });
  await enc('string/binary20/300-bytes', sv(filler(300, 3)), { wire: 'fd00012c' });
  await enc('string/binary20/300-bytes-utf8', sv(`${filler(289, 4)}ünïcödé`), { wire: 'fd00012c' });
  await enc('string/binary20/70000-bytes', sv(filler(70000, 5)), { wire: 'fd011170' });
  await enc('string/binary20/content-300-bytes', n('body', {}, text(filler(300, 6))), { wire: 'fd00012c' });
  await enc('string/packed-nibble/even', sv('1234567890'), { wire: 'ff051234567890' });
  await enc('string/packed-nibble/odd', sv('123456789'), { wire: 'ff85123456789f' });
  await enc('string/packed-nibble/dash-dot', sv('12-34.56-78.9'), { wire: 'ff8712a34b56a78b9f' });
  await enc('string/packed-nibble/127-chars', sv('1234567890-.'.repeat(11).slice(0, 127)), { wire: 'ffc0' });
  await enc('string/packed-nibble/128-chars-raw', sv('1234567890-.'.repeat(11).slice(0, 128)), { wire: 'fc80' });
  await enc('string/packed-hex/even', sv('0123456789ABCDEF'), { wire: 'fb080123456789abcdef' });
  await enc('string/packed-hex/odd', sv('ABCDEF12345'), { wire: 'fb86abcdef12345f' });
  await enc('string/packed-hex/single-char', sv('F'), { wire: 'fb81ff' });
  await enc('string/packed-hex/127-chars', sv('0123456789ABCDEF'.repeat(8).slice(0, 127)), { wire: 'fbc0' });
  await enc('string/packed-hex/128-chars-raw', sv('0123456789ABCDEF'.repeat(8)), { wire: 'fc80' });
  await enc('string/lowercase-hex-raw', sv('deadbeef0123'), { wire: 'fc0c' });
  await enc('string/mixed-case-hex-raw', sv('1A2b'), { wire: 'fc0431413262' });
  await enc('string/nibble-and-hex-letters-raw', sv('12-AB'), { wire: 'fc05' });
  await enc('string/attr-key-raw', n('item', { 'x-custom-key': 'v' }), { wire: 'fc0c' });

  // --- JIDs ------------------------------------------------------------------
  const jv = (j) => n('item', { jid: j });
  await enc('jid/pair/empty-user', jv('@s.whatsapp.net'), { wire: 'fa0003' });
  await enc('jid/pair/pn', jv('123@s.whatsapp.net'), { wire: 'faff8212' });
  await enc('jid/ad/pn-device-7', jv('123:7@s.whatsapp.net'), { wire: 'f70007ff8212' });
  await enc('jid/ad/pn-device-0', jv('123:0@s.whatsapp.net'), {
    exact: false,
    wire: 'f70000ff8212',
    note: 'an explicit ":0" device makes Baileys write AD_JID device 0, which decodes without ":0"',
  });
  await enc('jid/pair/lid', jv('123@lid'), { wire: 'faff8212' });
  await enc('jid/ad/lid-device-5', jv('123:5@lid'), { wire: 'f70105ff8212' });
  await enc('jid/ad/lid-device-0', jv('123:0@lid'), {
    exact: false,
    wire: 'f70100ff8212',
    note: 'an explicit ":0" device makes Baileys write AD_JID device 0, which decodes without ":0"',
  });
  await enc('jid/ad/hosted-device-2', jv('123:2@hosted'), { wire: 'f78002ff8212' });
  await enc('jid/ad/hosted-lid-device-2', jv('123:2@hosted.lid'), { wire: 'f78102ff8212' });
  await enc('jid/pair/hosted-no-device', jv('123@hosted'), { wire: 'faff8212' });
  await enc('jid/pair/group-legacy', jv('123-456@g.us'), { wire: 'faff8412' });
  await enc('jid/pair/group', jv('1234567890@g.us'), { wire: 'faff05' });
  await enc('jid/pair/group-120363', jv('120363025246125888@g.us'), { wire: 'faff09' });
  await enc('jid/pair/status-broadcast', jv('status@broadcast'), { wire: 'fa0b0d' });
  await enc('jid/pair/broadcast', jv('123@broadcast'), { wire: 'faff8212' });
  await enc('jid/pair/newsletter', jv('120363@newsletter'), { wire: 'faff03' });
  await enc('jid/pair/c-us', jv('abc@c.us'), { wire: 'fafc03616263' });
  await enc('jid/pair/non-token-server', jv('x@example.com'), { wire: 'fafc0178fc0b' });
  await enc('jid/ad/empty-user-device-3', jv(':3@s.whatsapp.net'), {
    wire: 'f70003fc00',
    note: 'quirk: empty user with a device is written as AD_JID with an empty raw user',
  });
  await enc('jid/quirk/email-like', n('item', { email: 'john.doe@example.com' }), {
    wire: 'fafc08',
    note: 'quirk: Baileys writes every string containing "@" as a JID (JID_PAIR here), even when it is not one',
  });
  await enc('jid/quirk/double-at', n('item', { value: 'a@b@c' }), {
    wire: 'fafc0161fafc0162',
    note: 'quirk: split at the first "@"; the server "b@c" is itself written as a nested JID_PAIR',
  });
  await enc('jid/quirk/device-on-group', jv('123:7@g.us'), {
    wire: 'f70007',
    note: 'quirk (input != node): any device makes an AD_JID; domain 0 decodes as s.whatsapp.net, so the g.us server is lost',
  });
  await enc('jid/quirk/agent', jv('123_1@s.whatsapp.net'), {
    wire: 'faff8212',
    note: 'quirk (input != node): Baileys drops the "_agent" part of a JID without device (JID_PAIR of the bare user)',
  });
  await enc('jid/quirk/device-over-255', jv('123:300@s.whatsapp.net'), {
    wire: 'f7002c',
    note: 'quirk (input != node): the device is written as one byte (300 & 0xff = 44)',
  });
  await enc('jid/quirk/non-numeric-device', jv('123:x@s.whatsapp.net'), {
    exact: false,
    wire: 'f70000',
    note: 'quirk (input != node): a non-numeric device becomes NaN, written as AD_JID device 0, which decodes without a device',
  });

  // --- content forms -----------------------------------------------------------
  await enc('content/null', n('presence', { type: 'available' }), { wire: '00f80' });
  await enc('content/bytes/0', n('enc', {}, b64(Buffer.alloc(0))), { wire: 'fc00' });
  await enc('content/bytes/1', n('enc', {}, b64(Buffer.from([0xab]))), { wire: 'fc01ab' });
  await enc('content/bytes/255', n('enc', {}, b64(p.bytes(255))), { wire: 'fcff' });
  await enc('content/bytes/256', n('enc', {}, b64(p.bytes(256))), { wire: 'fd000100' });
  await enc('content/bytes/65535', n('enc', {}, b64(p.bytes(65535))), { wire: 'fd00ffff' });
  const kids = (count) => Array.from({ length: count }, (_, i) => n('item', { id: `${i + 10}` }));
  await enc('content/children/0', n('list', {}, []), { wire: '00f802' });
  await enc('content/children/1', n('list', {}, kids(1)), { wire: 'f801f803' });
  await enc('content/children/255', n('list', {}, kids(255)), { wire: 'f8fff803' });
  await enc('content/children/256', n('list', {}, kids(256)), { wire: 'f90100f803' });
  await enc('content/children/300', n('list', {}, kids(300)), { wire: 'f9012cf803' });
  let deep = n('item', { depth: '20' }, b64(Buffer.from('bottom')));
  for (let depth = 19; depth >= 1; depth--) deep = n(depth % 2 ? 'list' : 'item', { depth: `${depth}` }, [deep]);
  await enc('content/nesting/20', deep);
  await enc('content/attrs/list16', n('item', Object.fromEntries(Array.from({ length: 130 }, (_, i) => [`k${i}`, `v${i}`]))), {
    wire: '00f90105',
  });
  const contentNote = 'string content given as {"text"}: Baileys writes a token/packed/JID form that decodes to a string, normalized to its UTF-8 bytes; a typed encoder writes those bytes as BINARY_8';
  await enc('content/text/token', n('body', {}, text('available')), { exact: false, note: contentNote });
  await enc('content/text/nibble', n('body', {}, text('123456789')), { exact: false, wire: 'ff85', note: contentNote });
  await enc('content/text/hex', n('body', {}, text('ABCDEF01')), { exact: false, wire: 'fb04', note: contentNote });
  await enc('content/text/jid', n('body', {}, text('123@s.whatsapp.net')), { exact: false, wire: 'fa', note: contentNote });
  await enc('content/text/raw', n('body', {}, text('hello there')), { wire: 'fc0b' });
  await enc('content/text/empty', n('body', {}, text('')), { wire: 'fc00' });

  // --- realistic stanzas ---------------------------------------------------------
  const msgId = () => `3EB0${p.hexUpper(16)}`;
  await enc(
    'stanza/message-group',
    n('message', { id: msgId(), to: '120363025246125888@g.us', type: 'text' }, [
      n(
        'participants',
        {},
        [`${p.digits(11)}:3`, `${p.digits(12)}`, `${p.digits(11)}:12`].map((u) =>
          n('to', { jid: `${u}@s.whatsapp.net` }, [n('enc', { v: '2', type: 'pkmsg' }, b64(p.bytes(40)))]),
        ),
      ),
      n('enc', { v: '2', type: 'skmsg' }, b64(p.bytes(32))),
      n('device-identity', {}, b64(p.bytes(24))),
    ]),
  );
  await enc(
    'stanza/message-1to1',
    n('message', { id: msgId(), to: `${p.digits(12)}@s.whatsapp.net`, type: 'text' }, [
      n('enc', { v: '2', type: 'msg' }, b64(p.bytes(48))),
    ]),
  );
  await enc(
    'stanza/receipt-list',
    n('receipt', { id: msgId(), from: `${p.digits(12)}:2@s.whatsapp.net`, type: 'read', t: '1700000123' }, [
      n('list', {}, [n('item', { id: msgId() }), n('item', { id: msgId() }), n('item', { id: msgId() })]),
    ]),
  );
  await enc(
    'stanza/iq-pair-device',
    n('iq', { from: '@s.whatsapp.net', type: 'set', id: '1234567890.12345-1', xmlns: 'md' }, [
      n(
        'pair-device',
        {},
        Array.from({ length: 3 }, (_, i) => n('ref', {}, b64(Buffer.from(`2@${filler(40, 10 + i).replace(/ /g, '+')}`)))),
      ),
    ]),
  );
  await enc('stanza/iq-result', n('iq', { from: '@s.whatsapp.net', type: 'result', id: '1234567890.12345-2' }));
  await enc('stanza/stream-error-515', n('stream:error', { code: '515' }));
  await enc(
    'stanza/success',
    n('success', {
      t: '1700000000',
      props: '27',
      abprops: '31',
      location: 'frc',
      lid: '123456789012345@lid',
      creation: '1690000000',
    }),
  );
  await enc(
    'stanza/notification-devices',
    n('notification', { from: '491701234567@s.whatsapp.net', id: '2837465910', t: '1700000456', type: 'devices' }, [
      n('devices', { dhash: '2:AbCdEfGh' }, [
        n('device', { jid: '491701234567@s.whatsapp.net' }),
        n('device', { jid: '491701234567:4@s.whatsapp.net', 'key-index': '3' }),
      ]),
      n('key-index-list', { ts: '1700000400' }, b64(p.bytes(60))),
    ]),
  );

  // --- decode-only frames ----------------------------------------------------------
  const deflated = (json) => {
    const plain = encodeJson(json);
    return Buffer.concat([Buffer.from([2]), deflateSync(plain.subarray(1))]);
  };
  await decodeOnly('compressed/ping', deflated(ping), 'flags 0x02: zlib-compressed body (zlib.deflateSync)', pingV.node);
  const receipt = vectors.find((v) => v.name === 'stanza/receipt-list');
  await decodeOnly('compressed/receipt-list', deflated(receipt.input), 'flags 0x02: zlib-compressed body (zlib.deflateSync)', receipt.node);
  const notif = vectors.find((v) => v.name === 'stanza/notification-devices');
  await decodeOnly('compressed/notification-devices', deflated(notif.input), 'flags 0x02: zlib-compressed body (zlib.deflateSync)', notif.node);

  const attrFrame = (key, valueBytes) => W.frame(W.list(3), W.token('item'), W.raw8(key), valueBytes);
  await decodeOnly(
    'jid/fb/raw-user-token-server',
    attrFrame('jid', [246, ...W.raw8('100'), ...W.u16(3), ...W.token('msgr')]),
    'FB_JID (246): user string, 2-byte BE device, server string; Baileys never encodes it',
    n('item', { jid: '100:3@msgr' }),
  );
  await decodeOnly(
    'jid/fb/device-0',
    attrFrame('jid', [246, ...W.nibble('1000012345'), ...W.u16(0), ...W.raw8('msgr.example')]),
    'FB_JID with device 0: Baileys prints the device even when it is 0',
    n('item', { jid: '1000012345:0@msgr.example' }),
  );
  await decodeOnly(
    'jid/interop',
    attrFrame('jid', [245, ...W.nibble('5551234'), ...W.u16(1), ...W.u16(7), ...W.raw8('interop')]),
    'INTEROP_JID (245): user, 2-byte device, 2-byte integrator, server; printed as integrator-user:device@server',
    n('item', { jid: '7-5551234:1@interop' }),
  );
  await decodeOnly(
    'jid/ad/decode-pn-device-0',
    attrFrame('jid', [247, 0, 0, ...W.nibble('123')]),
    'AD_JID with device 0: Baileys prints no ":0"',
    n('item', { jid: '123@s.whatsapp.net' }),
  );
  await decodeOnly(
    'jid/ad/decode-lid-device-0',
    attrFrame('jid', [247, 1, 0, ...W.nibble('123')]),
    'AD_JID domain 1 (lid) with device 0: Baileys prints no ":0"',
    n('item', { jid: '123@lid' }),
  );
  await decodeOnly(
    'jid/ad/decode-unknown-domain',
    attrFrame('jid', [247, 5, 3, ...W.nibble('123')]),
    'AD_JID with an unknown domain byte (5): Baileys falls back to s.whatsapp.net',
    n('item', { jid: '123:3@s.whatsapp.net' }),
  );
  await decodeOnly(
    'string/binary20-short',
    attrFrame('value', W.raw20('hello')),
    'BINARY_20 used for a short string (Baileys would write BINARY_8)',
    n('item', { value: 'hello' }),
  );
  await decodeOnly(
    'string/binary32-short',
    attrFrame('value', W.raw32('hello')),
    'BINARY_32 used for a short string (Baileys only writes it from 1 MiB on)',
    n('item', { value: 'hello' }),
  );
  await decodeOnly(
    'string/nibble-of-a-token',
    attrFrame('value', W.nibble('100')),
    'packed nibble "100", which Baileys would write as a double-byte token',
    n('item', { value: '100' }),
  );
  await decodeOnly(
    'content/bytes-binary32-short',
    W.frame(W.list(2), W.token('enc'), [254, 0, 0, 0, 3, 1, 2, 3]),
    'content bytes with BINARY_32 for a 3-byte payload',
    n('enc', {}, b64(Buffer.from([1, 2, 3]))),
  );
  await decodeOnly(
    'content/list16-short',
    W.frame(W.list(2), W.token('list'), [249, 0, 2], W.list(1), W.token('item'), W.list(1), W.token('item')),
    'LIST_16 used for a 2-child list (Baileys would write LIST_8)',
    n('list', {}, [n('item'), n('item')]),
  );
  await decodeOnly(
    'content/node-list16-header',
    W.frame([249, 0, 3], W.token('item'), W.raw8('a'), W.raw8('b')),
    'LIST_16 used for a node header of size 3',
    n('item', { a: 'b' }),
  );

  // --- coverage checks -------------------------------------------------------------
  const seenTokens = new Set();
  const walk = (node) => {
    for (const s of [node.tag, ...Object.keys(node.attrs), ...Object.values(node.attrs)]) {
      if (tokenOf(s)) seenTokens.add(s);
    }
    for (const k of Object.keys(node.attrs)) assert.ok(!isIndexLikeKey(k), `index-like attribute key ${k}`);
    if (Array.isArray(node.content)) node.content.forEach(walk);
  };
  // A token string in an encoded node is always written as a token by Baileys.
  for (const v of vectors) if (!v.decode_only) walk(v.node);
  const missingSingle = singles.filter((t) => !seenTokens.has(t));
  const missingDouble = DOUBLE.flat().filter((t) => !seenTokens.has(t));
  assert.deepEqual(missingSingle, [], 'single-byte tokens not covered');
  assert.deepEqual(missingDouble, [], 'double-byte tokens not covered');

  return vectors;
}

function renderVectors(vectors) {
  const source = `baileys@${BAILEYS_VERSION} encodeBinaryNode/decodeBinaryNode, generated by scripts/baileys/codec.mjs vectors`;
  return `{\n"source": ${JSON.stringify(source)},\n"vectors": [\n${vectors.map((v) => JSON.stringify(v)).join(',\n')}\n]\n}\n`;
}

/** Re-read a written vectors file and check every vector against Baileys again. */
async function verifyVectorsFile(file) {
  const data = JSON.parse(readFileSync(file, 'utf8'));
  let exact = 0;
  for (const v of data.vectors) {
    const node = await decodeToJson(Buffer.from(v.hex, 'hex'));
    assert.deepEqual(node, v.node, `${v.name}: decode(hex) does not normalize to node`);
    if (v.decode_only) {
      assert.equal(v.exact, false);
      assert.equal(v.input, undefined);
      continue;
    }
    assert.equal(encodeJson(v.input).toString('hex'), v.hex, `${v.name}: encode(input) != hex`);
    assert.equal(encodeJson(v.node).toString('hex') === v.hex, v.exact, `${v.name}: exact flag`);
    if (v.exact) exact++;
  }
  return { count: data.vectors.length, exact };
}

async function writeVectors() {
  const text1 = renderVectors(await buildVectors());
  const text2 = renderVectors(await buildVectors());
  assert.equal(text1, text2, 'vector generation is not deterministic');
  writeFileSync(VECTORS_FILE, text1);
  const { count, exact } = await verifyVectorsFile(VECTORS_FILE);
  const size = Buffer.byteLength(text1);
  assert.ok(size < 1_048_576, `vectors file too large: ${size} bytes`);
  console.error(`wrote ${VECTORS_FILE}: ${count} vectors (${exact} exact), ${size} bytes`);
}

// ---------------------------------------------------------------------------
// benchmark nodes

export function buildBenchNodes() {
  const p = makePrng(0xbe7c4);
  const smallIq = n('iq', { id: '1A2B', to: '@s.whatsapp.net', type: 'get', xmlns: 'w:p' }, [n('ping')]);

  const participants = [];
  for (let i = 0; i < 50; i++) {
    const phone = p.digits(11 + (i % 2));
    const dev = p.int(4) === 0 ? 0 : 1 + p.int(20);
    const jid = dev === 0 ? `${phone}@s.whatsapp.net` : `${phone}:${dev}@s.whatsapp.net`;
    participants.push(n('to', { jid }, [n('enc', { v: '2', type: 'pkmsg' }, b64(p.bytes(170 + p.int(21))))]));
  }
  const message50 = n('message', { id: `3EB0${p.hexUpper(16)}`, to: `120363${p.digits(12)}@g.us`, type: 'text' }, [
    n('participants', {}, participants),
    n('enc', { v: '2', type: 'skmsg' }, b64(p.bytes(120))),
    n('device-identity', {}, b64(p.bytes(150))),
  ]);

  const binary64k = n('message', { id: `3EB0${p.hexUpper(16)}`, to: `${p.digits(12)}@s.whatsapp.net`, type: 'media' }, [
    n('enc', { v: '2', type: 'msg' }, b64(p.bytes(65536))),
  ]);

  return [
    { name: 'small_iq', node: smallIq },
    { name: 'message_50', node: message50 },
    { name: 'binary_64k', node: binary64k },
  ];
}

async function writeBenchNodes() {
  const nodes = buildBenchNodes();
  for (const { name, node } of nodes) {
    const hex = encodeJson(node).toString('hex');
    if (name === 'small_iq') assert.equal(hex, PING_HEX);
    // Every bench node must survive a Baileys round trip unchanged (no lossy forms).
    assert.deepEqual(await decodeToJson(Buffer.from(hex, 'hex')), node, `${name}: not round-trip exact`);
    console.error(`${name}: ${hex.length / 2} bytes encoded`);
  }
  const body = `{"nodes": [\n${nodes.map((x) => JSON.stringify(x)).join(',\n')}\n]}\n`;
  assert.equal(body, `{"nodes": [\n${buildBenchNodes().map((x) => JSON.stringify(x)).join(',\n')}\n]}\n`);
  writeFileSync(BENCH_FILE, body);
  console.error(`wrote ${BENCH_FILE}: ${Buffer.byteLength(body)} bytes`);
}

// ---------------------------------------------------------------------------

const USAGE = 'usage: node codec.mjs decode|encode|vectors|bench-nodes';

async function main() {
  const mode = process.argv[2];
  switch (mode) {
    case 'decode':
      return eachLine(decodeLine);
    case 'encode':
      return eachLine(encodeLine);
    case 'vectors':
      return writeVectors();
    case 'bench-nodes':
      return writeBenchNodes();
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}

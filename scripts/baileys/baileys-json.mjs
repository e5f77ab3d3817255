// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Shared glue between wabridge's JSON form of a binary node and Baileys'
// in-memory node ({ tag, attrs, content }).
//
// JSON form (project-wide convention, also printed by the Rust CLI):
//   {"tag": "iq", "attrs": {"id": "1A2B"}, "content": null | [<node>, ...] | {"b64": "..."}}
// Input to Baileys' encoder additionally accepts content {"text": "..."}: the
// string is handed to Baileys as a JS string, so Baileys picks a token, packed
// nibble/hex, JID or raw form for it.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// The codec functions are part of Baileys' public API (re-exported from
// lib/WABinary). The token tables are not re-exported from the package root,
// so they come from the WABinary submodule (the package has no "exports" map,
// and the version is pinned exactly in package.json).
import * as baileys from 'baileys';
import * as constants from 'baileys/lib/WABinary/constants.js';
import * as wabinary from 'baileys/lib/WABinary/index.js';

export const { encodeBinaryNode, decodeBinaryNode, decodeDecompressedBinaryNode, jidDecode } = baileys;
export { constants };

if (
  typeof encodeBinaryNode !== 'function' ||
  typeof decodeBinaryNode !== 'function' ||
  typeof decodeDecompressedBinaryNode !== 'function' ||
  encodeBinaryNode !== wabinary.encodeBinaryNode ||
  decodeBinaryNode !== wabinary.decodeBinaryNode
) {
  throw new Error('unexpected baileys exports: codec functions missing or not the WABinary ones');
}

const require = createRequire(import.meta.url);
export const BAILEYS_VERSION = JSON.parse(
  readFileSync(require.resolve('baileys/package.json'), 'utf8'),
).version;

/** True for attribute keys that JS objects enumerate before all others (array indices). */
export function isIndexLikeKey(key) {
  return /^(0|[1-9][0-9]*)$/.test(key) && Number(key) < 2 ** 32 - 1;
}

function fail(path, msg) {
  throw new Error(`${path}: ${msg}`);
}

/** Strict standard base64 (with padding) to bytes. */
export function b64ToBytes(s, path = 'b64') {
  if (typeof s !== 'string') fail(path, 'b64 must be a string');
  const buf = Buffer.from(s, 'base64');
  if (buf.toString('base64') !== s) fail(path, 'not canonical standard base64 with padding');
  return buf;
}

/**
 * JSON node -> Baileys node. Throws on anything outside the JSON form
 * (Baileys itself silently miscodes e.g. non-string attribute values).
 */
export function jsonToBaileys(json, path = 'node') {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(path, 'node must be an object');
  for (const k of Object.keys(json)) {
    if (k !== 'tag' && k !== 'attrs' && k !== 'content') fail(path, `unknown field "${k}"`);
  }
  const { tag, attrs = {}, content = null } = json;
  if (typeof tag !== 'string' || tag === '') fail(path, 'tag must be a non-empty string');
  if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) fail(path, 'attrs must be an object');
  const outAttrs = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v !== 'string') fail(path, `attribute "${k}" must be a string`);
    outAttrs[k] = v;
  }
  let outContent;
  if (content === null) {
    outContent = undefined;
  } else if (Array.isArray(content)) {
    outContent = content.map((child, i) => jsonToBaileys(child, `${path}.content[${i}]`));
  } else if (typeof content === 'object') {
    const keys = Object.keys(content);
    if (keys.length === 1 && keys[0] === 'b64') {
      outContent = b64ToBytes(content.b64, `${path}.content.b64`);
    } else if (keys.length === 1 && keys[0] === 'text') {
      if (typeof content.text !== 'string') fail(path, 'content.text must be a string');
      outContent = content.text;
    } else {
      fail(path, 'content object must be {"b64": ...} or {"text": ...}');
    }
  } else {
    fail(path, 'content must be null, an array, {"b64"} or {"text"}');
  }
  return { tag, attrs: outAttrs, content: outContent };
}

/** Baileys-decoded node -> normalized JSON node. */
export function baileysToJson(node) {
  const attrs = {};
  for (const [k, v] of Object.entries(node.attrs || {})) attrs[k] = String(v);
  const c = node.content;
  let content;
  if (c === undefined || c === null) {
    content = null;
  } else if (Array.isArray(c)) {
    content = c.map(baileysToJson);
  } else if (c instanceof Uint8Array) {
    content = { b64: Buffer.from(c.buffer, c.byteOffset, c.byteLength).toString('base64') };
  } else if (typeof c === 'string') {
    // Token / packed / JID content decodes to a JS string: keep its UTF-8 bytes.
    content = { b64: Buffer.from(c, 'utf8').toString('base64') };
  } else {
    throw new Error(`unexpected decoded content of type ${typeof c}`);
  }
  return { tag: node.tag, attrs, content };
}

/** JSON node -> Baileys encoding (Buffer, with the leading 0x00 flags byte). */
export function encodeJson(json) {
  return encodeBinaryNode(jsonToBaileys(json));
}

/** Frame payload (flags byte + body) -> normalized JSON node. */
export async function decodeToJson(bytes) {
  return baileysToJson(await decodeBinaryNode(Buffer.from(bytes)));
}

export function parseHexLine(line) {
  const hex = line.trim();
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error('input is not an even-length hex string');
  if (hex.length === 0) throw new Error('empty input');
  return Buffer.from(hex, 'hex');
}

/** Small deterministic PRNG (xorshift32), so generated files never change between runs. */
export function makePrng(seed) {
  let s = seed >>> 0 || 0x9e3779b9;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    u32: next,
    int: (n) => next() % n,
    bytes(n) {
      const out = Buffer.alloc(n);
      for (let i = 0; i < n; i++) out[i] = next() >>> 24;
      return out;
    },
    hexUpper(n) {
      let s2 = '';
      for (let i = 0; i < n; i++) s2 += '0123456789ABCDEF'[next() >>> 28];
      return s2;
    },
    digits(n) {
      let s2 = String(1 + (next() % 9));
      for (let i = 1; i < n; i++) s2 += String(next() % 10);
      return s2;
    },
  };
}

#!/usr/bin/env node
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Drives one Baileys client against a simulated server until it shows its
// first pairing QR code, then prints that as a JSON line and exits.
//
//   node pair.mjs <ws-url> <root-public-key-hex>
//
// Output lines: {"event":"qr","qr":"..."} on success, or
// {"event":"close","error":"..."} if the connection ends first.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import makeWASocket, { useMultiFileAuthState, WA_CERT_DETAILS } from 'baileys';
import pino from 'pino';

const [url, rootHex] = process.argv.slice(2);
if (!url || !/^[0-9a-f]{64}$/.test(rootHex ?? '')) {
  console.error('usage: node pair.mjs <ws-url> <root-public-key-hex>');
  process.exit(2);
}
// Trust the simulator's root instead of WhatsApp's production key.
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootHex, 'hex');

const dir = mkdtempSync(join(tmpdir(), 'wabridge-baileys-'));
const { state } = await useMultiFileAuthState(dir);
const sock = makeWASocket({
  waWebSocketUrl: url,
  auth: state,
  logger: pino({ level: process.env.BAILEYS_LOG ?? 'silent' }, pino.destination(2)),
  printQRInTerminal: false,
  markOnlineOnConnect: false,
});

const finish = (line, code) => {
  process.stdout.write(`${JSON.stringify(line)}\n`);
  try {
    sock.end(undefined);
  } catch {
    // already closed
  }
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
};

const timer = setTimeout(() => finish({ event: 'close', error: 'no qr within 20 s' }, 1), 20000);
sock.ev.on('connection.update', (u) => {
  if (u.qr) {
    clearTimeout(timer);
    finish({ event: 'qr', qr: u.qr }, 0);
  } else if (u.connection === 'close') {
    clearTimeout(timer);
    finish({ event: 'close', error: String(u.lastDisconnect?.error?.message ?? 'closed') }, 1);
  }
});

#!/usr/bin/env node
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Drives one Baileys client against a simulated server through linking:
// shows the QR (for a scripted phone to scan), restarts after the server's
// 515 as a real client must, and reports when the connection is open. Then it
// stays connected until the server ends the session or stdin closes,
// taking commands on stdin, one JSON object per line:
//   {"cmd":"send","to":"<jid>","text":"..."}  send a text message
//
//   node link.mjs <ws-url> <root-public-key-hex>
//
// Output, one JSON object per line:
//   {"event":"qr","qr":"..."}                 each QR shown
//   {"event":"restart"}                       after 515, reconnecting
//   {"event":"open","me":{"id":..,"lid":..}}  logged in
//   {"event":"sent","id":"..","to":".."}      a message was handed to the server
//   {"event":"message","chat":..,"id":..,"fromMe":..,"text":..}  a message arrived
//   {"event":"error","error":".."}            a command failed
//   {"event":"close","status":N,"error":".."} connection ended for good

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import makeWASocket, { DisconnectReason, useMultiFileAuthState, WA_CERT_DETAILS } from 'baileys';
import pino from 'pino';

const [url, rootHex] = process.argv.slice(2);
if (!url || !/^[0-9a-f]{64}$/.test(rootHex ?? '')) {
  console.error('usage: node link.mjs <ws-url> <root-public-key-hex>');
  process.exit(2);
}
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootHex, 'hex');

const dir = mkdtempSync(join(tmpdir(), 'wabridge-baileys-'));
const { state, saveCreds } = await useMultiFileAuthState(dir);
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
let sock;

const quit = (code) => {
  try {
    sock?.end(undefined);
  } catch {
    // already closed
  }
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
};

const connect = () => {
  sock = makeWASocket({
    waWebSocketUrl: url,
    auth: state,
    logger: pino({ level: process.env.BAILEYS_LOG ?? 'silent' }, pino.destination(2)),
    printQRInTerminal: false,
    markOnlineOnConnect: false,
    // No phone sends history in these tests: do not wait for it.
    shouldSyncHistoryMessage: () => false,
  });
  sock.ev.on('creds.update', saveCreds);
  sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) {
      const text = m.message?.conversation ?? m.message?.extendedTextMessage?.text;
      if (text === undefined) continue;
      say({ event: 'message', chat: m.key.remoteJid, id: m.key.id, fromMe: !!m.key.fromMe, text });
    }
  });
  sock.ev.on('connection.update', (u) => {
    if (u.qr) say({ event: 'qr', qr: u.qr });
    if (u.connection === 'open') {
      say({ event: 'open', me: { id: sock.user?.id, lid: sock.user?.lid ?? state.creds.me?.lid } });
    }
    if (u.connection === 'close') {
      const status = u.lastDisconnect?.error?.output?.statusCode;
      if (status === DisconnectReason.restartRequired) {
        say({ event: 'restart' });
        connect();
      } else {
        say({ event: 'close', status, error: String(u.lastDisconnect?.error?.message ?? '') });
        quit(0);
      }
    }
  });
};

connect();
const commands = createInterface({ input: process.stdin, crlfDelay: Infinity });
commands.on('line', async (line) => {
  if (line.trim() === '') return;
  try {
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'send') {
      const sent = await sock.sendMessage(cmd.to, { text: cmd.text });
      say({ event: 'sent', id: sent?.key?.id, to: cmd.to });
    } else {
      say({ event: 'error', error: `unknown command ${cmd.cmd}` });
    }
  } catch (err) {
    say({ event: 'error', error: String(err?.message ?? err) });
  }
});
commands.on('close', () => quit(0));

#!/usr/bin/env node
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Drives one Baileys client against a simulated server through linking:
// shows the QR (for a scripted phone to scan), restarts after the server's
// 515 as a real client must, and reports when the connection is open. Then it
// stays connected until the server ends the session or stdin closes,
// taking commands on stdin, one JSON object per line:
//   {"cmd":"send","to":"<jid>","text":"..."}  send a text message (1:1 or group)
//   {"cmd":"group-create","subject":"..","participants":["<jid>",..]}  create a group
//   {"cmd":"timed-send","to":"<jid>","text":"..."}  send a text and time it (benchmarks)
//   media commands: see the "media" block below
//   operations compared with our client: see the "operations" block below
//
//   node link.mjs <ws-url> <root-public-key-hex>
//
// Output, one JSON object per line:
//   {"event":"qr","qr":"..."}                 each QR shown
//   {"event":"restart"}                       after 515, reconnecting
//   {"event":"open","me":{"id":..,"lid":..}}  logged in
//   {"event":"sent","id":"..","to":".."}      a message was handed to the server
//   {"event":"message","chat":..,"participant":..,"id":..,"fromMe":..,"text":..}  a message arrived
//   {"event":"group","id":..,"subject":..,"participants":[..]}  a group was created
//   {"event":"timed","id":..,"to":..,"sendMs":N,"ackMs":N}  a timed send: sendMs from
//       calling sendMessage until it resolved (the stanza was written to the socket:
//       Baileys never waits for the server's ack), ackMs from calling sendMessage
//       until the server's <ack class="message" id> arrived (null if none in 120 s)
//   {"event":"error","error":".."}            a command failed
//   {"event":"close","status":N,"error":".."} connection ended for good
//   media events: see the "media" block below

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import makeWASocket, {
  DisconnectReason,
  generateMessageIDV2,
  useMultiFileAuthState,
  WA_CERT_DETAILS,
} from 'baileys';
import pino from 'pino';
// media block
import { createHash } from 'node:crypto';
import { downloadContentFromMessage, downloadMediaMessage, normalizeMessageContent } from 'baileys';

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

// ---- media (documents) ------------------------------------------------------
// Commands:
//   {"cmd":"send-document","to":"<jid>","data":"<base64>","fileName":"..","mimetype":".."}
//       upload and send a document; answers {"event":"sent",..} like "send"
//   {"cmd":"download","id":"<message id>","viaDefaultHost":false}
//       download and decrypt a received document (Baileys downloadMediaMessage);
//       with viaDefaultHost, from mmg.whatsapp.net + directPath instead of the
//       message's url (downloadContentFromMessage without url)
// Events:
//   {"event":"document","chat":..,"id":..,"fromMe":..,"fileName":..,"mimetype":..,
//    "fileLength":N,"url":..,"directPath":..}          a document arrived
//   {"event":"downloaded","id":..,"length":N,"sha256":"<hex>","data":"<base64>",
//    "fetched":["<url asked>",..]}                     its plaintext
// WA_SIM_MEDIA_HOST=127.0.0.1:PORT stands the simulator's media host in for
// mmg.whatsapp.net: Baileys fetches media with the global fetch, so requests to
// that host are rewritten there (uploads already go to the media_conn host).
// The simulator's CA is trusted through NODE_EXTRA_CA_CERTS.
const DEFAULT_MEDIA_ORIGIN = 'https://mmg.whatsapp.net/';
const mediaFetched = [];
if (process.env.WA_SIM_MEDIA_HOST) {
  const simOrigin = `https://${process.env.WA_SIM_MEDIA_HOST}/`;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const href = typeof input === 'string' ? input : (input?.href ?? input?.url ?? '');
    mediaFetched.push(href);
    if (href.startsWith(DEFAULT_MEDIA_ORIGIN)) {
      return realFetch(simOrigin + href.slice(DEFAULT_MEDIA_ORIGIN.length), init);
    }
    return realFetch(input, init);
  };
}
const receivedMedia = new Map();
const attachMedia = (s) => {
  s.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) {
      const doc = normalizeMessageContent(m.message)?.documentMessage;
      if (!doc) continue;
      receivedMedia.set(m.key.id, m);
      say({
        event: 'document',
        chat: m.key.remoteJid,
        id: m.key.id,
        fromMe: !!m.key.fromMe,
        fileName: doc.fileName,
        mimetype: doc.mimetype,
        fileLength: Number(doc.fileLength ?? 0),
        url: doc.url,
        directPath: doc.directPath,
      });
    }
  });
};
// Answers true if it knew the command.
const mediaCommand = async (cmd) => {
  if (cmd.cmd === 'send-document') {
    const sent = await sock.sendMessage(cmd.to, {
      document: Buffer.from(cmd.data, 'base64'),
      fileName: cmd.fileName,
      mimetype: cmd.mimetype,
    });
    say({ event: 'sent', id: sent?.key?.id, to: cmd.to });
    return true;
  }
  if (cmd.cmd === 'download') {
    const m = receivedMedia.get(cmd.id);
    if (!m) throw new Error(`no document ${cmd.id}`);
    mediaFetched.length = 0;
    let data;
    if (cmd.viaDefaultHost) {
      const doc = normalizeMessageContent(m.message).documentMessage;
      const stream = await downloadContentFromMessage(
        { mediaKey: doc.mediaKey, directPath: doc.directPath },
        'document',
      );
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      data = Buffer.concat(chunks);
    } else {
      data = await downloadMediaMessage(m, 'buffer', {});
    }
    say({
      event: 'downloaded',
      id: cmd.id,
      length: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
      data: data.toString('base64'),
      fetched: [...mediaFetched],
    });
    return true;
  }
  return false;
};
// ---- end of media -----------------------------------------------------------

// ---- operations (crates/wa-client/tests/differential.rs) --------------------
// {"cmd":"op","op":NAME,"to":"<jid>",..} performs one operation the way an app
// on Baileys would, then says {"event":"done","op":NAME,"id":<message id>?}:
//   presence          go available and follow `to`'s presence
//   typing            composing, then paused, in chat `to`
//   text              a text ("text")
//   react|edit|revoke a reaction to, an edit of, a revoke of our message "id"
//   image             an image ("data": base64 JPEG)
//   poll              a single-choice poll with options "values"
//   read              read receipt for the received message "id"
//   mute              mute chat `to` for 8 hours (an app-state patch)
const receivedKeys = new Map();
const attachOps = (s) => {
  s.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) if (!m.key.fromMe) receivedKeys.set(m.key.id, m.key);
  });
};
const opCommand = async (cmd) => {
  if (cmd.cmd !== 'op') return false;
  const own = (id) => ({ remoteJid: cmd.to, fromMe: true, id });
  let sent;
  switch (cmd.op) {
    case 'presence':
      await sock.sendPresenceUpdate('available');
      await sock.presenceSubscribe(cmd.to);
      break;
    case 'typing':
      await sock.sendPresenceUpdate('composing', cmd.to);
      await sock.sendPresenceUpdate('paused', cmd.to);
      break;
    case 'text':
      sent = await sock.sendMessage(cmd.to, { text: cmd.text });
      break;
    case 'react':
      sent = await sock.sendMessage(cmd.to, { react: { text: cmd.text, key: own(cmd.id) } });
      break;
    case 'edit':
      sent = await sock.sendMessage(cmd.to, { text: cmd.text, edit: own(cmd.id) });
      break;
    case 'revoke':
      sent = await sock.sendMessage(cmd.to, { delete: own(cmd.id) });
      break;
    case 'image':
      sent = await sock.sendMessage(cmd.to, {
        image: Buffer.from(cmd.data, 'base64'),
        mimetype: 'image/jpeg',
      });
      break;
    case 'poll':
      sent = await sock.sendMessage(cmd.to, {
        poll: { name: cmd.text, values: cmd.values, selectableCount: 1 },
      });
      break;
    case 'read': {
      const key = receivedKeys.get(cmd.id);
      if (!key) throw new Error(`no received message ${cmd.id}`);
      await sock.readMessages([key]);
      break;
    }
    case 'mute':
      await sock.chatModify({ mute: Date.now() + 8 * 3600 * 1000 }, cmd.to);
      break;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
  say({ event: 'done', op: cmd.op, id: sent?.key?.id });
  return true;
};
// ---- end of operations ------------------------------------------------------

// Sends a text and times it up to sendMessage resolving and up to the
// server's ack of the message.
const timedSend = async (to, text) => {
  const messageId = generateMessageIDV2(sock.user?.id);
  let onAck;
  const acked = new Promise((resolve) => {
    onAck = (node) => {
      if (node.attrs.id === messageId) resolve(performance.now());
    };
    sock.ws.on('CB:ack,class:message', onAck);
  });
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 120_000).unref());
  const start = performance.now();
  try {
    await sock.sendMessage(to, { text }, { messageId });
    const sent = performance.now();
    const ackAt = await Promise.race([acked, timeout]);
    say({
      event: 'timed',
      id: messageId,
      to,
      sendMs: sent - start,
      ackMs: ackAt === null ? null : ackAt - start,
    });
  } finally {
    sock.ws.off('CB:ack,class:message', onAck);
  }
};

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
  attachMedia(sock);
  attachOps(sock);
  sock.ev.on('messages.upsert', ({ messages }) => {
    for (const m of messages) {
      const text = m.message?.conversation ?? m.message?.extendedTextMessage?.text;
      if (text === undefined) continue;
      say({
        event: 'message',
        chat: m.key.remoteJid,
        participant: m.key.participant,
        id: m.key.id,
        fromMe: !!m.key.fromMe,
        text,
      });
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
    } else if (cmd.cmd === 'timed-send') {
      await timedSend(cmd.to, cmd.text);
    } else if (cmd.cmd === 'group-create') {
      // Groups: create one and report its id and members.
      const meta = await sock.groupCreate(cmd.subject, cmd.participants);
      say({
        event: 'group',
        id: meta.id,
        subject: meta.subject,
        participants: meta.participants.map((p) => p.id).sort(),
      });
    } else if (cmd.cmd === 'group-participants') {
      // Add, remove, promote or demote members; report each member's status.
      const result = await sock.groupParticipantsUpdate(cmd.id, cmd.participants, cmd.action);
      say({ event: 'participants', results: result.map((r) => ({ jid: r.jid, status: r.status })) });
    } else if (await mediaCommand(cmd)) {
      // handled in the media block
    } else if (await opCommand(cmd)) {
      // handled in the operations block
    } else {
      say({ event: 'error', error: `unknown command ${cmd.cmd}` });
    }
  } catch (err) {
    say({ event: 'error', error: String(err?.message ?? err) });
  }
});
commands.on('close', () => quit(0));

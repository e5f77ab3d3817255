#!/usr/bin/env node
// SPDX-License-Identifier: AGPL-3.0-or-later
//
// Baileys as an independent peer of our client (crates/wa-client/tests/
// baileys_interop.rs): links as a companion of a simulated account (a
// scripted phone scans the QR), then stays connected, sending what it is told
// and reporting what it receives. Baileys answers every message the way it
// always does (its delivery receipt, or a retry receipt when decryption
// fails); nothing here changes that. One JSON object per line both ways.
//
//   node peer.mjs <ws-url> <root-public-key-hex> [--history]
//
// With --history, Baileys takes the history the phone sends at link time
// (without it, it is told not to wait for any).
//
// Commands (stdin):
//   {"cmd":"send-text","to":"<user jid>","text":".."}        a 1:1 text
//   {"cmd":"send-group-text","group":"<id@g.us>","text":".."} a group text
//   {"cmd":"chat-modify","jid":"<chat jid>","mod":{..}}       Baileys' own
//        chatModify: {"archive":true,"lastMessages":[]}, {"pin":true},
//        {"mute":<until ms>|null}, {"markRead":true,"lastMessages":[]},
//        {"star":{"messages":[{"id":..,"fromMe":..}],"star":true}}
//
//   {"cmd":"group","action":..,"group":"<id@g.us>",..}        Baileys' own group
//        calls (tests/e2e_baileys_groups.rs), answered by
//        {"event":"group-done","action":..,"result":..}:
//        subject (+"subject": groupUpdateSubject), description
//        (+"description": groupUpdateDescription), add|remove|promote|demote
//        (+"participants":[jid..]: groupParticipantsUpdate, result its
//        [{status,jid}]), setting (+"setting": groupSettingUpdate), leave
//        (groupLeave), invite-code (groupInviteCode, result the code),
//        accept-invite (+"code": groupAcceptInvite, result the group),
//        metadata (groupMetadata, result {subject,desc,announce,restrict,
//        participants:[{id,phoneNumber,admin}]});
//        communities (Baileys' communities.js): community-create (+"subject",
//        "description": communityCreate), community-create-group (+"subject",
//        "participants": communityCreateGroup in community "group"), both with
//        result {id,metadata} (the new group's id and Baileys' groupMetadata of
//        it, null if it found none), community-link / community-unlink
//        (+"child": communityLinkGroup / communityUnlinkGroup of group "child"
//        to community "group"), community-linked (communityFetchLinkedGroups,
//        result {communityJid,isCommunity,linkedGroups:[{id,subject,..}]});
//        pictures: picture (+"color": updateProfilePicture of the group with
//        a one-colour JPEG made with jimp), picture-of (profilePictureUrl,
//        result the picture's bytes in base64, null when it has none)
//
// Events (stdout):
//   {"event":"qr","qr":".."}                  each QR shown
//   {"event":"restart"}                       after the server's 515, reconnecting
//   {"event":"open","me":{"id":..,"lid":..}}  logged in
//   {"event":"sent","id":..,"to":..}          a message was handed to the server
//   {"event":"message","id":..,"chat":..,"chatAlt":..,"sender":..,"participant":..,
//    "senderAlt":..,"fromMe":..,"pushName":..,"text":..}
//                                             a text decrypted (sender: the
//                                             participant in groups, else the
//                                             chat; chatAlt: the chat's other
//                                             address, e.g. the phone number of
//                                             a LID-addressed 1:1 chat;
//                                             pushName: the server's notify)
//   {"event":"reaction"|"revoke"|"edit", <as message>, "target":..,"text":..}
//                                             a reaction (text "" removes it),
//                                             revoke or edit of message target;
//                                             messages also carry "replyTo"
//                                             (quoted stanza id) and "mentions"
//   {"event":"undecryptable","id":..,"chat":..,"sender":..,"error":..}
//                                             Baileys could not decrypt a message
//   {"event":"receipt-sent","id":..,"to":..,"participant":..,"type":..}
//                                             Baileys sent a receipt (type null:
//                                             plain delivery)
//   {"event":"group","id":..,"subject":..}    Baileys learned of a group it is in
//   {"event":"history","syncType":..,"progress":..,"chats":[{"id","name",
//    "archived","pinned","muteEndTime","unreadCount"}],"messages":{"<chat>":N},
//    "contacts":N}                            a history chunk Baileys processed
//   {"event":"chats-update","chats":[{"id",..changed fields}]}
//                                             app state (or messages) changed chats
//   {"event":"contacts-update","contacts":[{"id","name","notify"}]}
//   {"event":"chat-modified","jid":..}        a chat-modify patch was accepted
//   {"event":"app-state-key","id":"<base64>","idHex":".."}
//                                             an app-state sync key share arrived
//                                             (the newest key's id)
//   {"event":"app-state-problem","msg":..,"name":..,"version":..}
//                                             Baileys logged that app-state data
//                                             failed its checks (patch MAC, LTHash,
//                                             index MAC) or a collection could not
//                                             be synced
//   media and relation commands and events: see the "media and relations"
//                                             block below; polls: the "polls" block
//   {"event":"error","cmd":..,"error":".."}   a command failed
//   {"event":"close","status":N,"error":".."} the connection ended for good
//
// Baileys verifies app state fully here (appStateMacVerification on: patch
// MACs and LTHash snapshot MACs; value MACs are always checked and a record
// that fails is dropped silently).
//
// WA_SIM_MEDIA_HOST=127.0.0.1:PORT stands the simulator's media host in for
// mmg.whatsapp.net, where Baileys fetches history and app-state blobs by
// their directPath (the simulator's CA comes in through NODE_EXTRA_CA_CERTS).
//
// BAILEYS_LOG=debug (or info, warn, ...) copies Baileys' own log to stderr.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

import makeWASocket, {
  DisconnectReason,
  normalizeMessageContent,
  proto,
  useMultiFileAuthState,
  WA_CERT_DETAILS,
} from 'baileys';
import pino from 'pino';
// media and relations block
import { createHash } from 'node:crypto';
import { decryptPollVote, downloadMediaMessage } from 'baileys';

const [url, rootHex, ...flags] = process.argv.slice(2);
const takeHistory = flags.includes('--history');
if (!url || !/^[0-9a-f]{64}$/.test(rootHex ?? '')) {
  console.error('usage: node peer.mjs <ws-url> <root-public-key-hex> [--history]');
  process.exit(2);
}
WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootHex, 'hex');

const dir = mkdtempSync(join(tmpdir(), 'wabridge-peer-'));
const { state, saveCreds } = await useMultiFileAuthState(dir);
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const DEFAULT_MEDIA_ORIGIN = 'https://mmg.whatsapp.net/';
if (process.env.WA_SIM_MEDIA_HOST) {
  const simOrigin = `https://${process.env.WA_SIM_MEDIA_HOST}/`;
  const realFetch = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const href = typeof input === 'string' ? input : (input?.href ?? input?.url ?? '');
    if (href.startsWith(DEFAULT_MEDIA_ORIGIN)) {
      return realFetch(simOrigin + href.slice(DEFAULT_MEDIA_ORIGIN.length), init);
    }
    return realFetch(input, init);
  };
}

// Log lines (rc14 lib/Utils/chat-utils.js, lib/Socket/chats.js) that say app
// state did not verify or could not be synced.
const APP_STATE_PROBLEMS = [
  /^failed to decode patch/,
  /LTHash verification failed/,
  /^failed to sync /,
  /blocked on missing key/,
  /HMAC/,
];

// Baileys logs each receipt it sends ("sending receipt for messages", with
// the node's attrs) at debug level: that log line is how we see its receipts
// without touching its code. The rest of the log goes to stderr on request.
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const copyAbove = LEVELS[process.env.BAILEYS_LOG] ?? Infinity;
const logSink = new Writable({
  write(chunk, _enc, done) {
    for (const line of chunk.toString().split('\n')) {
      if (line === '') continue;
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        continue;
      }
      if (entry.msg === 'sending receipt for messages' && entry.attrs) {
        say({
          event: 'receipt-sent',
          id: entry.attrs.id,
          to: entry.attrs.to,
          participant: entry.attrs.participant ?? null,
          type: entry.attrs.type ?? null,
        });
      }
      const text = `${entry.msg ?? ''} ${entry.err?.message ?? entry.error ?? ''}`;
      if (typeof entry.msg === 'string' && APP_STATE_PROBLEMS.some((re) => re.test(text))) {
        say({
          event: 'app-state-problem',
          msg: entry.msg,
          name: entry.name ?? null,
          version: entry.version ?? null,
        });
      }
      if (entry.level >= copyAbove) process.stderr.write(`${line}\n`);
    }
    done();
  },
});
const logger = pino({ level: 'debug' }, logSink);

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

const onMessages = ({ messages }) => {
  for (const m of messages) {
    const key = m.key;
    // Baileys leaves participant empty (not unset) in 1:1 chats.
    const sender = key.participant || key.remoteJid;
    if (m.messageStubType === proto.WebMessageInfo.StubType.CIPHERTEXT) {
      say({
        event: 'undecryptable',
        id: key.id,
        chat: key.remoteJid,
        sender,
        error: String(m.messageStubParameters?.[0] ?? ''),
      });
      continue;
    }
    const content = normalizeMessageContent(m.message);
    const base = {
      id: key.id,
      chat: key.remoteJid,
      chatAlt: key.remoteJidAlt || null,
      sender,
      participant: key.participant || null,
      senderAlt: key.participantAlt || key.remoteJidAlt || null,
      fromMe: !!key.fromMe,
      pushName: m.pushName ?? null,
    };
    const reaction = content?.reactionMessage;
    if (reaction) {
      say({ event: 'reaction', ...base, target: reaction.key?.id ?? null, text: reaction.text ?? '' });
      continue;
    }
    const protocol = content?.protocolMessage;
    const P = proto.Message.ProtocolMessage.Type;
    if (protocol?.type === P.REVOKE) {
      say({ event: 'revoke', ...base, target: protocol.key?.id ?? null });
      continue;
    }
    if (protocol?.type === P.MESSAGE_EDIT) {
      const e = protocol.editedMessage;
      const text = e?.conversation ?? e?.extendedTextMessage?.text ?? null;
      say({ event: 'edit', ...base, target: protocol.key?.id ?? null, text });
      continue;
    }
    const text = content?.conversation ?? content?.extendedTextMessage?.text;
    if (text === undefined || text === null) continue;
    const context = content?.extendedTextMessage?.contextInfo;
    say({
      event: 'message',
      ...base,
      text,
      replyTo: context?.stanzaId ?? null,
      mentions: context?.mentionedJid ?? [],
    });
  }
};

// ---- media and relations (tests/e2e_baileys.rs) ---------------------------
// Commands (each answers {"event":"sent","id":..,"to":..} like send-text;
// "to" is a user or group JID; a "key" names a message of that chat:
// {"id":..,"fromMe":bool,"participant":"<jid>"?} (participant: its sender,
// in groups)):
//   {"cmd":"send-media","to":..,"kind":"image"|"ptt"|"audio"|"document"|
//    "sticker"|"video","data":"<base64>","mimetype":..,"fileName":..,
//    "caption":..,"seconds":N,"width":N,"height":N}
//        uploads and sends an attachment through Baileys' sendMessage (ptt: an
//        audio message with ptt set); absent fields are left to Baileys
//   {"cmd":"send-reply","to":..,"text":..,"quoted":{<key>,"text":..}}
//        a text quoting that message (Baileys builds the contextInfo)
//   {"cmd":"send-reaction","to":..,"key":{..},"text":".."}  "" removes it
//   {"cmd":"send-edit","to":..,"key":{..},"text":".."}      edits own message
//   {"cmd":"send-revoke","to":..,"key":{..}}                deletes for everyone
//   {"cmd":"send-event","to":..,"name":..,"startTime":<unix s>}  an event
//   {"cmd":"send-album","to":..,"images":N}                 an album's head
//   {"cmd":"send-pin","to":..,"key":{..}}                   pins a message (1 day)
//   {"cmd":"send-disappearing","to":..,"text":..}           a text in a
//        disappearing chat (Baileys sets contextInfo.expiration, no wrapper)
// Events:
//   {"event":"media", <as message>, "kind":"image"|"audio"|"document"|
//    "sticker"|"video","mimetype":..,"fileName":..,"caption":..,"ptt":bool,
//    "seconds":N,"width":N,"height":N,"replyTo":..,"length":N,
//    "sha256":"<hex>"}                   an attachment from someone else arrived
//                                        and was downloaded with Baileys'
//                                        downloadMediaMessage (length and
//                                        sha256 of the plaintext it returned)
//   {"event":"media-error", <as message>, "kind":..,"error":..}
//                                        that download failed
const MEDIA_KINDS = ['image', 'audio', 'document', 'sticker', 'video'];

const keyFor = (chat, key) => {
  if (typeof key?.id !== 'string') throw new Error('a message key needs "id"');
  return {
    remoteJid: chat,
    id: key.id,
    fromMe: !!key.fromMe,
    ...(key.participant ? { participant: key.participant } : {}),
  };
};

const onMediaMessages = ({ messages }) => {
  for (const m of messages) {
    if (m.key.fromMe) continue;
    const content = normalizeMessageContent(m.message);
    const kind = MEDIA_KINDS.find((k) => content?.[`${k}Message`]);
    if (!kind) continue;
    const media = content[`${kind}Message`];
    const base = {
      id: m.key.id,
      chat: m.key.remoteJid,
      chatAlt: m.key.remoteJidAlt || null,
      sender: m.key.participant || m.key.remoteJid,
      participant: m.key.participant || null,
      fromMe: false,
      kind,
    };
    downloadMediaMessage(m, 'buffer', {})
      .then((data) => {
        say({
          event: 'media',
          ...base,
          mimetype: media.mimetype ?? null,
          fileName: media.fileName ?? null,
          caption: media.caption ?? null,
          ptt: !!media.ptt,
          seconds: media.seconds ?? null,
          width: media.width ?? null,
          height: media.height ?? null,
          replyTo: media.contextInfo?.stanzaId ?? null,
          length: data.length,
          sha256: createHash('sha256').update(data).digest('hex'),
        });
      })
      .catch((err) => say({ event: 'media-error', ...base, error: String(err?.message ?? err) }));
  }
};

// Answers the sent message, or undefined if it does not know the command.
const mediaCommand = async (cmd) => {
  const to = cmd.to;
  const needs = (ok, what) => {
    if (!ok) throw new Error(`${cmd.cmd} needs ${what}`);
  };
  switch (cmd.cmd) {
    case 'send-media': {
      needs(typeof to === 'string' && typeof cmd.data === 'string', '"to" and "data"');
      const kind = cmd.kind === 'ptt' ? 'audio' : cmd.kind;
      needs(MEDIA_KINDS.includes(kind), `"kind" one of ptt, ${MEDIA_KINDS.join(', ')}`);
      const content = { [kind]: Buffer.from(cmd.data, 'base64') };
      if (cmd.kind === 'ptt') content.ptt = true;
      for (const field of ['mimetype', 'fileName', 'caption', 'seconds', 'width', 'height']) {
        if (cmd[field] !== undefined && cmd[field] !== null) content[field] = cmd[field];
      }
      return sock.sendMessage(to, content);
    }
    case 'send-reply': {
      needs(typeof to === 'string' && typeof cmd.text === 'string', '"to" and "text"');
      const quoted = {
        key: keyFor(to, cmd.quoted),
        message: { conversation: cmd.quoted.text ?? '' },
      };
      return sock.sendMessage(to, { text: cmd.text }, { quoted });
    }
    case 'send-reaction':
      needs(typeof to === 'string' && typeof cmd.text === 'string', '"to" and "text"');
      return sock.sendMessage(to, { react: { text: cmd.text, key: keyFor(to, cmd.key) } });
    case 'send-edit':
      needs(typeof to === 'string' && typeof cmd.text === 'string', '"to" and "text"');
      return sock.sendMessage(to, { text: cmd.text, edit: keyFor(to, cmd.key) });
    case 'send-revoke':
      needs(typeof to === 'string', '"to"');
      return sock.sendMessage(to, { delete: keyFor(to, cmd.key) });
    // Today's message forms as Baileys sends them (tests/e2e_baileys.rs).
    case 'send-event':
      needs(typeof to === 'string' && typeof cmd.name === 'string', '"to" and "name"');
      return sock.sendMessage(to, {
        event: { name: cmd.name, startDate: new Date(Number(cmd.startTime) * 1000) },
      });
    case 'send-album':
      needs(typeof to === 'string', '"to"');
      return sock.sendMessage(to, { album: { expectedImageCount: Number(cmd.images ?? 0) } });
    case 'send-pin':
      needs(typeof to === 'string', '"to"');
      return sock.sendMessage(to, { pin: keyFor(to, cmd.key), type: 1, time: 86400 });
    case 'send-disappearing':
      needs(typeof to === 'string' && typeof cmd.text === 'string', '"to" and "text"');
      return sock.sendMessage(to, { text: cmd.text }, { ephemeralExpiration: 86400 });
    default:
      return undefined;
  }
};
// ---- end of media and relations ---------------------------------------------

// ---- polls (tests/e2e_baileys.rs) ------------------------------------------
// Command:
//   {"cmd":"send-poll","to":..,"name":..,"values":[..],"selectableCount":N}
//        a poll through Baileys' sendMessage (answers "sent")
// Events:
//   {"event":"poll", <as message>, "name":..,"options":[..],"selectable":N,
//    "version":"v1"|"v2"|"v3","secretLength":N}
//                                        a poll from someone else arrived
//   {"event":"poll-vote", <as message>, "target":..,"options":[..]}
//                                        a vote on such a poll, opened with
//                                        Baileys' decryptPollVote (the key from
//                                        the poll's messageSecret, the poll's
//                                        sender and the voter as Baileys keys
//                                        them); options are the names whose
//                                        SHA-256 it chose
//   {"event":"poll-vote-error", <as message>, "target":..,"error":..}
const POLL_FIELDS = [
  ['pollCreationMessage', 'v1'],
  ['pollCreationMessageV2', 'v2'],
  ['pollCreationMessageV3', 'v3'],
];
const polls = new Map();

const onPollMessages = ({ messages }) => {
  for (const m of messages) {
    if (m.key.fromMe) continue;
    const content = normalizeMessageContent(m.message);
    const sender = m.key.participant || m.key.remoteJid;
    const base = {
      id: m.key.id,
      chat: m.key.remoteJid,
      chatAlt: m.key.remoteJidAlt || null,
      sender,
      participant: m.key.participant || null,
      fromMe: false,
    };
    const found = POLL_FIELDS.find(([field]) => content?.[field]);
    if (found) {
      const [field, version] = found;
      const poll = content[field];
      const secret = m.message?.messageContextInfo?.messageSecret ?? null;
      const options = (poll.options ?? []).map((o) => o.optionName);
      polls.set(m.key.id, { creator: sender, secret, options });
      say({
        event: 'poll',
        ...base,
        name: poll.name ?? null,
        options,
        selectable: poll.selectableOptionsCount ?? 0,
        version,
        secretLength: secret ? secret.length : 0,
      });
      continue;
    }
    const update = content?.pollUpdateMessage;
    if (!update) continue;
    const target = update.pollCreationMessageKey?.id ?? null;
    const poll = polls.get(target);
    try {
      if (!poll?.secret) throw new Error('a vote on a poll this peer has not seen');
      const vote = decryptPollVote(update.vote, {
        pollCreatorJid: poll.creator,
        pollMsgId: target,
        pollEncKey: poll.secret,
        voterJid: sender,
      });
      const hashOf = (name) => createHash('sha256').update(Buffer.from(name)).digest('hex');
      const chosen = (vote.selectedOptions ?? []).map((h) => {
        const hex = Buffer.from(h).toString('hex');
        return poll.options.find((o) => hashOf(o) === hex) ?? `unknown:${hex}`;
      });
      say({ event: 'poll-vote', ...base, target, options: chosen });
    } catch (err) {
      say({ event: 'poll-vote-error', ...base, target, error: String(err?.message ?? err) });
    }
  }
};

const pollCommand = async (cmd) => {
  if (cmd.cmd !== 'send-poll') return undefined;
  if (typeof cmd.to !== 'string' || typeof cmd.name !== 'string' || !Array.isArray(cmd.values)) {
    throw new Error('send-poll needs "to", "name" and "values"');
  }
  return sock.sendMessage(cmd.to, {
    poll: { name: cmd.name, values: cmd.values, selectableCount: cmd.selectableCount ?? 0 },
  });
};
// ---- end of polls -----------------------------------------------------------

const connect = () => {
  sock = makeWASocket({
    waWebSocketUrl: url,
    auth: state,
    logger,
    printQRInTerminal: false,
    // Without --history no phone sends any: do not wait for it.
    shouldSyncHistoryMessage: () => takeHistory,
    appStateMacVerification: { patch: true, snapshot: true },
  });
  sock.ev.on('creds.update', saveCreds);
  sock.ev.on('creds.update', ({ myAppStateKeyId }) => {
    if (myAppStateKeyId) {
      say({
        event: 'app-state-key',
        id: myAppStateKeyId,
        idHex: Buffer.from(myAppStateKeyId, 'base64').toString('hex'),
      });
    }
  });
  sock.ev.on('messages.upsert', onMessages);
  sock.ev.on('messages.upsert', onMediaMessages);
  sock.ev.on('messages.upsert', onPollMessages);
  sock.ev.on('messaging-history.set', ({ chats, contacts, messages, syncType, progress }) => {
    const counts = {};
    for (const m of messages ?? []) {
      const chat = m.key?.remoteJid;
      if (chat) counts[chat] = (counts[chat] ?? 0) + 1;
    }
    say({
      event: 'history',
      syncType: syncType ?? null,
      progress: progress ?? null,
      chats: (chats ?? []).map((c) => ({
        id: c.id,
        name: c.name ?? null,
        archived: c.archived ?? null,
        pinned: c.pinned ?? null,
        // A Long in history (seconds): as a plain number.
        muteEndTime: c.muteEndTime == null ? null : Number(c.muteEndTime),
        unreadCount: c.unreadCount ?? null,
      })),
      messages: counts,
      contacts: (contacts ?? []).length,
    });
  });
  sock.ev.on('chats.update', (chats) => {
    // `conditional` is a function: not data.
    say({ event: 'chats-update', chats: chats.map(({ conditional, ...c }) => c) });
  });
  const onContacts = (contacts) => {
    say({
      event: 'contacts-update',
      contacts: contacts.map((c) => ({ id: c.id, name: c.name ?? null, notify: c.notify ?? null })),
    });
  };
  sock.ev.on('contacts.update', onContacts);
  sock.ev.on('contacts.upsert', onContacts);
  sock.ev.on('groups.upsert', (groups) => {
    for (const g of groups) say({ event: 'group', id: g.id, subject: g.subject });
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

// Baileys' group calls, by action; answers what the call returned.
const groupCommand = async (cmd) => {
  const g = cmd.group;
  switch (cmd.action) {
    case 'subject':
      return sock.groupUpdateSubject(g, cmd.subject);
    case 'description':
      return sock.groupUpdateDescription(g, cmd.description ?? undefined);
    case 'add':
    case 'remove':
    case 'promote':
    case 'demote':
      return sock.groupParticipantsUpdate(g, cmd.participants, cmd.action);
    case 'setting':
      return sock.groupSettingUpdate(g, cmd.setting);
    case 'leave':
      return sock.groupLeave(g);
    case 'invite-code':
      return sock.groupInviteCode(g);
    case 'accept-invite':
      return sock.groupAcceptInvite(cmd.code);
    case 'metadata': {
      const m = await sock.groupMetadata(g);
      return {
        subject: m.subject,
        desc: m.desc ?? null,
        announce: !!m.announce,
        restrict: !!m.restrict,
        participants: m.participants.map((p) => ({
          id: p.id,
          phoneNumber: p.phoneNumber ?? null,
          admin: p.admin ?? null,
        })),
      };
    }
    case 'community-create':
    case 'community-create-group': {
      // Both answer with parseGroupResult: groupMetadata of the new group.
      const m =
        cmd.action === 'community-create'
          ? await sock.communityCreate(cmd.subject, cmd.description ?? '')
          : await sock.communityCreateGroup(cmd.subject, cmd.participants ?? [], g);
      return { id: m?.id ?? null, metadata: m ?? null };
    }
    case 'community-link':
      return sock.communityLinkGroup(cmd.child, g);
    case 'community-unlink':
      return sock.communityUnlinkGroup(cmd.child, g);
    case 'community-linked':
      return sock.communityFetchLinkedGroups(g);
    case 'picture': {
      // A real JPEG (Baileys re-encodes it with jimp): one colour, 64x64.
      const { Jimp } = await import('jimp');
      const image = new Jimp({ width: 64, height: 64, color: cmd.color ?? 0x336699ff });
      const jpeg = await image.getBuffer('image/jpeg');
      await sock.updateProfilePicture(g, jpeg);
      return null;
    }
    case 'picture-of': {
      // The group's picture as Baileys sees it: its URL, then its bytes.
      const url = await sock.profilePictureUrl(g, 'image').catch(() => null);
      if (!url) {
        return null;
      }
      const res = await fetch(url);
      return Buffer.from(await res.arrayBuffer()).toString('base64');
    }
    default:
      throw new Error(`unknown group action ${cmd.action}`);
  }
};

const run = async (cmd) => {
  if (cmd.cmd === 'send-text' || cmd.cmd === 'send-group-text') {
    const to = cmd.cmd === 'send-text' ? cmd.to : cmd.group;
    if (typeof to !== 'string' || typeof cmd.text !== 'string') {
      throw new Error(`${cmd.cmd} needs ${cmd.cmd === 'send-text' ? '"to"' : '"group"'} and "text"`);
    }
    if ((cmd.cmd === 'send-group-text') !== to.endsWith('@g.us')) {
      throw new Error(`${cmd.cmd}: not a ${cmd.cmd === 'send-text' ? 'user' : 'group'} JID: ${to}`);
    }
    const sent = await sock.sendMessage(to, { text: cmd.text });
    say({ event: 'sent', id: sent?.key?.id, to });
  } else if (cmd.cmd === 'group') {
    const result = await groupCommand(cmd);
    say({ event: 'group-done', action: cmd.action, result: result ?? null });
  } else if (cmd.cmd === 'chat-modify') {
    if (typeof cmd.jid !== 'string' || typeof cmd.mod !== 'object' || cmd.mod === null) {
      throw new Error('chat-modify needs "jid" and "mod"');
    }
    await sock.chatModify(cmd.mod, cmd.jid);
    say({ event: 'chat-modified', jid: cmd.jid });
  } else {
    const sent = (await mediaCommand(cmd)) ?? (await pollCommand(cmd));
    if (sent === undefined) throw new Error(`unknown command ${cmd.cmd}`);
    say({ event: 'sent', id: sent?.key?.id, to: cmd.to });
  }
};

connect();
const commands = createInterface({ input: process.stdin, crlfDelay: Infinity });
commands.on('line', async (line) => {
  if (line.trim() === '') return;
  let cmd;
  try {
    cmd = JSON.parse(line);
    await run(cmd);
  } catch (err) {
    say({ event: 'error', cmd: cmd?.cmd ?? null, error: String(err?.message ?? err) });
  }
});
commands.on('close', () => quit(0));

#!/usr/bin/env node
// JsSIP (under Node) as a UE driven line by line on stdin (conformance/uecert/drivers/jssip.py).
//
//   node control.js AOR URL CA_FILE INSTANCE EXPIRES [MAX_SECONDS]
//
//   AOR, URL, CA_FILE ("-": system CAs), INSTANCE (urn:uuid:...), EXPIRES: as register.js;
//   MAX_SECONDS bounds the whole run (default 3600, exit 3).
//   Environment: SIP_PASSWORD and SIP_AUTH_USER answer a digest challenge.
//
// It connects and registers at once (as booted), then reads commands, one a line:
//   register            re-register (JsSIP's Registrator: same Call-ID, reg-id 1)
//   unregister          REGISTER with Expires 0 for its Contact
//   unregister-all      REGISTER with Contact: * (JsSIP's unregister({all: true}))
//   message URI [TEXT]  a MESSAGE to URI
//   quit                de-register (when registered), close, exit 0
// and prints one JSON line per event: {"event": "ready"} once the commands are read,
// {"event": "registered"|"unregistered"|"registrationFailed", "status": N},
// {"event": "message", "ok": bool, "status": N}, {"event": "ack", "command": ...} per command,
// {"event": "error", "error": ...}, {"event": "stopped", "code": N} last.
'use strict';

const fs = require('fs');
const readline = require('readline');
const WS = require('ws');
const JsSIP = require('jssip');

const [aor, url, caFile, instance, expiresArg, maxArg] = process.argv.slice(2);
if (!aor || !url || !caFile || !instance || !expiresArg) {
  process.stderr.write('usage: control.js AOR URL CA_FILE INSTANCE EXPIRES [MAX_SECONDS]\n');
  process.exit(64);
}
const ca = caFile === '-' ? undefined : fs.readFileSync(caFile);
const maxMs = Math.max(1, Number(maxArg || 3600)) * 1000;

function print(obj) { process.stdout.write(`${JSON.stringify(obj)}\n`); }

let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  print({ event: 'stopped', code });
  setTimeout(() => process.exit(code), 50).unref();
}
setTimeout(() => finish(3), maxMs).unref();

// Node 20 has no global WebSocket: `ws` stands in, with the test CA
class CaWebSocket extends WS {
  constructor(address, protocols) { super(address, protocols, { ca, handshakeTimeout: 5000 }); }
}
globalThis.WebSocket = CaWebSocket;

const config = {
  sockets: [new JsSIP.WebSocketInterface(url)],
  uri: aor,
  instance_id: instance.replace(/^urn:/i, ''),
  register_expires: Number(expiresArg),
  register: true,
  connection_recovery_min_interval: 2,
  connection_recovery_max_interval: 30,
  user_agent: 'JsSIP (outbound-conformance UE driver)',
};
if (process.env.SIP_PASSWORD) config.password = process.env.SIP_PASSWORD;
if (process.env.SIP_AUTH_USER) config.authorization_user = process.env.SIP_AUTH_USER;
const ua = new JsSIP.UA(config);

ua.on('registered', ({ response }) => print({ event: 'registered', status: response.status_code }));
ua.on('unregistered', ({ response }) => print({ event: 'unregistered', status: response ? response.status_code : null }));
ua.on('registrationFailed', ({ response, cause }) => print({ event: 'registrationFailed', cause, status: response ? response.status_code : null }));
ua.on('disconnected', ({ code, reason }) => print({ event: 'disconnected', code: code || null, reason: reason || null }));
ua.on('newMessage', () => {});   // a MESSAGE reaching it is answered 200 (405 when nobody listens)

function quit() {
  const bound = setTimeout(() => finish(0), 5000);
  bound.unref();
  if (ua.isRegistered()) {
    ua.on('unregistered', () => { try { ua.stop(); } catch (e) { /* closing anyway */ } setTimeout(() => finish(0), 200); });
    ua.unregister();
  } else {
    try { ua.stop(); } catch (e) { /* closing anyway */ }
    finish(0);
  }
}

function run(line) {
  const [cmd, ...rest] = line.trim().split(/\s+/);
  if (!cmd) return;
  try {
    if (cmd === 'register') ua.register();
    else if (cmd === 'unregister') ua.unregister();
    else if (cmd === 'unregister-all') ua.unregister({ all: true });
    else if (cmd === 'message') {
      const [target, ...words] = rest;
      ua.sendMessage(target, words.join(' ') || 'hello', {
        eventHandlers: {
          succeeded: ({ response }) => print({ event: 'message', ok: true, status: response.status_code }),
          failed: ({ response, cause }) => print({ event: 'message', ok: false, cause, status: response ? response.status_code : null }),
        },
      });
    } else if (cmd === 'quit') { print({ event: 'ack', command: cmd }); quit(); return; }
    else { print({ event: 'error', error: `unknown command ${cmd}` }); return; }
    print({ event: 'ack', command: cmd });
  } catch (err) {
    print({ event: 'error', command: cmd, error: String(err) });
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', run);
rl.on('close', () => { if (!finished) quit(); });
ua.start();
print({ event: 'ready' });

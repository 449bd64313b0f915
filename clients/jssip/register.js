#!/usr/bin/env node
// A real WebSocket SIP client (JsSIP) registers once, with SIP Outbound, over ws:// or wss://.
//
//   node register.js AOR URL CA_FILE INSTANCE EXPIRES [HOLD_SECONDS]
//
//   AOR       sip:alice@ims.test
//   URL       ws://127.0.0.1:8080/ or wss://127.0.0.1:8443/ (the upgrade's resource is its path)
//   CA_FILE   PEM file of the CA that signed the server's certificate ("-": system CAs)
//   INSTANCE  urn:uuid:... (JsSIP puts it in +sip.instance with reg-id=1)
//   EXPIRES   the Expires it asks for
//   HOLD      after the outcome, how long (seconds, default 0) it keeps the flow open (answering
//             the server's keep-alives, and a MESSAGE with 200) before it de-registers and closes;
//             a line on stdin or stdin's end cuts the hold short.
//
// It prints one JSON line when the registration succeeded or failed ({"event": "registered" |
// "failed", ...} with the REGISTER it sent and the response's status and headers), and one more
// when it stopped ({"event": "stopped", "messages": [...every SIP message and keep-alive sent and
// received, in order]}). Every wait is bounded: the whole run by TIMEOUT below (exit 3), the
// registration by 15 s (exit 2), the closing de-REGISTER by 5 s. Exit 0 when it registered.
//
// For the TLS session keys, start it as `node --tls-keylog=FILE register.js ...`.
'use strict';

const fs = require('fs');
const WS = require('ws');
const JsSIP = require('jssip');

const REGISTER_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 5000;

const [aor, url, caFile, instance, expiresArg, holdArg] = process.argv.slice(2);
if (!aor || !url || !caFile || !instance || !expiresArg) {
  process.stderr.write('usage: register.js AOR URL CA_FILE INSTANCE EXPIRES [HOLD_SECONDS]\n');
  process.exit(64);
}
const expires = Number(expiresArg);
const holdMs = Math.max(0, Number(holdArg || 0)) * 1000;
const TIMEOUT_MS = REGISTER_TIMEOUT_MS + holdMs + STOP_TIMEOUT_MS + 5000;
const ca = caFile === '-' ? undefined : fs.readFileSync(caFile);

const transcript = [];   // {dir: "out"|"in", kind: "sip"|"crlf-ping"|"crlf-pong"|"ws-ping"|"ws-pong", text}

function note(dir, data) {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  let kind = 'sip';
  if (text === '\r\n\r\n') kind = 'crlf-ping';
  else if (text === '\r\n') kind = 'crlf-pong';
  transcript.push({ dir, kind, text });
}

// WS_AUTH=user:password in the environment: the credentials for a WebSocket upgrade answered 401
// (RFC 7118 §7: "A SIP WebSocket Client MUST be ready to be challenged with an HTTP 401 status
// code"): the next connection (JsSIP reconnects after 1 s) carries them as Basic credentials.
const wsAuth = process.env.WS_AUTH || null;
let challenges = 0;

// JsSIP's WebSocketInterface does `new WebSocket(url, 'sip')` on the global; Node 20 has none
// (without --experimental-websocket), so the `ws` package stands in, with the test CA and a
// record of every message that crosses it.
class RecordingWebSocket extends WS {
  constructor(address, protocols) {
    const options = { ca, handshakeTimeout: 5000 };
    if (wsAuth && challenges > 0) {
      options.headers = { Authorization: `Basic ${Buffer.from(wsAuth).toString('base64')}` };
    }
    super(address, protocols, options);
    this.on('ping', (payload) => transcript.push({ dir: 'in', kind: 'ws-ping', text: payload.toString('hex') }));
    this.on('pong', (payload) => transcript.push({ dir: 'in', kind: 'ws-pong', text: payload.toString('hex') }));
    this.on('message', (data) => note('in', data));
    this.on('unexpected-response', (req, res) => {
      const challenge = res.headers['www-authenticate'] || '';
      transcript.push({ dir: 'in', kind: 'http', text: `HTTP ${res.statusCode} ${res.statusMessage} ${challenge}`.trim() });
      if (res.statusCode === 401) challenges += 1;
      this.terminate();                     // the handshake failed: error and close events
    });
  }

  send(data, ...rest) {
    note('out', data);
    return super.send(data, ...rest);
  }
}
globalThis.WebSocket = RecordingWebSocket;

function headerLines(text, names) {
  const head = text.split('\r\n\r\n', 1)[0].split('\r\n');
  const wanted = names.map((n) => n.toLowerCase());
  const out = {};
  for (const line of head.slice(1)) {
    const idx = line.indexOf(':');
    if (idx < 0) continue;
    const name = line.slice(0, idx).trim();
    if (!wanted.includes(name.toLowerCase())) continue;
    (out[name] = out[name] || []).push(line.slice(idx + 1).trim());
  }
  return out;
}

const REQUEST_HEADERS = ['Via', 'Contact', 'Supported', 'Require', 'Expires', 'User-Agent', 'Route'];
const RESPONSE_HEADERS = ['Via', 'Contact', 'Require', 'Supported', 'Flow-Timer', 'Expires', 'Path'];

function firstRegister() {
  const msg = transcript.find((m) => m.dir === 'out' && m.text.startsWith('REGISTER '));
  if (!msg) return null;
  return { request_line: msg.text.split('\r\n', 1)[0], headers: headerLines(msg.text, REQUEST_HEADERS) };
}

function print(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

let finished = false;
function finish(code, extra) {
  if (finished) return;
  finished = true;
  print({ event: 'stopped', code, ...extra, messages: transcript });
  // let stdout drain, then leave whatever JsSIP still has scheduled
  setTimeout(() => process.exit(code), 50).unref();
}

const overall = setTimeout(() => finish(3, { error: `overall timeout ${TIMEOUT_MS} ms` }), TIMEOUT_MS);
overall.unref();

let wsOptions;
try {
  wsOptions = new JsSIP.WebSocketInterface(url);
} catch (err) {
  print({ event: 'failed', cause: `bad URL: ${err.message}` });
  process.exit(64);
}

const ua = new JsSIP.UA({
  sockets: [wsOptions],
  uri: aor,
  instance_id: instance.replace(/^urn:/i, ''),
  register_expires: expires,
  register: false,
  // no reconnect inside one run, but after a 401 when there are credentials to answer it
  connection_recovery_min_interval: wsAuth ? 1 : 60,
  connection_recovery_max_interval: wsAuth ? 1 : 60,
  user_agent: 'JsSIP (outbound-conformance interop)',
});

let outcome = 1;
const registerTimer = setTimeout(() => {
  print({ event: 'failed', cause: `no final response within ${REGISTER_TIMEOUT_MS} ms`, register: firstRegister() });
  stop(2);
}, REGISTER_TIMEOUT_MS);

function stop(code) {
  clearTimeout(registerTimer);
  const bound = setTimeout(() => finish(code, { error: `stop not finished within ${STOP_TIMEOUT_MS} ms` }), STOP_TIMEOUT_MS);
  bound.unref();
  ua.on('disconnected', () => finish(code, {}));
  ua.on('unregistered', () => setTimeout(() => finish(code, {}), 200));
  try {
    if (ua.isRegistered()) {
      ua.unregister();
      setTimeout(() => { try { ua.stop(); } catch (e) { /* closing anyway */ } }, 1500).unref();
    } else {
      ua.stop();
      finish(code, {});
    }
  } catch (err) {
    finish(code, { error: String(err) });
  }
}

function hold(code) {
  if (holdMs === 0) { stop(code); return; }
  const t = setTimeout(() => stop(code), holdMs);
  process.stdin.on('data', () => { clearTimeout(t); stop(code); });
  process.stdin.on('end', () => { clearTimeout(t); stop(code); });
  process.stdin.resume();
}

ua.on('connected', () => ua.register());
// a MESSAGE reaching it (a terminating request over its flow) is answered 200 (JsSIP answers 405
// when nobody listens)
ua.on('newMessage', () => {});
ua.on('registered', ({ response }) => {
  clearTimeout(registerTimer);
  outcome = 0;
  print({
    event: 'registered',
    status: response.status_code,
    reason: response.reason_phrase,
    register: firstRegister(),
    response: { headers: headerLines(response.data, RESPONSE_HEADERS) },
  });
  hold(0);
});
ua.on('registrationFailed', ({ response, cause }) => {
  clearTimeout(registerTimer);
  print({
    event: 'failed',
    cause,
    status: response ? response.status_code : null,
    reason: response ? response.reason_phrase : null,
    register: firstRegister(),
    response: response ? { headers: headerLines(response.data, RESPONSE_HEADERS) } : null,
  });
  stop(1);
});
let failedEarly = false;
ua.on('disconnected', ({ error, code, reason }) => {
  transcript.push({ dir: 'in', kind: 'disconnected', text: `${code || ''} ${reason || ''} ${error ? 'error' : ''}`.trim() });
  if (wsAuth && challenges === 1 && outcome !== 0 && !finished) {
    return;                                 // challenged once: JsSIP reconnects with credentials
  }
  if (outcome !== 0 && !finished && !failedEarly) {
    // the connection failed (TLS, upgrade) or closed before the registration ended
    failedEarly = true;
    clearTimeout(registerTimer);
    print({ event: 'failed', cause: `disconnected ${code || ''} ${reason || ''}`.trim(), register: firstRegister() });
    try { ua.stop(); } catch (e) { /* closing anyway */ }
    finish(1, {});
  }
});

ua.start();

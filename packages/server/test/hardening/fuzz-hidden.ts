/**
 * The routes OpenAPI does not describe: provider webhooks (raw bodies, odd content
 * types, and validly signed callbacks with bad fields), the web retrieval page and its
 * script, the C2SP tlog-tiles paths, the operational endpoints — and requests only a
 * raw socket can send (duplicated headers, wrong lengths, broken chunking).
 */
import { createHmac } from 'node:crypto';
import { twilioSignature } from '../../src/channels/twilio.js';
import { MAX_STALL_MS, longestStall, rawRequest, type FuzzRequest, type Fuzzer } from './fuzz-http.js';
import { BAD_STRINGS, NUMERIC_STRINGS, RawJson, deepJson, serialize, type BadValue } from './fuzz-inputs.js';
import type { World } from './fuzz-world.js';

const FORM = 'application/x-www-form-urlencoded';
const CONTENT_TYPES: readonly (string | undefined)[] = [undefined, 'application/json', FORM, 'text/plain', 'multipart/form-data; boundary=x', 'application/octet-stream'];
const WEBHOOK_BODIES: readonly { what: string; body: string | Buffer }[] = [
  { what: 'empty body', body: '' },
  { what: 'binary garbage', body: Buffer.from([0xff, 0x00, 0xc0, 0xaf, 0x01]) },
  { what: 'JSON object', body: '{"a":1}' },
  { what: 'JSON null', body: 'null' },
  { what: 'form fields', body: 'MessageSid=SM1&MessageStatus=delivered' },
  { what: 'RBM message with bad base64', body: '{"message":{"data":"!!!"}}' },
  { what: 'RBM handshake with a wrong token', body: '{"clientToken":"x","secret":"y"}' },
  { what: '10 000-level nested JSON', body: deepJson(10_000, 'array') },
  { what: 'body of 300 KB (over the 256 KB webhook limit)', body: 'x'.repeat(300 * 1024) },
];

export function webhookCases(world: World): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  const post = (channel: string, what: string, body: string | Buffer, headers: Record<string, string> = {}): FuzzRequest => ({
    method: 'POST',
    path: `/v1/webhooks/${channel}`,
    what,
    body,
    headers,
  });
  for (const channel of ['twilio', 'rbm']) {
    for (const b of WEBHOOK_BODIES) for (const type of CONTENT_TYPES) out.push(post(channel, `${b.what}, content-type ${String(type)}`, b.body, type ? { 'content-type': type } : {}));
  }
  for (const channel of ['fcm', 'apns', 'smpp', 'unknown', 'TWILIO', 'a%00b', '..%2Ftwilio', 'x'.repeat(300), '']) {
    for (const b of WEBHOOK_BODIES) out.push(post(channel, b.what, b.body, { 'content-type': 'application/json' }));
  }

  // Twilio status callbacks with a valid signature and bad fields.
  const url = `${world.url}/v1/webhooks/twilio`;
  const sid = [...world.twilio.messages.keys()][0] ?? `SM${'0'.repeat(32)}`;
  const base: Record<string, string> = { MessageSid: sid, MessageStatus: 'delivered', AccountSid: world.twilio.accountSid, To: '+15550000001' };
  const signed = (what: string, params: Record<string, string>, extra: Record<string, string> = {}) => {
    const form = new URLSearchParams(params);
    out.push(post('twilio', what, form.toString(), { 'content-type': FORM, 'x-twilio-signature': twilioSignature(world.twilio.authToken, url, form), ...extra }));
  };
  const statuses = ['accepted', 'queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'read', 'canceled', 'received', 'bogus', '__proto__', 'constructor'];
  for (const s of statuses) signed(`signed callback, status ${s}`, { ...base, MessageStatus: s, ErrorCode: '30003' });
  const strings = BAD_STRINGS.filter((v): v is BadValue & { value: string } => typeof v.value === 'string');
  for (const field of ['MessageSid', 'AccountSid', 'ErrorCode', 'SmsSid']) {
    for (const v of strings) signed(`signed callback, ${field} := ${v.what}`, { ...base, [field]: v.value });
  }
  signed('signed callback without fields', {});
  signed('signed callback, wrong signature', base, { 'x-twilio-signature': 'AAAA' });
  out.push(post('twilio', 'callback with 10 000 fields', Array.from({ length: 10_000 }, (_v, i) => `f${i}=${i}`).join('&'), { 'content-type': FORM, 'x-twilio-signature': 'x' }));

  // RBM events with a valid X-Goog-Signature and bad fields.
  const rbm = (what: string, data: Buffer, extra: Record<string, unknown> = {}) => {
    const signature = createHmac('sha512', world.rbmClientToken).update(data).digest('base64');
    out.push(post('rbm', what, serialize({ message: { data: data.toString('base64'), messageId: '1' }, subscription: 'x', ...extra }), { 'content-type': 'application/json', 'x-goog-signature': signature }));
  };
  const event = { agentId: 'fuzz-agent', messageId: 'msg-1', eventType: 'DELIVERED', sendTime: '2024-01-01T00:00:00Z' };
  const values: BadValue[] = [
    ...strings.slice(0, 14),
    { what: 'number 2^64', value: new RawJson('18446744073709551616') },
    { what: 'number 1e309', value: new RawJson('1e309') },
    { what: 'null', value: null },
    { what: 'object', value: { a: 1 } },
    { what: 'year 275760', value: '+275760-09-13T00:00:00.000Z' },
    { what: 'year 9999', value: '9999-12-31T23:59:59Z' },
    ...NUMERIC_STRINGS.slice(0, 4).map((s) => ({ what: `"${s}"`, value: s })),
  ];
  for (const type of ['DELIVERED', 'READ', 'TTL_EXPIRATION_REVOKED', 'IS_TYPING']) rbm(`signed RBM event ${type}`, Buffer.from(JSON.stringify({ ...event, eventType: type })));
  for (const field of Object.keys(event)) {
    for (const v of values) rbm(`signed RBM event, ${field} := ${v.what}`, Buffer.from(serialize({ ...event, [field]: v.value })));
  }
  rbm('signed RBM data that is not JSON', Buffer.from([0xff, 0xfe, 0x00]));
  rbm('signed RBM data nested 10 000 levels', Buffer.from(deepJson(10_000, 'object')));
  out.push(post('rbm', 'RBM handshake with the right token', JSON.stringify({ clientToken: world.rbmClientToken, secret: 's3cr3t' }), { 'content-type': 'application/json' }));
  out.push(post('rbm', 'RBM handshake with a NUL secret', serialize({ clientToken: world.rbmClientToken, secret: 'a\u0000b' }), { 'content-type': 'application/json' }));
  out.push(post('rbm', 'RBM event with a garbage signature header', serialize({ message: { data: 'e30=' } }), { 'content-type': 'application/json', 'x-goog-signature': '\u00ff'.repeat(100) }));
  return out;
}

/** `/r/<token>`, its script, the tlog-tiles paths, operational endpoints, unknown routes. */
export function hiddenCases(world: World): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  const get = (path: string, what: string, headers: Record<string, string> = {}, method = 'GET'): void => {
    out.push({ method, path, what, headers });
  };
  const tokens = [world.appToken, world.webToken, '', 'x', 'A'.repeat(22), 'a'.repeat(5000), '%00', '%zz', '%', '%F0%9F%98%80', '%ED%A0%80', `${world.webToken}/extra`];
  for (const t of tokens) get(`/r/${t}`, `retrieval page, token of ${t.length} characters`);
  get(`/r/${world.webToken}?x=%zz`, 'retrieval page with a bad query');
  get('/r', 'retrieval page without a token');
  get('/assets/retrieve.js', 'the page script');
  get('/assets/retrieve.js?v=%00', 'the page script with a query');
  get('/assets/retrieve.js', 'HEAD of the page script', {}, 'HEAD');
  get('/assets/retrieve.js%00', 'the page script with NUL');

  const tiles = [
    'checkpoint',
    'tile/0/000',
    'tile/0/000.p/1',
    'tile/0/000.p/0',
    'tile/0/000.p/255',
    'tile/0/000.p/256',
    'tile/0/000.p/01',
    'tile/0/000.p/',
    'tile/0/000.p/1.p/1',
    'tile/entries/000',
    'tile/entries/000.p/1',
    'tile/entries/000.p/300',
    'tile/0/001',
    'tile/0/999',
    'tile/0/x001/000',
    'tile/0/x000/000',
    'tile/1/000',
    'tile/1/000.p/1',
    'tile/63/000',
    'tile/64/000',
    'tile/-1/000',
    'tile/0/-01',
    'tile/0/abc',
    'tile/0/00',
    'tile/0/0000',
    'tile/0/x999/x999/x999/x999/x999/999',
    'tile/entries/x999/x999/x999/x999/x999/999',
    'tile/0/x009/x223/x372/x036/x854/x775/808',
    'tile/entries/x018/x446/x744/x073/x709/x551/615',
    `tile/0/${'x001/'.repeat(20)}000`,
    'tile/',
    'tile',
    'tile/0/',
    'tile/0/000/',
    'tile/0/%30%30%30',
    'tile/0/000%00',
    'tile/entries/000.p/1%2F..',
    'tile/0/1e3',
  ];
  for (const log of ['keys', 'audit']) {
    for (const t of tiles) get(`/logs/${log}/${t}`, `tlog path ${t}`);
    get(`/logs/${log}/tile/entries/000.p/1`, 'entry bundle with gzip', { 'accept-encoding': 'gzip;q=0.5, *;q=0' });
    get(`/logs/${log}/tile/entries/000.p/1`, 'entry bundle with a garbage accept-encoding', { 'accept-encoding': 'gzip;q=abc,'.repeat(500) });
  }
  for (const name of ['nope', 'KEYS', 'a'.repeat(40), '%00', '..', '%2e%2e', '']) {
    get(`/logs/${name}/checkpoint`, `log ${JSON.stringify(name)} checkpoint`);
    get(`/logs/${name}/tile/0/000`, `log ${JSON.stringify(name)} tile`);
  }
  for (const path of ['/healthz', '/readyz', '/openapi.json', '/metrics', '/metrics?name[]=x', '/', '/v1', '/v1/', '//v1//mailbox', '/v1/mailbox/', '/nope', `/${'a'.repeat(8000)}`]) get(path, `GET ${path.slice(0, 40)}`);
  for (const method of ['PATCH', 'OPTIONS', 'HEAD', 'PUT', 'DELETE']) get('/v1/mailbox', `${method} on a GET route`, {}, method);
  backupCases(world, out);
  return out;
}

/** `/v1/backups` (raw ciphertext bodies, keys in headers): bad keys, KDF headers, bodies, versions; no session, another's. */
function backupCases(world: World, out: FuzzRequest[]): void {
  const auth = { authorization: `Bearer ${world.alice.token}` };
  const goodHash = 'A'.repeat(43);
  const kdf = Buffer.from(JSON.stringify({ name: 'recovery-key', salt: 'AAAAAAAAAAAAAAAAAAAAAA' })).toString('base64url');
  const put = (what: string, headers: Record<string, string>, body?: string | Buffer) =>
    out.push({ method: 'PUT', path: '/v1/backups', what: `backup upload: ${what}`, headers: { 'content-type': 'application/octet-stream', ...headers }, ...(body !== undefined ? { body } : {}) });
  put('no session', { 'parley-backup-access-hash': goodHash, 'parley-backup-kdf': kdf }, 'x');
  put('no key hash', { ...auth, 'parley-backup-kdf': kdf }, 'x');
  for (const hash of ['', 'x', 'A'.repeat(42), 'A'.repeat(44), '%%%', 'A'.repeat(5000)]) put(`key hash of ${hash.length} characters`, { ...auth, 'parley-backup-access-hash': hash, 'parley-backup-kdf': kdf }, 'x');
  for (const k of ['', 'x', Buffer.from('[]').toString('base64url'), Buffer.from('{"name":1}').toString('base64url'), Buffer.from('null').toString('base64url'), 'A'.repeat(600)]) {
    put(`KDF header ${JSON.stringify(k.slice(0, 20))}`, { ...auth, 'parley-backup-access-hash': goodHash, 'parley-backup-kdf': k }, 'x');
  }
  put('empty body', { ...auth, 'parley-backup-access-hash': goodHash, 'parley-backup-kdf': kdf }, '');
  put('a JSON body', { ...auth, 'content-type': 'application/json', 'parley-backup-access-hash': goodHash, 'parley-backup-kdf': kdf }, '{"a":1}');
  put('a body over the limit (33 MiB)', { ...auth, 'parley-backup-access-hash': goodHash, 'parley-backup-kdf': kdf }, Buffer.alloc(33 * 1024 * 1024, 1));
  for (const v of ['0', '-1', 'x', '1.5', '99999999999999999999', '%00', '1e3']) {
    out.push({ method: 'GET', path: `/v1/backups/${v}`, what: `backup version ${v}`, headers: { ...auth, 'parley-backup-key': goodHash } });
  }
  out.push({ method: 'GET', path: '/v1/backups/1', what: 'backup fetch without a key', headers: auth });
  out.push({ method: 'GET', path: '/v1/backups/1', what: 'backup fetch without a session', headers: { 'parley-backup-key': goodHash } });
  out.push({ method: 'GET', path: '/v1/backups', what: 'backup list without a session' });
  out.push({ method: 'DELETE', path: '/v1/backups', what: 'DELETE on the backups', headers: auth });
}

/** Raw-socket requests: what fetch cannot send. Answers are judged like any other. */
export async function fuzzRaw(fz: Fuzzer, world: World): Promise<void> {
  const auth = `Authorization: Bearer ${world.sender.token}`;
  const json = 'Content-Type: application/json';
  const body = '{"idempotencyKey":"raw-1","conversationId":"AAAAAAAAAAAAAAAAAAAAAA","message":"AAAA"}';
  const len = (b: string | Buffer) => `Content-Length: ${Buffer.byteLength(b)}`;
  const cases: { what: string; method: string; path: string; headers: string[]; body?: string | Buffer; halfClose?: boolean; mayGetNoAnswer?: boolean }[] = [
    { what: 'Authorization twice (same)', method: 'POST', path: '/v1/messages', headers: [auth, auth, json, len(body)], body },
    { what: 'Authorization twice (valid, garbage)', method: 'POST', path: '/v1/messages', headers: [auth, 'Authorization: Bearer garbage', json, len(body)], body },
    { what: 'Authorization twice on GET', method: 'GET', path: '/v1/mailbox', headers: [auth, 'Authorization: Basic eDp5'] },
    { what: 'Content-Type twice', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Content-Type: text/plain', len(body)], body },
    { what: 'Content-Length larger than the body (client half-closes)', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Content-Length: 1000'], body, halfClose: true, mayGetNoAnswer: true },
    { what: 'Content-Length smaller than the body', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Content-Length: 10'], body },
    { what: 'Content-Length "abc"', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Content-Length: abc'], body },
    { what: 'Content-Length -1', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Content-Length: -1'], body },
    { what: 'Content-Length 2^64', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Content-Length: 18446744073709551616'], body, halfClose: true, mayGetNoAnswer: true },
    { what: 'Content-Length twice, different', method: 'POST', path: '/v1/messages', headers: [auth, json, len(body), 'Content-Length: 5'], body },
    { what: 'chunked with a bad chunk size', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Transfer-Encoding: chunked'], body: 'zz\r\n{}\r\n0\r\n\r\n' },
    { what: 'chunked and Content-Length', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Transfer-Encoding: chunked', len(body)], body: `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n` },
    { what: 'chunked body of 5 MiB', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Transfer-Encoding: chunked'], body: `${(5 * 1024 * 1024).toString(16)}\r\n${'x'.repeat(5 * 1024 * 1024)}\r\n0\r\n\r\n` },
    { what: 'Transfer-Encoding gzip', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Transfer-Encoding: gzip, chunked'], body: '0\r\n\r\n' },
    { what: 'Content-Encoding gzip with garbage', method: 'POST', path: '/v1/messages', headers: [auth, json, 'Content-Encoding: gzip', len('garbage')], body: 'garbage' },
    { what: 'NUL in a header value', method: 'GET', path: '/v1/mailbox', headers: [auth, 'X-Test: a\u0000b'] },
    { what: 'header name with a space', method: 'GET', path: '/v1/mailbox', headers: [auth, 'X Test: 1'] },
    { what: 'obsolete line folding', method: 'GET', path: '/v1/mailbox', headers: [auth, 'X-Test: a', ' folded'] },
    { what: 'a 20 KB header', method: 'GET', path: '/v1/mailbox', headers: [auth, `X-Big: ${'a'.repeat(20_000)}`] },
    { what: '500 headers', method: 'GET', path: '/v1/mailbox', headers: [auth, ...Array.from({ length: 500 }, (_v, i) => `X-H${i}: ${i}`)] },
    { what: 'GET with a JSON body', method: 'GET', path: '/v1/mailbox', headers: [auth, json, len(body)], body },
    { what: 'DELETE with a JSON body', method: 'DELETE', path: '/v1/devices/me/push', headers: [auth, json, len(body)], body },
    { what: 'unknown method', method: 'FOO', path: '/v1/mailbox', headers: [auth] },
    { what: 'TRACE on a GET route', method: 'TRACE', path: '/v1/mailbox', headers: [auth] },
    { what: 'absolute-form URI', method: 'GET', path: 'http://evil.example/v1/keys', headers: [] },
    { what: 'asterisk-form URI', method: 'OPTIONS', path: '*', headers: [] },
    { what: 'path without a leading slash', method: 'GET', path: 'v1/keys', headers: [] },
    { what: 'URL of 70 000 characters', method: 'GET', path: `/v1/keys/${'a'.repeat(70_000)}`, headers: [] },
    { what: 'dot segments to the page script', method: 'GET', path: '/assets/../assets/retrieve.js', headers: [] },
    { what: 'dot segments in a tile path', method: 'GET', path: '/logs/keys/tile/../checkpoint', headers: [] },
    { what: 'encoded dot segments', method: 'GET', path: '/r/%2e%2e/%2e%2e/v1/keys', headers: [] },
    { what: 'raw non-ASCII bytes in the path', method: 'GET', path: '/r/\u00ff\u00fe', headers: [] },
    { what: 'webhook with Content-Length larger than the body', method: 'POST', path: '/v1/webhooks/twilio', headers: ['Content-Type: text/plain', 'Content-Length: 99'], body: 'x', halfClose: true, mayGetNoAnswer: true },
    { what: 'webhook body of 5 MiB, chunked', method: 'POST', path: '/v1/webhooks/rbm', headers: ['Transfer-Encoding: chunked'], body: `${(5 * 1024 * 1024).toString(16)}\r\n${'x'.repeat(5 * 1024 * 1024)}\r\n0\r\n\r\n` },
  ];
  for (const c of cases) {
    const bytes = rawRequest(c.method, c.path, c.headers, c.body ?? '');
    await fz.sendRaw({ what: c.what, method: c.method, path: c.path, bytes, ...(c.halfClose ? { halfClose: true } : {}), ...(c.mayGetNoAnswer ? { mayGetNoAnswer: true } : {}) });
  }
  // HTTP/1.0 and a request line that is not HTTP at all.
  await fz.sendRaw({ what: 'HTTP/1.0 request', method: 'GET', path: '/v1/keys', bytes: Buffer.from('GET /v1/keys HTTP/1.0\r\n\r\n') });
  await fz.sendRaw({ what: 'not HTTP', method: '?', path: '?', bytes: Buffer.from('\u0016\u0003\u0001\u0000\u00a5hello\r\n\r\n', 'latin1') });
}

/** Bodies that are cheap to send and expensive to parse must not hold the event loop. */
export async function fuzzStalls(fz: Fuzzer, world: World): Promise<void> {
  const depth = 2 * 1024 * 1024 - 16;
  for (const [path, body, what] of [
    ['/v1/messages', '['.repeat(depth) + ']'.repeat(depth), `${depth}-level nested arrays (just under 4 MiB)`],
    ['/v1/web/describe', '{"a":'.repeat(depth / 4) + '1' + '}'.repeat(depth / 4), `${depth / 4}-level nested objects`],
  ] as const) {
    const request: FuzzRequest = { method: 'POST', path, what, body, headers: { 'content-type': 'application/json', authorization: `Bearer ${world.sender.token}` } };
    const stall = await longestStall(world.url, fz.send(request));
    if (stall > MAX_STALL_MS) fz.report(request, `GET /healthz waited ${stall.toFixed(0)} ms meanwhile (the event loop was held)`);
  }
}

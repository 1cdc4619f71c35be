/**
 * Standard Webhooks signing and verification, cross-checked against the official
 * `standardwebhooks` library (1.3.0) in both directions, and against the published vector.
 */
import { Webhook, WebhookVerificationError as TheirError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  WebhookReplayGuard,
  WebhookVerificationError,
  newWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
  type WebhookVerificationCode,
} from '../../src/webhooks/index.js';

const body = JSON.stringify({ type: 'message.sent', timestamp: '2026-01-02T03:04:05.678Z', data: { messageId: 'msg_1', path: 'push' } });
const now = () => Math.floor(Date.now() / 1000);

function codeOf(fn: () => unknown): WebhookVerificationCode | 'no error' | 'other error' {
  try {
    fn();
    return 'no error';
  } catch (error) {
    return error instanceof WebhookVerificationError ? error.code : 'other error';
  }
}

describe('Standard Webhooks', () => {
  it('makes whsec_ secrets of 32 random bytes', () => {
    const a = newWebhookSecret();
    const b = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(a).not.toBe(b);
  });

  it('matches the reference vector', () => {
    // The Standard Webhooks spec (spec/standard-webhooks.md) shows an example id, timestamp and
    // signature but not the secret they were made with, so its `v1,K5oZ…` cannot be reproduced.
    // This vector is the reference JavaScript library's "sign function works" test
    // (github.com/standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts).
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const msgId = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    const timestamp = 1614265330;
    const payload = '{"test": 2432232314}';
    const expected = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    expect(signWebhook([secret], msgId, timestamp, payload)).toBe(expected);
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': expected };
    expect(verifyWebhook(secret, headers, payload, { now: () => timestamp * 1000 })).toEqual({ test: 2432232314 });
    // The secret without its prefix is the same key.
    expect(verifyWebhook(secret.slice(6), headers, payload, { now: () => timestamp * 1000 })).toEqual({ test: 2432232314 });
  });

  it('signs what the official library verifies, and verifies what it signs', () => {
    const secret = newWebhookSecret();
    const theirs = new Webhook(secret);
    const ts = now();
    const ours = webhookHeaders([secret], 'evt_abc', ts, body);
    expect(ours['webhook-signature']).toBe(theirs.sign('evt_abc', new Date(ts * 1000), body));
    expect(theirs.verify(body, { ...ours })).toEqual(JSON.parse(body));

    const signedByThem = { 'webhook-id': 'evt_def', 'webhook-timestamp': String(ts), 'webhook-signature': theirs.sign('evt_def', new Date(ts * 1000), body) };
    expect(verifyWebhook(secret, signedByThem, body)).toEqual(JSON.parse(body));
    // Raw bytes, a fetch Headers object and Node's header record all work.
    expect(verifyWebhook(secret, new Headers(signedByThem), new TextEncoder().encode(body))).toEqual(JSON.parse(body));
    expect(verifyWebhook(secret, { 'Webhook-Id': 'evt_def', 'webhook-timestamp': [String(ts)], 'webhook-signature': signedByThem['webhook-signature'] }, body)).toEqual(
      JSON.parse(body),
    );
  });

  it('signs with every secret during a rotation; either secret verifies', () => {
    const oldSecret = newWebhookSecret();
    const newSecret = newWebhookSecret();
    const ts = now();
    const headers = webhookHeaders([oldSecret, newSecret], 'evt_rot', ts, body);
    const signatures = headers['webhook-signature'].split(' ');
    expect(signatures).toHaveLength(2);
    expect(signatures.every((s) => /^v1,[A-Za-z0-9+/]{43}=$/.test(s))).toBe(true);
    expect(verifyWebhook(oldSecret, headers, body)).toEqual(JSON.parse(body));
    expect(verifyWebhook(newSecret, headers, body)).toEqual(JSON.parse(body));
    expect(verifyWebhook([newWebhookSecret(), newSecret], headers, body)).toEqual(JSON.parse(body));
    expect(new Webhook(oldSecret).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(new Webhook(newSecret).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(codeOf(() => verifyWebhook(newWebhookSecret(), headers, body))).toBe('webhook_signature_invalid');
  });

  it('ignores unknown signature versions and malformed entries', () => {
    const secret = newWebhookSecret();
    const ts = now();
    const good = signWebhook([secret], 'evt_v', ts, body);
    const header = `v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== v2,${good.slice(3)} v1,short garbage ${good}`;
    expect(verifyWebhook(secret, { 'webhook-id': 'evt_v', 'webhook-timestamp': String(ts), 'webhook-signature': header }, body)).toEqual(JSON.parse(body));
    // The right HMAC under another version label is not accepted.
    expect(codeOf(() => verifyWebhook(secret, { 'webhook-id': 'evt_v', 'webhook-timestamp': String(ts), 'webhook-signature': `v2,${good.slice(3)}` }, body))).toBe(
      'webhook_signature_invalid',
    );
  });

  it('rejects tampering, wrong secrets, bad timestamps and missing headers with their codes', () => {
    const secret = newWebhookSecret();
    const ts = now();
    const headers = webhookHeaders([secret], 'evt_x', ts, body);
    const theirs = new Webhook(secret);

    expect(codeOf(() => verifyWebhook(secret, headers, body.replace('push', 'sms0')))).toBe('webhook_signature_invalid');
    expect(() => theirs.verify(body.replace('push', 'sms0'), { ...headers })).toThrow(TheirError);
    expect(codeOf(() => verifyWebhook(secret, headers, `${body} `))).toBe('webhook_signature_invalid');
    expect(codeOf(() => verifyWebhook(secret, { ...headers, 'webhook-id': 'evt_y' }, body))).toBe('webhook_signature_invalid');
    expect(codeOf(() => verifyWebhook(newWebhookSecret(), headers, body))).toBe('webhook_signature_invalid');

    // The id and timestamp are signed too: a shifted timestamp inside the window fails.
    expect(codeOf(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': String(ts - 1) }, body))).toBe('webhook_signature_invalid');

    // Old and future timestamps, correctly signed, are outside the replay window.
    const old = webhookHeaders([secret], 'evt_x', ts - 301, body);
    const future = webhookHeaders([secret], 'evt_x', ts + 301, body);
    expect(codeOf(() => verifyWebhook(secret, old, body, { now: () => ts * 1000 }))).toBe('webhook_timestamp_invalid');
    expect(codeOf(() => verifyWebhook(secret, future, body, { now: () => ts * 1000 }))).toBe('webhook_timestamp_invalid');
    expect(() => theirs.verify(body, { ...old })).toThrow(TheirError);
    // At the edge of the window, and with a wider tolerance, they pass.
    expect(codeOf(() => verifyWebhook(secret, webhookHeaders([secret], 'evt_x', ts - 300, body), body, { now: () => ts * 1000 }))).toBe('no error');
    expect(codeOf(() => verifyWebhook(secret, old, body, { now: () => ts * 1000, toleranceSeconds: 600 }))).toBe('no error');
    expect(codeOf(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': 'soon' }, body))).toBe('webhook_timestamp_invalid');
    expect(codeOf(() => verifyWebhook(secret, { ...headers, 'webhook-timestamp': `${ts}.5` }, body))).toBe('webhook_timestamp_invalid');

    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const partial: Record<string, string> = { ...headers };
      delete partial[name];
      expect(codeOf(() => verifyWebhook(secret, partial, body))).toBe('webhook_headers_missing');
      expect(codeOf(() => verifyWebhook(secret, { ...headers, [name]: '' }, body))).toBe('webhook_headers_missing');
    }
  });

  it('rejects an exact replay inside the window when given a replay guard', () => {
    const secret = newWebhookSecret();
    const guard = new WebhookReplayGuard();
    let clock = now() * 1000;
    const headers = webhookHeaders([secret], 'evt_r', Math.floor(clock / 1000), body);
    expect(codeOf(() => verifyWebhook(secret, headers, body, { replayGuard: guard, now: () => clock }))).toBe('no error');
    expect(codeOf(() => verifyWebhook(secret, headers, body, { replayGuard: guard, now: () => clock }))).toBe('webhook_replayed');
    // Without the guard the same request verifies (the guard is what refuses it).
    expect(codeOf(() => verifyWebhook(secret, headers, body, { now: () => clock }))).toBe('no error');
    // A forged request under a seen id does not reach the guard; a failed one does not poison it.
    expect(codeOf(() => verifyWebhook(secret, { ...headers, 'webhook-id': 'evt_s' }, body, { replayGuard: guard, now: () => clock }))).toBe(
      'webhook_signature_invalid',
    );
    expect(codeOf(() => verifyWebhook(secret, webhookHeaders([secret], 'evt_s', Math.floor(clock / 1000), body), body, { replayGuard: guard, now: () => clock }))).toBe(
      'no error',
    );
    // forget() lets a retry through.
    guard.forget('evt_r');
    expect(codeOf(() => verifyWebhook(secret, headers, body, { replayGuard: guard, now: () => clock }))).toBe('no error');
    // After the window the timestamp check refuses the replay, and the guard no longer needs it.
    clock += 301_000;
    expect(codeOf(() => verifyWebhook(secret, headers, body, { replayGuard: guard, now: () => clock }))).toBe('webhook_timestamp_invalid');
    expect(guard.remember('evt_other', clock + 1000, clock)).toBe(true);
    expect(guard.size).toBe(1);
  });

  it('keeps the replay guard bounded', () => {
    const guard = new WebhookReplayGuard({ maxEntries: 3 });
    const t = 1_000_000;
    for (const id of ['a', 'b', 'c', 'd']) expect(guard.remember(id, t + 60_000, t)).toBe(true);
    expect(guard.size).toBe(3);
    expect(guard.remember('d', t + 60_000, t)).toBe(false);
    expect(guard.remember('a', t + 60_000, t)).toBe(true); // the oldest was forgotten
  });

  it('refuses a signed body that is not JSON', () => {
    const secret = newWebhookSecret();
    const headers = webhookHeaders([secret], 'evt_nj', now(), 'not json');
    expect(codeOf(() => verifyWebhook(secret, headers, 'not json'))).toBe('webhook_payload_invalid');
  });

  it('refuses bad secrets, ids and timestamps when signing', () => {
    expect(() => signWebhook([], 'evt_1', now(), body)).toThrow(TypeError);
    expect(() => signWebhook(['whsec_not base64!'], 'evt_1', now(), body)).toThrow(TypeError);
    expect(() => signWebhook([newWebhookSecret()], 'evt.1', now(), body)).toThrow(TypeError);
    expect(() => signWebhook([newWebhookSecret()], 'evt_1', 1.5, body)).toThrow(TypeError);
    // The error names no secret.
    let message = '';
    try {
      signWebhook(['whsec_c2VjcmV0!!'], 'evt_1', now(), body);
    } catch (error) {
      message = String(error);
    }
    expect(message).toContain('invalid webhook secret');
    expect(message).not.toContain('c2VjcmV0');
  });
});

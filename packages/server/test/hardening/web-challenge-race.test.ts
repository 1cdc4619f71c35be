/**
 * Parallel `POST /v1/web/challenge` on one web link cannot send more than
 * `maxTokenAttempts` one-time codes to the business's second factor: the check and the
 * count are one conditional UPDATE. (They were two queries, so 20 parallel requests all
 * passed the check and sent 20 codes.) Real server, Twilio emulator for the SMS link, a
 * second-factor endpoint on loopback that counts the codes it receives.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryKeyStore, Sender } from '@parley/client';
import { smsDeliver } from '@parley/server';
import { nodeRuntime } from '@parley/client/node';
import { freePort, startLocalProviders, type LocalProviders } from '../../../cli/src/demo/providers.js';
import { createBusiness } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

const MAX_ATTEMPTS = 5;
let t: TestServer;
let providers: LocalProviders;
let sender: Sender;
let backend: Server;
/** Codes the second factor received, by identity. */
const codes: { identityId: string; code: string }[] = [];

beforeAll(async () => {
  const port = await freePort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
  backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      codes.push(JSON.parse(Buffer.concat(chunks).toString()) as { identityId: string; code: string });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  t = await startTestServer({
    port,
    routing: {
      channels: providers.channels,
      maxTokenAttempts: MAX_ATTEMPTS,
      businesses: { 'race-bank': { brand: 'Race Bank', secondFactor: { url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}/codes`, secret: 'race-secret' } } },
    },
  });
  const bank = await createBusiness(t.url, 'race-bank');
  sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: 'Race Bank' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await t?.stop();
  await providers?.close();
  await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
});

describe('web link challenges', () => {
  it(`20 parallel challenges on one link: at most ${MAX_ATTEMPTS} codes reach the second factor; the rest are refused`, async () => {
    const phone = '+15550601001';
    await sender.sendToWeb('racer', phone, 'Your code is 112233.', { class: 'otp', deliver: smsDeliver(providers.businessSms, 'Race Bank') });
    await expect.poll(() => providers.twilio.inbox(phone).length).toBe(1);
    const token = new URL(providers.twilio.inbox(phone)[0]!.text.match(/https?:\/\/\S+/)![0]).pathname.split('/').pop()!;

    // 20 connections open first (keep-alive), so the 20 challenges arrive together.
    await Promise.all(Array.from({ length: 20 }, async () => (await fetch(`${t.url}/healthz`)).arrayBuffer()));
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await fetch(`${t.url}/v1/web/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
        return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
      }),
    );
    const mine = codes.filter((c) => c.identityId === 'race-bank:racer');
    expect(mine.length).toBeLessThanOrEqual(MAX_ATTEMPTS);
    expect(mine.length).toBe(answers.filter((a) => a.status === 200).length);
    expect(answers.filter((a) => a.status === 200).length).toBe(MAX_ATTEMPTS);
    expect(answers.filter((a) => a.status !== 200).map((a) => [a.status, a.body.error?.code])).toEqual(Array(20 - MAX_ATTEMPTS).fill([429, 'token_locked']));
    const [row] = await t.server.db.query<{ attempts: number }>(`SELECT attempts FROM retrieval_tokens WHERE kind = 'web' AND identity_id = 'race-bank:racer'`);
    expect(Number(row!.attempts)).toBe(MAX_ATTEMPTS);

    // Later, one at a time: still refused.
    const again = await fetch(`${t.url}/v1/web/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(again.status).toBe(429);
    expect(codes.filter((c) => c.identityId === 'race-bank:racer')).toHaveLength(MAX_ATTEMPTS);
  });

  it('a used or expired link is refused with its own error, not a lock', async () => {
    const phone = '+15550601002';
    await sender.sendToWeb('late', phone, 'Your code is 445566.', { class: 'otp', deliver: smsDeliver(providers.businessSms, 'Race Bank') });
    await expect.poll(() => providers.twilio.inbox(phone).length).toBe(1);
    const token = new URL(providers.twilio.inbox(phone)[0]!.text.match(/https?:\/\/\S+/)![0]).pathname.split('/').pop()!;
    await t.server.db.query(`UPDATE retrieval_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'web' AND identity_id = 'race-bank:late'`);
    const res = await fetch(`${t.url}/v1/web/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(res.status).toBe(410);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('token_expired');
    expect(codes.filter((c) => c.identityId === 'race-bank:late')).toHaveLength(0);
  });
});

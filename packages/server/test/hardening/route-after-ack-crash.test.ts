/**
 * A real `parley serve` killed (SIGKILL) between a customer's ack and the router's hook
 * that finishes the route: after a restart on the same database, the route is finished
 * as delivered and no provider receives anything for the message's later steps (push,
 * SMS link), although they come due.
 *
 * The kill lands in that window deterministically: the first process preloads a test
 * seam (fixtures/stall-ack-hook.mjs) whose ack hook prints the envelope ids it was given
 * — it is called only after the ack statement committed — and never finishes. The
 * restarted process is a plain `parley serve`. FCM and Twilio are emulators; the
 * server reaches them through the production adapters built from `--routing FILE`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import type { RouteViewResponse } from '@parley/core';
import { FcmEmulator, TwilioEmulator } from '@parley/emulators';
import { createBusiness, EventLog } from '@parley/test-kit/sdk';
import { BIN, MACHINE_PG, cleanup, freePort, freshSchema, tempDir } from '../cluster/cluster-helpers.js';
import { ADMIN_TOKEN, ENGINE } from '@parley/test-kit/server';

const MARKER = 'PLAINTEXT-MARKER-7d1c0e';
const STALL = new URL('./fixtures/stall-ack-hook.mjs', import.meta.url).pathname;
const BANK = 'crash-bank';
const PHONE = '+15550401234';
const CHAIN = [
  { step: 'app', timeoutMs: 1_500 },
  { step: 'push', timeoutMs: 800 },
  { step: 'sms-token', timeoutMs: 800 },
];

let fcm: FcmEmulator;
let twilio: TwilioEmulator;
let rsaPem: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  fcm = await FcmEmulator.start({ projectId: 'crash-bank-app', serviceAccountEmail: 'push@crash-bank-app.iam.gserviceaccount.com', publicKey: rsa.publicKey });
  twilio = await TwilioEmulator.start({ callbacks: 'manual' });
  rsaPem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cleanup();
  await fcm?.close();
  await twilio?.close();
});

interface Served {
  child: ChildProcess;
  url: string;
  output(): string;
}

async function serve(args: readonly string[], preload?: string): Promise<Served> {
  const child = spawn(process.execPath, [...(preload ? ['--import', preload] : []), BIN, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TWILIO_TOKEN: twilio.authToken },
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { child, url, output: () => out };
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('route after ack: a crash between the ack and the routing hook', () => {
  it('after SIGKILL and a restart, the acknowledged message is finished as delivered and no provider gets its later steps', async () => {
    const dir = tempDir('parley-ack-crash-');
    const port = await freePort();
    await writeFile(join(dir, 'fcm.json'), JSON.stringify({ client_email: 'push@crash-bank-app.iam.gserviceaccount.com', private_key: rsaPem, project_id: 'crash-bank-app', token_uri: `${fcm.url}/token` }));
    await writeFile(
      join(dir, 'routing.json'),
      JSON.stringify({
        publicUrl: `http://127.0.0.1:${port}`,
        channels: {
          fcm: { serviceAccountFile: 'fcm.json', baseUrl: fcm.url },
          twilio: { accountSid: twilio.accountSid, authTokenEnv: 'TWILIO_TOKEN', from: '+15005550006', baseUrl: twilio.baseUrl },
        },
        businesses: {
          [BANK]: { brand: 'Crash Bank', policies: { otp: { chain: CHAIN, otherwise: 'block' }, hello: { chain: [{ step: 'app', timeoutMs: 600_000 }], otherwise: 'block' } } },
        },
      }),
    );
    const storage =
      ENGINE === 'postgres' ? ['--database-url', (await freshSchema(MACHINE_PG)).url, '--key-dir', join(dir, 'keys'), '--db-pool-size', '4'] : ['--data-dir', join(dir, 'data')];
    const args = [...storage, '--port', String(port), '--admin-token', ADMIN_TOKEN, '--routing', join(dir, 'routing.json'), '--log-level', 'warn'];

    let node = await serve(args, STALL);
    const bank = await createBusiness(node.url, BANK);
    const sender = await Sender.enroll({ serverUrl: node.url, enrollmentToken: await bank.issue('sender', 'sender', { name: 'Crash Bank' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    const device = await Device.enroll({ serverUrl: node.url, enrollmentToken: await bank.issue('kim', 'customer', { phone: PHONE }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    const log = new EventLog(device);
    try {
      await device.connect();
      const hello = await sender.send('kim', 'Welcome.', { class: 'hello' });
      await log.waitFor((e) => e.type === 'message' && e.messageId === hello.messageId);
      const pushToken = `fcm-crash-${Date.now()}`;
      fcm.registerToken(pushToken);
      await device.setPushToken({ provider: 'fcm', token: pushToken });

      const sent = await sender.send('kim', `Your code is 777111. ${MARKER}`, { class: 'otp' });
      await log.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
      // The ack of this envelope committed, and its routing hook is stalled: kill -9 now.
      await until('the ack hook of the message', () => (node.output().split('\n').some((l) => l.startsWith('test-seam: ack hook stalled') && (JSON.parse(l.slice(l.indexOf('['))) as string[]).includes(sent.envelopeId)) ? true : undefined), 30_000);
      const exited = new Promise((r) => node.child.once('exit', r));
      node.child.kill('SIGKILL');
      await exited;
      await device.disconnect();

      node = await serve(args);
      // Past every step's due time: app (1.5 s), push (0.8 s), SMS link (0.8 s).
      const deadline = Date.now() + CHAIN.reduce((n, s) => n + s.timeoutMs, 0) + 2_000;
      while (Date.now() < deadline && fcm.pushes(pushToken).length + twilio.acceptedFor(PHONE).length === 0) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const route: RouteViewResponse = await until('the route', async () => {
        const r = await sender.route(sent.messageId);
        // Finished: the state and its decision (written just after the state) are both there.
        return (r.state === 'active' || !r.events.some((e) => e.decision === 'delivered')) && Date.now() < deadline + 10_000 ? undefined : r;
      }, 30_000);
      expect(fcm.pushes(pushToken)).toHaveLength(0);
      expect(twilio.acceptedFor(PHONE)).toHaveLength(0);
      expect(route).toMatchObject({ state: 'delivered', path: 'app' });
      // Finished by the start-up reconciliation, before any step could come due.
      expect(route.events.find((e) => e.decision === 'delivered')?.reason).toMatch(/finished at start-up/);
      expect(route.events.filter((e) => e.decision === 'sent' || e.decision === 'not-sent')).toEqual([]);
      expect(log.messages().filter((m) => m.messageId === sent.messageId)).toHaveLength(1);
      expect(node.output()).not.toContain(MARKER);
    } finally {
      await device.close().catch(() => {});
      await sender.close().catch(() => {});
      if (node.child.exitCode === null) {
        const exited = new Promise((r) => node.child.once('exit', r));
        node.child.kill('SIGTERM');
        await exited;
      }
    }
  }, 240_000);
});

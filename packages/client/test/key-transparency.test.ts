/**
 * The malicious-server suite: a real server behind a loopback proxy that lies
 * on purpose. Each lie must be caught by the SDK with a typed error (or, for a
 * key the owner did not add, a KeyChangeAlert on the owner's device).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '@parley/core';
import { formatCheckpoint, parseCheckpoint, openNote, signNote, parseSignerKey, parseVerifierKey } from '@parley/core/tlog';
import { Device, MemoryKeyStore, issueEnrollmentToken, type DeviceEvent } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import { SignJWT } from 'jose';
import { EventLog, createBusiness, enroll, enrollSender, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;
let keyDir: string;

/** Rewrites JSON/text responses of the real server for paths that match. */
type Tamper = (path: string, body: Buffer, contentType: string) => Buffer | undefined;

class LyingProxy {
  tamper: Tamper | undefined;
  private server: Server | undefined;
  url = '';
  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const upstream = await fetch(this.target + req.url, {
          method: req.method,
          headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length')) as Record<string, string>,
          ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
        });
        let body: Buffer = Buffer.from(await upstream.arrayBuffer());
        const contentType = upstream.headers.get('content-type') ?? '';
        const changed = this.tamper?.(decodeURIComponent(req.url ?? ''), body, contentType);
        if (changed) body = changed;
        res.writeHead(upstream.status, { 'content-type': contentType });
        res.end(body);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }
}

const json = (body: Buffer) => JSON.parse(body.toString('utf8'));
const toJson = (value: unknown) => Buffer.from(JSON.stringify(value));

beforeAll(async () => {
  keyDir = await mkdtemp(join(tmpdir(), 'parley-kt-keys-'));
  t = await startTestServer({ keys: { dir: keyDir } });
  bank = await createBusiness(t.url, 'kt-bank');
});
afterAll(async () => {
  await t?.stop();
  await rm(keyDir, { recursive: true, force: true });
});

async function viaProxy(proxy: LyingProxy, subject: string, kind: 'customer' | 'sender' = 'customer'): Promise<Device> {
  return Device.enroll({
    serverUrl: proxy.url,
    enrollmentToken: await issueEnrollmentToken(bank.privateKey, 'k1', { businessId: bank.id, subject, kind }),
    store: new MemoryKeyStore(),
    keyPackageBatch: 3,
    ...nodeRuntime,
  });
}

describe('key transparency against a lying server', () => {
  it('verifies honest lookups: VRF label, inclusion proofs, replay', async () => {
    const phone = await enroll(t.url, bank, 'honest-1', 'customer');
    const keys = await phone.keys.devicesOf(phone.identityId);
    expect(keys.map((d) => [d.deviceId, d.status])).toEqual([[phone.deviceId, 'approved']]);
  });

  it('rejects a lookup whose entry was altered (key swap): key_log_bad_proof', async () => {
    const proxy = new LyingProxy(t.url);
    await proxy.start();
    try {
      const victim = await enroll(t.url, bank, 'victim-1', 'customer');
      const observer = await enroll(proxy.url, bank, 'observer-1', 'sender');
      proxy.tamper = (path, body) => {
        if (!path.startsWith(`/v1/keys/${victim.identityId}`)) return undefined;
        const res = json(body);
        const entry = JSON.parse(Buffer.from(res.entries[0].entry, 'base64').toString('utf8'));
        entry.signatureKey = entry.signatureKey.replace(/^./, entry.signatureKey[0] === 'A' ? 'B' : 'A');
        res.entries[0].entry = toBase64(utf8(JSON.stringify(entry)));
        return toJson(res);
      };
      await expect(observer.keys.devicesOf(victim.identityId)).rejects.toMatchObject({ code: 'key_log_bad_proof' });
    } finally {
      await proxy.stop();
    }
  });

  it('rejects a forged VRF proof: key_log_bad_vrf', async () => {
    const proxy = new LyingProxy(t.url);
    await proxy.start();
    try {
      const victim = await enroll(t.url, bank, 'victim-2', 'customer');
      const observer = await enroll(proxy.url, bank, 'observer-2', 'sender');
      proxy.tamper = (path, body) => {
        if (!path.startsWith(`/v1/keys/${victim.identityId}`)) return undefined;
        const res = json(body);
        const proof = fromBase64(res.vrfProof);
        proof[40] = proof[40]! ^ 1;
        res.vrfProof = toBase64(proof);
        return toJson(res);
      };
      await expect(observer.keys.devicesOf(victim.identityId)).rejects.toMatchObject({ code: 'key_log_bad_vrf' });
    } finally {
      await proxy.stop();
    }
  });

  it('detects a rolled-back tree: key_log_rollback', async () => {
    const proxy = new LyingProxy(t.url);
    await proxy.start();
    try {
      const observer = await enroll(proxy.url, bank, 'observer-3', 'customer');
      const old = (await observer.latestCheckpoint())!;
      await enroll(t.url, bank, 'grower-3', 'customer'); // the tree grows
      await observer.keys.devicesOf(observer.identityId); // the observer sees the larger tree
      proxy.tamper = (path, body) => {
        if (!path.startsWith('/v1/keys/')) return undefined;
        const res = json(body);
        res.checkpoint = old;
        res.entries = [];
        return toJson(res);
      };
      await expect(observer.keys.devicesOf(observer.identityId)).rejects.toMatchObject({ code: 'key_log_rollback' });
    } finally {
      await proxy.stop();
    }
  });

  it('detects a split view when two clients compare checkpoints: key_log_fork', async () => {
    const a = await enroll(t.url, bank, 'split-a', 'customer');
    const noteA = (await a.latestCheckpoint())!;
    // The operator signs a second tree head of the same size for someone else.
    const signer = parseSignerKey((await readFile(join(keyDir, 'tlog-keys.key'), 'utf8')).trim());
    const cp = parseCheckpoint(openNote(noteA, [parseVerifierKey(signer.verifierKey)]).text);
    const forged = await signNote(formatCheckpoint({ ...cp, rootHash: new Uint8Array(32).fill(7) }), [signer]);
    await expect(a.compareCheckpoint(forged)).rejects.toMatchObject({ code: 'key_log_fork' });
  });

  it('tells the owner about keys it did not add (KeyChangeAlert)', async () => {
    const phone = await enroll(t.url, bank, 'owner-1', 'customer');
    const log = new EventLog(phone);
    // A second device appears without any approval of the owner's: it waits, and the phone is asked.
    const intruder = await enroll(t.url, bank, 'owner-1', 'customer');
    expect(await intruder.status()).toBe('pending');
    expect((await phone.keys.checkOwnKeys()).map((a) => [a.deviceId, a.change])).toEqual([[intruder.deviceId, 'pending-device']]);
    // Once is enough: the same state raises nothing new.
    expect(await phone.keys.checkOwnKeys()).toEqual([]);
    // A re-enrollment the owner did not ask for (a reset token) revokes the phone: the phone is told.
    const reset = await Device.enroll({
      serverUrl: t.url,
      enrollmentToken: await issueEnrollmentToken(bank.privateKey, 'k1', { businessId: bank.id, subject: 'owner-1', kind: 'customer', reset: true }),
      store: new MemoryKeyStore(),
      keyPackageBatch: 3,
      ...nodeRuntime,
    });
    // The phone learns it from the server's refusal, verified against the log (revocation.test.ts), and ends.
    await expect(phone.keys.checkOwnKeys()).rejects.toMatchObject({ code: 'device_revoked' });
    expect(log.events.filter((e: DeviceEvent) => e.type === 'device-revoked')).toEqual([
      { type: 'device-revoked', deviceId: phone.deviceId, revokedBy: 'reset', checkpointSize: expect.any(Number) },
    ]);
    await reset.close();
  });

  it('lets the business revoke a device with a token signed by its key; the device is shut out', async () => {
    const phone = await enroll(t.url, bank, 'biz-revoke-1', 'customer');
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ purpose: 'revoke-device' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
      .setIssuer(bank.id)
      .setSubject(phone.deviceId)
      .setAudience('parley')
      .setIssuedAt(now)
      .setExpirationTime(now + 120)
      .setJti(`revoke-${phone.deviceId}`)
      .sign(bank.privateKey);
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const bad = await fetch(`${t.url}/v1/devices/${phone.deviceId}/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ businessToken: forged }) });
    expect(bad.status).toBe(401);
    const res = await fetch(`${t.url}/v1/devices/${phone.deviceId}/revoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ businessToken: token }) });
    expect(res.status).toBe(200);
    const other = await enroll(t.url, bank, 'biz-revoke-observer', 'agent');
    const devices = await other.keys.devicesOf(phone.identityId);
    expect(devices.map((d) => [d.deviceId, d.status, d.revokedBy])).toEqual([[phone.deviceId, 'revoked', 'business']]);
    // Its sessions stop working.
    await expect(phone.api.keyPackageStock()).rejects.toMatchObject({ code: expect.stringMatching(/^(device_revoked|challenge_invalid|unknown_device)$/) });
  });

  it('contacts see "keys changed" after a customer re-enrolls', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'reset-1', 'customer');
    const qr = await phone.keys.verificationQr(sender.device.identityId, sender.device.deviceId);
    expect(await sender.device.keys.verifyScanned(phone.identityId, qr)).toBe('match');
    expect(await sender.device.keys.verificationState(phone.identityId)).toBe('verified');
    await Device.enroll({
      serverUrl: t.url,
      enrollmentToken: await issueEnrollmentToken(bank.privateKey, 'k1', { businessId: bank.id, subject: 'reset-1', kind: 'customer', reset: true }),
      store: new MemoryKeyStore(),
      keyPackageBatch: 3,
      ...nodeRuntime,
    });
    expect(await sender.device.keys.verificationState(phone.identityId)).toBe('changed');
  });

  it('a sender that follows the log sees a revocation a lookup hides: key_log_lookup_mismatch', async () => {
    const proxy = new LyingProxy(t.url);
    await proxy.start();
    try {
      const phone = await enroll(t.url, bank, 'hidden-1', 'customer');
      const tablet = await enroll(t.url, bank, 'hidden-1', 'customer');
      await phone.keys.approveDevice(tablet.keys.approvalRequest().qr);
      const sender = await viaProxy(proxy, 'sender-hidden', 'sender');
      expect((await sender.keys.devicesOf(phone.identityId)).filter((d) => d.status === 'approved')).toHaveLength(2);
      await phone.keys.revokeDevice(tablet.deviceId);
      // The server leaves the revocation out of lookups (and out of the proofs it gives).
      proxy.tamper = (path, body) => {
        if (!path.startsWith(`/v1/keys/${phone.identityId}`)) return undefined;
        const res = json(body);
        res.entries = res.entries.filter((e: { entry: string }) => !Buffer.from(e.entry, 'base64').toString().includes('"device-revoked"'));
        return toJson(res);
      };
      await expect(sender.keys.devicesOf(phone.identityId)).rejects.toMatchObject({ code: 'key_log_lookup_mismatch' });
    } finally {
      await proxy.stop();
    }
  });

  it('rejects a bad tile while following the log', async () => {
    const proxy = new LyingProxy(t.url);
    await proxy.start();
    try {
      const sender = await viaProxy(proxy, 'sender-tiles', 'sender');
      const phone = await enroll(t.url, bank, 'tiles-1', 'customer');
      proxy.tamper = (path, body) => {
        if (!path.includes('/tile/0/')) return undefined;
        const copy = Buffer.from(body);
        copy[0] = copy[0]! ^ 0xff;
        return copy;
      };
      await expect(sender.keys.devicesOf(phone.identityId)).rejects.toMatchObject({ code: expect.stringMatching(/^(tlog_bad_tile|key_log_bad_proof)$/) });
    } finally {
      await proxy.stop();
    }
  });
});


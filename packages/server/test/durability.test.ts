/**
 * Embedded mode survives a killed process: a real `parley serve` child on a
 * PGlite data directory is SIGKILLed in the middle of a burst of submissions;
 * after a restart on the same directory every acknowledged message is in the
 * mailbox, and resubmitting every message with its idempotency key delivers
 * nothing twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBase64, randomBytes, toBase64, utf8 } from '@parley/core';
import { commitChanges, createGroup, encryptApplication } from '@parley/core/mls';
import { ADMIN_TOKEN, ENGINE, api, createBusiness, openSession, registerRawDevice, suite } from '@parley/test-kit/server';

const BIN = new URL('../../cli/bin/parley.js', import.meta.url).pathname;
const children: ChildProcess[] = [];
let dir: string | undefined;

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function serve(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--port', '0', '--admin-token', ADMIN_TOKEN, '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { child, url };
}

// A SIGKILLed embedded server and its PGlite data directory: nothing to test on PostgreSQL (the PGlite leg runs it).
if (ENGINE !== 'pglite') console.log('durability.test.ts: skipped on PostgreSQL (it kills an embedded PGlite server; the PGlite leg runs it)');
describe.skipIf(ENGINE !== 'pglite')('embedded durability (PGlite data directory)', () => {
  it('loses no acknowledged message when the process is SIGKILLed mid-burst', async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-kill-'));
    const s = await suite();
    let { child, url } = await serve(dir);
    const bank = await createBusiness(url);
    const sender = await registerRawDevice(url, bank, 'sender', { kind: 'sender' });
    const receiver = await registerRawDevice(url, bank, 'alice');
    let group = await createGroup(s, randomBytes(32), { identityId: sender.identityId, deviceId: sender.deviceId }, sender.signature, async () => true);
    const claim = await api(url, 'POST', '/v1/key-packages/claim', { deviceIds: [receiver.deviceId] }, sender.token);
    const out = await commitChanges(s, group, { add: [fromBase64(claim.body.keyPackages[0].keyPackage)] });
    group = out.group;
    const created = await api(url, 'POST', '/v1/messages', {
      idempotencyKey: 'create',
      conversationId: group.conversationId,
      message: toBase64(out.commit),
      members: [sender.deviceId, receiver.deviceId],
      welcome: toBase64(out.welcome!),
      groupInfo: toBase64(out.groupInfo),
    }, sender.token);
    expect(created.status).toBe(201);

    const bodies: { idempotencyKey: string; conversationId: string; message: string }[] = [];
    for (let i = 0; i < 400; i++) {
      const enc = await encryptApplication(s, group, utf8(`message ${i}`));
      group = enc.group;
      bodies.push({ idempotencyKey: `k-${i}`, conversationId: group.conversationId, message: toBase64(enc.message) });
    }

    const acknowledged = new Map<string, string>();
    let next = 0;
    let killed = false;
    const worker = async () => {
      while (next < bodies.length && !killed) {
        const body = bodies[next++]!;
        try {
          const res = await api(url, 'POST', '/v1/messages', body, sender.token);
          if (res.status === 201 || res.status === 200) acknowledged.set(body.idempotencyKey, res.body.id);
        } catch {
          // the connection died with the server: not acknowledged
        }
        if (acknowledged.size >= 150 && !killed) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    expect(killed).toBe(true);
    expect(acknowledged.size).toBeGreaterThanOrEqual(150);

    ({ child, url } = await serve(dir));
    const token = await openSession(url, receiver.deviceId, receiver.identity);
    const stored = new Set<string>();
    for (;;) {
      const page = await api(url, 'GET', '/v1/mailbox?limit=1000', undefined, token);
      expect(page.status).toBe(200);
      for (const e of page.body.envelopes) if (e.kind === 'application') stored.add(e.id);
      if (!page.body.more) break;
      await api(url, 'POST', '/v1/mailbox/ack', { ids: page.body.envelopes.map((e: { id: string }) => e.id) }, token);
    }
    const missing = [...acknowledged.values()].filter((id) => !stored.has(id));
    expect(missing).toEqual([]);

    // Every message again, same keys: what was stored is a duplicate, the rest is new, nothing twice.
    const senderToken = await openSession(url, sender.deviceId, sender.identity);
    const ids = new Set<string>();
    let duplicates = 0;
    for (const body of bodies) {
      const res = await api(url, 'POST', '/v1/messages', body, senderToken);
      expect([200, 201]).toContain(res.status);
      if (res.body.duplicate) duplicates++;
      expect(ids.has(res.body.id)).toBe(false);
      ids.add(res.body.id);
    }
    expect(duplicates).toBeGreaterThanOrEqual(acknowledged.size);
    child.kill('SIGTERM');
  }, 180_000);
});

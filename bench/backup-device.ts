/**
 * Backups end to end (issue 14): a customer device whose FileKeyStore holds N message records
 * (default 10,000, as the SDK stores received messages) backs up to an embedded Parley server
 * (`device.backups.upload`, full), adds 1 % more messages and backs up again as an increment;
 * then the phone is "lost": the bank resets the customer, a new device with a fresh FileKeyStore
 * restores the chain (`device.backups.restore`, fetch + check every part + write every record).
 * Under a recovery key, then under a passphrase (Argon2id at the backup defaults, RFC 9106
 * m = 64 MiB, t = 3, p = 4). The peer, measured in the same run: copying the same records from one
 * FileKeyStore to another with no backup at all — what a restore costs at the least on this store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { exportJWK, generateKeyPair } from 'jose';
import { Device, generateRecoveryKey, issueEnrollmentToken, type BackupSecret, type KeyStore } from '@parley/client';
import { FileKeyStore, nodeRuntime } from '@parley/client/node';
import { startServer } from '@parley/server';

const ADMIN = 'bench-admin-token-backup-device-0001';
const CONVERSATION = 'N7nEky5FQNU6nj0PsL1dVgIuE6JicJacmk9kKXqR07I';

export interface DeviceBackupRun {
  readonly name: string;
  readonly messages: number;
  readonly fullBytes: number;
  readonly fullUploadMs: number;
  readonly incrementMessages: number;
  readonly incrementBytes: number;
  readonly incrementUploadMs: number;
  /** List, fetch both parts, check them, write every record into the new device's store. */
  readonly restoreMs: number;
  readonly restoredMessages: number;
}

function messageRecord(i: number): { name: string; value: Uint8Array } {
  const at = 1_790_000_000_000 + i * 60_000;
  const sortKey = `${String(at).padStart(15, '0')}-m${i.toString(36)}`;
  const record = {
    id: `m${i.toString().padStart(8, '0')}`,
    class: 'alert',
    text: `Example Bank: card ending 4821 charged EUR ${(i % 997) + 0.5} at Merchant ${i % 101}. Not you? Call us.`,
    sentAt: new Date(at).toISOString(),
    sender: { identityId: 'bench:sender', deviceId: 'd-sender' },
  };
  return { name: `conv/${CONVERSATION}/msg/${sortKey}`, value: new TextEncoder().encode(JSON.stringify(record)) };
}

async function fill(store: KeyStore, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 500) {
    const ops = [];
    for (let j = i; j < Math.min(to, i + 500); j++) ops.push({ op: 'put' as const, ...messageRecord(j) });
    await store.write(ops);
  }
}

/**
 * @example
 * const runs = await runDeviceBackupBench({ messages: 2_000, onProgress: console.log })
 */
export async function runDeviceBackupBench(o: { messages: number; onProgress: (line: string) => void }): Promise<{ runs: DeviceBackupRun[]; peer: { name: string; copyMs: number } }> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-bench-backup-'));
  const server = await startServer({ adminToken: ADMIN, log: { level: 'warn' }, database: { kind: 'pglite', dataDir: join(dir, 'server') } });
  const stores: FileKeyStore[] = [];
  const openStore = async (name: string) => {
    const store = await FileKeyStore.open(join(dir, name), { key: crypto.getRandomValues(new Uint8Array(32)) });
    stores.push(store);
    return store;
  };
  try {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    await fetch(`${server.url}/v1/admin/businesses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ id: 'bench', name: 'Bench', enrollmentKeys: [{ kid: 'k1', jwk: await exportJWK(publicKey) }] }),
    });
    const enroll = async (subject: string, store: KeyStore, reset: boolean) =>
      Device.enroll({
        serverUrl: server.url,
        enrollmentToken: await issueEnrollmentToken(privateKey, 'k1', { businessId: 'bench', subject, kind: 'customer', ...(reset ? { reset: true } : {}) }),
        store,
        keyPackageBatch: 2,
        ...nodeRuntime,
      });
    const runs: DeviceBackupRun[] = [];
    const secrets: [string, BackupSecret][] = [
      ['recovery key', { recoveryKey: generateRecoveryKey() }],
      ['passphrase (Argon2id m=64 MiB t=3 p=4)', { passphrase: 'correct horse battery staple' }],
    ];
    for (const [index, [name, secret]] of secrets.entries()) {
      const subject = `backup-${index}`;
      const store = await openStore(`phone-${index}`);
      const phone = await enroll(subject, store, false);
      await fill(store, 0, o.messages);
      let t0 = performance.now();
      const full = await phone.backups.upload(secret, { incremental: true });
      const fullUploadMs = performance.now() - t0;
      const more = Math.max(1, Math.round(o.messages / 100));
      await fill(store, o.messages, o.messages + more);
      t0 = performance.now();
      const increment = await phone.backups.upload(secret, { incremental: true });
      const incrementUploadMs = performance.now() - t0;
      if (!increment.incremental || increment.messages !== more) throw new Error(`expected an increment of ${more} messages`);
      await phone.close();
      const newPhone = await enroll(subject, await openStore(`new-phone-${index}`), true);
      t0 = performance.now();
      const restored = await newPhone.backups.restore(secret);
      const restoreMs = performance.now() - t0;
      if (restored.messages !== o.messages + more) throw new Error(`restored ${restored.messages} of ${o.messages + more}`);
      await newPhone.close();
      const run = {
        name,
        messages: o.messages,
        fullBytes: full.size,
        fullUploadMs: Math.round(fullUploadMs),
        incrementMessages: more,
        incrementBytes: increment.size,
        incrementUploadMs: Math.round(incrementUploadMs),
        restoreMs: Math.round(restoreMs),
        restoredMessages: restored.messages,
      };
      o.onProgress(
        `backup/device/${name}: full ${o.messages} messages ${(run.fullBytes / 1024).toFixed(0)} KiB in ${run.fullUploadMs} ms; increment ${more} in ${run.incrementUploadMs} ms (${(run.incrementBytes / 1024).toFixed(0)} KiB); restore ${run.restoreMs} ms`,
      );
      runs.push(run);
    }
    // Peer: the same records copied store to store (read every record, write it into a fresh store).
    const source = stores[0]!;
    const target = await openStore('copy');
    const t0 = performance.now();
    const names = (await source.list('conv/')).filter((n) => n.includes('/msg/'));
    for (let i = 0; i < names.length; i += 200) {
      const ops = [];
      for (const n of names.slice(i, i + 200)) ops.push({ op: 'put' as const, name: n, value: (await source.get(n))! });
      await target.write(ops);
    }
    const copyMs = Math.round(performance.now() - t0);
    o.onProgress(`backup/device/peer: copied ${names.length} records store to store in ${copyMs} ms`);
    return { runs, peer: { name: 'the same message records copied FileKeyStore to FileKeyStore, no backup', copyMs } };
  } finally {
    for (const s of stores) await s.close().catch(() => {});
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Zero-knowledge check: run the demo scenario with a random marker in every
 * plaintext (the attached PDF and photo included), then search every table of the server's
 * database, every file of its blob store and every line the server logged for the marker and
 * for every device's private keys (raw, hex, base64, base64url). Runs on the engine selected by
 * PARLEY_TEST_ENGINE (PostgreSQL: blobs in `blob_chunks`; PGlite: blob files).
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, randomBytes, toBase64, toBase64Url, toHex, utf8 } from '@parley/core';
import type { KeyStore } from '@parley/client';
import type { Database } from '@parley/server';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';
import { runScenario } from '../src/demo/scenario.js';
import { demoRouting, freePort, startLocalProviders, startSecondFactorInbox, type LocalProviders, type SecondFactorInbox } from '../src/demo/providers.js';

let t: TestServer;
let work: string;
let providers: LocalProviders;
let secondFactor: SecondFactorInbox;

beforeAll(async () => {
  const port = await freePort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, rbmAutoDeliver: true });
  secondFactor = await startSecondFactorInbox();
  t = await startTestServer({ port, routing: { channels: providers.channels, defaultBusiness: demoRouting(secondFactor) } });
  work = await mkdtemp(join(tmpdir(), 'parley-privacy-'));
});
afterAll(async () => {
  await t?.stop();
  await providers?.close();
  await secondFactor?.close();
  await rm(work, { recursive: true, force: true });
});

interface Needle {
  what: string;
  bytes: Uint8Array;
}

function textForms(bytes: Uint8Array): string[] {
  return [toHex(bytes), toBase64(bytes), toBase64Url(bytes)];
}

/** Every value of every table, as raw bytes (bytea) or text (everything else). */
async function dumpDatabase(db: Database): Promise<{ table: string; bytes: Uint8Array[]; texts: string[] }[]> {
  const tables = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
  );
  const out = [];
  for (const { table_name } of tables) {
    const rows = await db.query<Record<string, unknown>>(`SELECT * FROM ${table_name}`);
    const bytes: Uint8Array[] = [];
    const texts: string[] = [];
    for (const row of rows) {
      for (const value of Object.values(row)) {
        if (value instanceof Uint8Array) bytes.push(value);
        else if (value !== null && value !== undefined) texts.push(typeof value === 'string' ? value : JSON.stringify(value));
      }
    }
    out.push({ table: table_name, bytes, texts });
  }
  return out;
}

/** The blob store's files (the `fs` store) as one more "table" of raw bytes. */
async function dumpBlobFiles(server: TestServer['server']): Promise<{ table: string; bytes: Uint8Array[]; texts: string[] }[]> {
  const dir = server.blobs.store.dir;
  if (dir === undefined) return [];
  const files = await readdir(dir);
  return [{ table: 'blob files', bytes: await Promise.all(files.map(async (f) => new Uint8Array(await readFile(join(dir, f))))), texts: [] }];
}

function findings(dump: Awaited<ReturnType<typeof dumpDatabase>>, logs: readonly string[], needles: readonly Needle[]): string[] {
  const found: string[] = [];
  for (const n of needles) {
    const raw = Buffer.from(n.bytes);
    const forms = textForms(n.bytes);
    for (const t of dump) {
      if (t.bytes.some((b) => Buffer.from(b).indexOf(raw) >= 0)) found.push(`${n.what} as bytes in ${t.table}`);
      if (t.texts.some((s) => forms.some((f) => s.includes(f)))) found.push(`${n.what} encoded in ${t.table}`);
    }
    if (logs.some((l) => forms.some((f) => l.includes(f)))) found.push(`${n.what} in the server log`);
  }
  return found;
}

describe('privacy: the server never holds plaintext or a private key', () => {
  it('finds neither marker nor private key in any table or log line', async () => {
    const marker = `MARKER-${toHex(randomBytes(12))}`;
    const markerNeedles: Needle[] = [{ what: 'plaintext marker', bytes: utf8(marker) }];
    const secrets: Needle[] = [];
    const openings: Needle[] = [];
    const wiped: string[] = [];
    let midRunCiphertextBytes = 0;
    let midRunFindings: string[] = [];

    const result = await runScenario({
      serverUrl: t.url,
      adminToken: ADMIN_TOKEN,
      workDir: work,
      marker,
      fastKeyStores: true,
      channels: { providers, secondFactor },
      checkpoint: async () => {
        // While the tablet is offline its two messages sit in the database as ciphertext.
        const dump = await dumpDatabase(t.server.db);
        midRunCiphertextBytes = dump.find((d) => d.table === 'envelopes')!.bytes.reduce((n, b) => n + b.length, 0);
        midRunFindings = findings(dump, t.logs, markerNeedles);
      },
      inspectStore: async (label: string, store: KeyStore) => {
        const record = await store.get('device');
        if (!record) {
          // A revoked device wiped itself (its keys were collected when it enrolled): nothing is left.
          expect(await store.list('')).toEqual([]);
          wiped.push(label);
          return;
        }
        const device = JSON.parse(Buffer.from(record).toString('utf8'));
        secrets.push({ what: `${label} identity private key`, bytes: fromBase64(device.identityPrivateKey) });
        secrets.push({ what: `${label} MLS signature private key`, bytes: fromBase64(device.signaturePrivateKey) });
        // The openings of business messages are as secret as the text: they prove it.
        for (const name of await store.list('audited/')) {
          const audited = JSON.parse(Buffer.from((await store.get(name))!).toString('utf8'));
          openings.push({ what: `${label} opening of ${name}`, bytes: fromBase64(audited.opening) });
        }
        for (const name of await store.list('kp/')) {
          const kp = JSON.parse(Buffer.from((await store.get(name))!).toString('utf8'));
          secrets.push({ what: `${label} KeyPackage private key`, bytes: fromBase64(kp.privateKey) });
        }
      },
    });
    expect(result.steps.filter((s) => !s.ok)).toEqual([]);
    expect(result.ok).toBe(true);
    expect(wiped.sort()).toEqual(["Alice's lost phone", "Alice's tablet"]);
    expect(result.messages.length).toBeGreaterThanOrEqual(7);
    // Every message the customers read carries the marker (the invitation and the blocked notice were never delivered).
    for (const m of result.messages.filter((m) => m.path !== 'invited' && m.path !== 'blocked')) expect(m.text).toContain(marker);
    expect(new Set(result.messages.map((m) => m.path))).toEqual(new Set(['app', 'push-app', 'rcs', 'sms-token-app', 'sms-token-web', 'invited', 'blocked']));
    // Nothing any provider received (push, RCS, SMS) holds the marker or a secret.
    const channelBytes = providers.receivedBytes();
    expect(channelBytes.length).toBeGreaterThan(1000);
    expect(channelBytes.includes(Buffer.from(marker))).toBe(false);
    const inChannels = [...secrets, ...openings].filter((n) => channelBytes.includes(Buffer.from(n.bytes)) || textForms(n.bytes).some((f) => channelBytes.includes(Buffer.from(f))));
    expect(inChannels.map((n) => n.what)).toEqual([]);
    expect(secrets.length).toBeGreaterThanOrEqual(5 * 3);
    // 4 alerts and codes from the bank, each held by the sender and by every receiving customer device.
    expect(openings.length).toBeGreaterThanOrEqual(4 * 2);
    expect(result.evidence?.report.ok).toBe(true);

    expect(midRunCiphertextBytes).toBeGreaterThan(0);
    expect(midRunFindings).toEqual([]);
    const dump = [...(await dumpDatabase(t.server.db)), ...(await dumpBlobFiles(t.server))];
    expect(dump.map((d) => d.table)).toEqual(expect.arrayContaining(['envelopes', 'devices', 'key_packages', 'groups', 'audit_commitments', 'audit_receipts']));
    // The statement and the photo are in the blob store, as ciphertext only.
    const blobBytes = dump.filter((d) => d.table === 'blob files' || d.table === 'blob_chunks').flatMap((d) => d.bytes).reduce((n, b) => n + b.length, 0);
    expect(blobBytes).toBeGreaterThan(1000);
    expect(result.messages.filter((m) => m.attachments?.length).map((m) => m.attachments![0]!.mime)).toEqual(['application/pdf', 'image/png']);
    expect(dump.find((d) => d.table === 'audit_commitments')!.texts.length).toBeGreaterThan(0);
    expect(t.logs.length).toBeGreaterThan(0);
    expect(findings(dump, t.logs, [...markerNeedles, ...secrets, ...openings])).toEqual([]);

    // Control: the same search does find a needle that is there.
    const planted: Needle = { what: 'planted', bytes: utf8(`PLANTED-${toHex(randomBytes(8))}`) };
    const withPlant = [...dump, { table: 'control', bytes: [new Uint8Array([1, ...planted.bytes, 2])], texts: [toBase64(secrets[0]!.bytes)] }];
    expect(findings(withPlant, [], [planted, secrets[0]!])).toEqual(['planted as bytes in control', `${secrets[0]!.what} encoded in control`]);
  });
});

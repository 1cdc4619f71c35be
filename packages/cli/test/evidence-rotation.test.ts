/**
 * Evidence across a log-key rotation, end to end (docs/log-key-rotation.md, "Evidence
 * bundles"): a real server on loopback, restarted on the same address and database as an
 * operator would (`parley log rotate-key` → restart → `--finish` → restart). A message's
 * evidence exported after the rotation carries both logs' announcements and verifies
 * (`parley audit verify`) with the keys pinned BEFORE the rotation — checkpoints signed by
 * the new keys alone, key-log entries attested by the old key and by the new one — and with
 * the new keys; without the announcements it does not verify under the old keys.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceBundle, type EvidenceReport } from '@parley/core/audit';
import { openNote, parseVerifierKey } from '@parley/core/tlog';
import type { Device, DeviceEvent, Sender } from '@parley/client';
import { PostgresDatabase, type ServerConfigInput } from '@parley/server';
import { ADMIN_TOKEN, DATABASE_URL, ENGINE, startTestServer, type TestServer } from '@parley/test-kit/server';
import { createBusiness, enroll, enrollSender, EventLog } from '@parley/test-kit/sdk';
import { runAudit } from '../src/commands/audit.js';
import { runLog } from '../src/commands/log.js';

const KEYS_ORIGIN = 'evidence-rotation.test/logs/keys';
const AUDIT_ORIGIN = 'evidence-rotation.test/logs/audit';
const TEXT = 'Example Bank: payment of EUR 1,250.00 to ACME GmbH approved.';

let dir: string;
let keysDir: string;
let database: ServerConfigInput['database'];
let schema: string | undefined;
let t: TestServer | undefined;
let port = 0;
let sender: Sender;
let phone: Device;
let messageId: string;
/** The message's evidence exported before the rotation. */
let before: EvidenceBundle;
/** Pinned before the rotation. */
let keys0: string;
let audit0: string;
let vrfKey: string;

async function start(): Promise<TestServer> {
  const server = await startTestServer({ database, port, keys: { dir: keysDir }, tlog: { origin: KEYS_ORIGIN, auditOrigin: AUDIT_ORIGIN } });
  port = Number(new URL(server.url).port);
  return server;
}
async function restart(): Promise<void> {
  await t?.server.stop();
  t = await start();
}

async function run(command: typeof runAudit, argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await command(argv, { out: (l) => out.push(l), err: (l) => err.push(l), readStdin: async () => new Uint8Array() });
  return { code, out, err };
}
const rotateKey = async (...argv: string[]) => expect((await run(runLog, ['rotate-key', '--key-dir', keysDir, ...argv])).code).toBe(0);

/** Exports the message's evidence as the operator (`parley audit export`). */
async function exportBundle(name: string): Promise<{ file: string; bundle: EvidenceBundle }> {
  const file = join(dir, `${name}.json`);
  const exported = await run(runAudit, ['export', '--message', messageId, '--server', t!.url, '--admin-token', ADMIN_TOKEN, '--out', file]);
  expect(exported.code).toBe(0);
  return { file, bundle: JSON.parse(await readFile(file, 'utf8')) as EvidenceBundle };
}
/** `parley audit verify --json` with two log keys (matched to the logs by name). */
async function verify(file: string, auditKey: string, keyLogKey: string): Promise<{ code: number; report: EvidenceReport }> {
  const r = await run(runAudit, ['verify', file, '--log-key', auditKey, '--log-key', keyLogKey, '--vrf-key', vrfKey, '--json']);
  return { code: r.code, report: JSON.parse(r.out[0]!) as EvidenceReport };
}
const failed = (report: EvidenceReport) => Object.fromEntries(report.checks.filter((c) => !c.ok).map((c) => [c.name, c.code]));
const detail = (report: EvidenceReport, name: string) => report.checks.find((c) => c.name === name)?.detail ?? '';
const signs = (key: string, note: string) => {
  try {
    openNote(note, [parseVerifierKey(key)]);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-evidence-rotation-'));
  keysDir = join(dir, 'keys');
  if (ENGINE === 'postgres') {
    schema = `t_evrot_${Date.now().toString(36)}`;
    const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
    await admin.exec(`CREATE SCHEMA ${schema}`);
    await admin.close();
    database = { kind: 'postgres', url: DATABASE_URL, schema };
  } else {
    database = { kind: 'pglite', dataDir: join(dir, 'data') };
  }
  t = await start();
  keys0 = t.server.keyLog.verifierKey;
  audit0 = t.server.auditLog.verifierKey;
  vrfKey = ((await (await fetch(`${t.url}/v1/keys`)).json()) as { vrfPublicKey: string }).vrfPublicKey;
  const bank = await createBusiness(t.url, 'evidence-rotation-bank');
  sender = await enrollSender(t.url, bank);
  phone = await enroll(t.url, bank, 'c-1', 'customer');
  const events = new EventLog(phone);
  await Promise.all([sender.connect(), phone.connect()]);
  messageId = (await sender.send('c-1', TEXT, { class: 'alert' })).messageId;
  await events.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === messageId);
  await Promise.all([sender.device.disconnect(), phone.disconnect()]);
  before = (await exportBundle('before')).bundle;

  // The rotation of both logs' keys, as the operator runs it, with a restart after each step.
  await rotateKey('--log', 'audit');
  await rotateKey('--log', 'keys');
  await restart();
  await rotateKey('--log', 'audit', '--finish');
  await rotateKey('--log', 'keys', '--finish');
  await restart();
  // After the finish: the customer enrolls a second device (a key-log entry attested by the
  // new key), and the audit log grows, so that both logs' checkpoints are by the new keys alone.
  await (await enroll(t!.url, bank, 'c-1', 'customer')).close();
  const id = await t!.server.auditLog.appendNow(utf8('{"evidence-rotation-test":1}'));
  await t!.server.auditLog.waitSequenced(id);
}, 180_000);

afterAll(async () => {
  await phone?.close();
  await sender?.close();
  await t?.server.stop();
  if (schema !== undefined) {
    const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
    await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
    await admin.close();
  }
  await rm(dir, { recursive: true, force: true });
});

describe('evidence exported after a finished log-key rotation', () => {
  it('before the rotation the bundle carries no announcements and verifies under the keys the server had', async () => {
    expect(before).not.toHaveProperty('auditRotations');
    expect(before.keyLog).not.toHaveProperty('rotations');
    expect(verifyEvidenceBundle(before, { auditLogKey: audit0, keyLogKey: keys0, vrfPublicKey: vrfKey }).ok).toBe(true);
  });

  it('carries both logs’ announcements; its checkpoints are signed by the new keys alone', async () => {
    const { bundle } = await exportBundle('after');
    const [keys1, audit1] = [t!.server.keyLog.verifierKey, t!.server.auditLog.verifierKey];
    expect([keys1, audit1]).not.toEqual([keys0, audit0]);
    expect(bundle.auditRotations).toEqual([await (await fetch(`${t!.url}/logs/audit/key-rotations`)).text()]);
    expect(bundle.keyLog.rotations).toEqual([await (await fetch(`${t!.url}/logs/keys/key-rotations`)).text()]);
    expect(bundle.auditRotations![0]).toContain(`\nold ${audit0}\nnew ${audit1}\n`);
    expect([signs(audit1, bundle.auditCheckpoint), signs(audit0, bundle.auditCheckpoint)]).toEqual([true, false]);
    expect([signs(keys1, bundle.keyLog.checkpoint), signs(keys0, bundle.keyLog.checkpoint)]).toEqual([true, false]);
  });

  it('verifies with the keys pinned before the rotation (parley audit verify), following the announcements', async () => {
    const { file, bundle } = await exportBundle('pinned-before');
    const { code, report } = await verify(file, audit0, keys0);
    expect(failed(report)).toEqual({});
    expect(code).toBe(0);
    expect(detail(report, 'audit-checkpoint-signature')).toMatch(/followed 1 announced rotation/);
    expect(detail(report, 'key-log-checkpoint-signature')).toMatch(/followed 1 announced rotation/);
    // The customer's first device was attested by the old key, the second by the new one.
    const customer = bundle.keyLog.identities.find((l) => l.identityId.endsWith(':c-1'))!;
    expect(customer.entries.length).toBeGreaterThanOrEqual(2);
    expect(detail(report, `identity:${customer.identityId}`)).toMatch(/attestations checked under the 2 keys of the announced chain/);
  });

  it('verifies with the new keys too (the old key’s attestations through the announcement)', async () => {
    const { file } = await exportBundle('pinned-after');
    const { code, report } = await verify(file, t!.server.auditLog.verifierKey, t!.server.keyLog.verifierKey);
    expect(failed(report)).toEqual({});
    expect(code).toBe(0);
    expect(detail(report, 'key-log-checkpoint-signature')).toMatch(/1 announced predecessor of the trusted key accepted for attestations/);
  });

  it('without the announcements it does not verify under the old keys', async () => {
    const { bundle } = await exportBundle('stripped');
    const { auditRotations: _a, ...rest } = bundle;
    const { rotations: _k, ...keyLog } = bundle.keyLog;
    const file = join(dir, 'stripped-edited.json');
    await writeFile(file, JSON.stringify({ ...rest, keyLog }));
    const { code, report } = await verify(file, audit0, keys0);
    expect(code).toBe(1);
    expect(failed(report)).toMatchObject({
      'audit-checkpoint-signature': 'bad_checkpoint_signature',
      'key-log-checkpoint-signature': 'bad_checkpoint_signature',
    });
  });

  it('the SDK’s exportEvidence passes the announcements through (with the reveal)', async () => {
    const bundle = await phone.exportEvidence(messageId, { reveal: true });
    expect(bundle.plaintext).toBe(TEXT);
    expect(bundle.auditRotations).toHaveLength(1);
    expect(bundle.keyLog.rotations).toHaveLength(1);
    const report = verifyEvidenceBundle(bundle, { auditLogKey: audit0, keyLogKey: keys0, vrfPublicKey: vrfKey });
    expect(failed(report)).toEqual({});
    expect(report.checks.find((c) => c.name === 'plaintext-matches-commitment')?.ok).toBe(true);
  });
});

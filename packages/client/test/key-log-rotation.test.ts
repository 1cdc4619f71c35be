/**
 * The SDK follows a rotation of the key-log key (docs/log-key-rotation.md): a phone and a
 * business sender enrolled before the rotation keep verifying lookups across the
 * transition (both signatures) and after the finish (the new key alone; entries attested
 * by the old key before, by the new key after), against a real server restarted on the
 * same address and database; the followed key survives in the device's store. A
 * checkpoint by a key nobody announced — even the retired key alone after the finish — is
 * `key_log_bad_signature` (`unannounced_key_change`), never accepted.
 */
import { link, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCheckpoint, generateSignerKey, parseSignerKey, parseVerifierKey, signNote } from '@parley/core/tlog';
import type { Device } from '../src/index.js';
import { createBusiness, enroll, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

const ORIGIN = 'sdk-rotation.test/logs/keys';
let dir: string;
let keysDir: string;
let t: TestServer | undefined;
let port = 0;
let bank: Business;
let phone: Device;
let sender: Device;
let oldKey: string;
let newKey: string;
let subjects = 0;

async function restart(): Promise<void> {
  await t?.server.stop();
  t = await startTestServer({ database: { kind: 'pglite', dataDir: join(dir, 'data') }, port, keys: { dir: keysDir }, tlog: { origin: ORIGIN } });
  port = Number(new URL(t.url).port);
}

/** A customer enrolled now (its key-log entry attested by the key current now). */
async function customer(): Promise<Device> {
  return enroll(t!.url, bank, `c-${++subjects}`, 'customer');
}

const approved = async (viewer: Device, of: Device) => (await viewer.keys.devicesOf(of.identityId)).filter((d) => d.status === 'approved').map((d) => d.deviceId);
const statuses = async (viewer: Device, of: Device) => (await viewer.keys.devicesOf(of.identityId)).map((d) => [d.deviceId, d.status]);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-sdk-rotation-'));
  keysDir = join(dir, 'keys');
  await restart();
  bank = await createBusiness(t!.url, 'sdk-rotation-bank');
  phone = await customer();
  sender = await enroll(t!.url, bank, 'sender-1', 'sender');
  oldKey = t!.server.keyLog.verifierKey;
}, 120_000);

afterAll(async () => {
  await phone?.close();
  await sender?.close();
  await t?.server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a device enrolled before a key-log key rotation', () => {
  it('keeps verifying during the transition (both signatures) and after the finish (the new key alone)', async () => {
    const before = await customer();
    // parley log rotate-key: the next key file, then a restart.
    const next = generateSignerKey(ORIGIN).signerKey;
    newKey = parseSignerKey(next).verifierKey;
    await writeFile(join(keysDir, 'tlog-keys.next.key'), `${next}\n`, { mode: 0o600 });
    await restart();
    const during = await customer();
    expect(await approved(phone, phone)).toEqual([phone.deviceId]);
    expect(await approved(sender, during)).toEqual([during.deviceId]);

    // parley log rotate-key --finish: the old key kept as retired, the next key current; a restart.
    const retired = join(keysDir, `tlog-keys.retired-${parseVerifierKey(oldKey).keyHash.toString(16).padStart(8, '0')}.key`);
    await link(join(keysDir, 'tlog-keys.key'), retired);
    await rename(join(keysDir, 'tlog-keys.next.key'), join(keysDir, 'tlog-keys.key'));
    await restart();
    expect(t!.server.keyLog.verifierKey).toBe(newKey);
    const after = await customer();
    // The phone's own identity: its entry attested by the old key, a second device's by the new one.
    const tablet = await enroll(t!.url, bank, phone.identityId.split(':')[1]!, 'customer');
    expect(await statuses(phone, phone)).toEqual([
      [phone.deviceId, 'approved'],
      [tablet.deviceId, 'pending'],
    ]);
    expect(await approved(phone, sender)).toEqual([sender.deviceId]);
    // The sender follows the whole log: entries by the old key, the transition and the new key.
    for (const c of [before, during, after]) expect(await approved(sender, c)).toEqual([c.deviceId]);
    expect(await approved(sender, sender)).toEqual([sender.deviceId]);
    // A device enrolled after the finish learns the new key at enrollment and sees every entry.
    expect(await approved(after, sender)).toEqual([sender.deviceId]);
    await tablet.close();
    for (const d of [before, during, after]) await d.close();
  }, 120_000);

  it('refuses a checkpoint by a key nobody announced, even the retired key alone: key_log_bad_signature (unannounced_key_change)', async () => {
    const head = await t!.server.keyLog.latestCheckpoint();
    const retired = parseSignerKey((await readFile(join(keysDir, `tlog-keys.retired-${parseVerifierKey(oldKey).keyHash.toString(16).padStart(8, '0')}.key`), 'utf8')).trim());
    const rogue = parseSignerKey(generateSignerKey(ORIGIN).signerKey);
    try {
      for (const signer of [rogue, retired]) {
        const forged = await signNote(formatCheckpoint({ origin: ORIGIN, treeSize: head.size, rootHash: head.rootHash }), [signer]);
        await t!.server.db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', ['keys', forged]);
        for (const viewer of [phone, sender]) {
          await expect(viewer.keys.devicesOf(phone.identityId)).rejects.toMatchObject({ code: 'key_log_bad_signature', details: { reason: 'unannounced_key_change' } });
        }
      }
    } finally {
      await t!.server.db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', ['keys', head.note]);
    }
    expect(await approved(phone, phone)).toEqual([phone.deviceId]);
  }, 60_000);
});

/**
 * `keys.signer` (`parley serve --signer`): both logs' checkpoint keys live only in a
 * SoftHSM2 token (generated there on first start), the VRF key only wrapped by the token's
 * AES key. Checkpoints verify with the verifier key from `/v1/logs` through core's
 * `openNote` and, independently, with node:crypto over the note text (what a standard
 * Ed25519 tool checks). A restart on the same token and database keeps the keys, old
 * checkpoints still verify, no `tlog-*.key` or plain `vrf.key` file is ever written, and
 * a server whose token key does not sign the stored log refuses to start.
 */
import { createPublicKey, verify } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNote, parseVerifierKey } from '@parley/core/tlog';
import { PostgresDatabase, type DatabaseConfig } from '../src/index.js';
import { loadVrfKey } from '../src/directory/vrf-key.js';
import { loadWrappedVrfKey } from '../src/directory/vrf-key-wrapped.js';
import { closeHsmKeys, openHsmLogSigner } from '../src/tlog/hsm-keys.js';
import { ENGINE, DATABASE_URL, api, startTestServer } from '@parley/test-kit/server';
import { createBusiness, enroll } from '@parley/test-kit/sdk';
import { softHsmStatus, startSoftHsm, type SoftHsm } from '@parley/test-kit/softhsm';

const hsm = softHsmStatus();
if (!hsm.ok) console.log(hsm.note);

/** Verifies a signed note's first signature the way a standard tool would: Ed25519 over the note text, by the raw public key. */
function verifyWithNodeCrypto(note: string, verifierKey: string): boolean {
  const typed = Buffer.from(verifierKey.split('+').slice(2).join('+'), 'base64'); // 0x01 ‖ 32-byte public key
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), typed.subarray(1)]), format: 'der', type: 'spki' });
  const split = note.lastIndexOf('\n\n');
  const text = note.slice(0, split + 1);
  const line = note.slice(split + 2).split('\n')[0]!; // "— <name> <base64(key id ‖ signature)>"
  const raw = Buffer.from(line.split(' ')[2]!, 'base64');
  return verify(null, Buffer.from(text, 'utf8'), key, raw.subarray(4));
}

describe.skipIf(!hsm.ok)('transparency logs signed by keys in a PKCS#11 token (SoftHSM2)', () => {
  let token: SoftHsm;
  let spare: SoftHsm;
  let dir: string;
  let database: DatabaseConfig;
  let dropSchema: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    token = await startSoftHsm({ label: 'parley-server' });
    spare = await startSoftHsm({ label: 'parley-other' });
    dir = await mkdtemp(join(tmpdir(), 'parley-hsm-server-'));
    if (ENGINE === 'postgres') {
      const schema = `t_hsm_${Date.now().toString(36)}`;
      const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
      await admin.exec(`CREATE SCHEMA ${schema}`);
      await admin.close();
      database = { kind: 'postgres', url: DATABASE_URL, schema };
      dropSchema = async () => {
        const a = new PostgresDatabase({ connectionString: DATABASE_URL });
        await a.exec(`DROP SCHEMA ${schema} CASCADE`);
        await a.close();
      };
    } else {
      database = { kind: 'pglite', dataDir: join(dir, 'data') };
    }
  });
  afterAll(async () => {
    await dropSchema?.();
    await rm(dir, { recursive: true, force: true });
    await token?.cleanup();
    await spare?.cleanup();
  });

  const keysDir = () => join(dir, 'keys');
  const start = (signer = token.uri(), extra: { migrateVrfKey?: boolean } = {}) => startTestServer({ database, keys: { dir: keysDir(), signer, ...extra } });

  it('signs both logs in the token; checkpoints verify with openNote and with node:crypto; a restart keeps the keys', async () => {
    let t = await start();
    let keyVkey: string;
    let auditVkey: string;
    let notes: { keys: string; audit: string };
    try {
      // Into the key log: a device's enrollment (an entry attested by the token key; the device verifies its own keys in the log).
      const bank = await createBusiness(t.url, 'hsm-bank');
      const device = await enroll(t.url, bank, 'customer-1', 'customer');
      await device.close();
      // Into the audit log.
      const pending = await t.server.auditLog.appendNow(new TextEncoder().encode('an audit entry'));
      await t.server.auditLog.waitSequenced(pending);

      const logs = (await api(t.url, 'GET', '/v1/logs')).body.logs as { name: string; verifierKey: string }[];
      keyVkey = logs.find((l) => l.name === 'keys')!.verifierKey;
      auditVkey = logs.find((l) => l.name === 'audit')!.verifierKey;
      notes = {
        keys: await (await fetch(`${t.url}/logs/keys/checkpoint`)).text(),
        audit: await (await fetch(`${t.url}/logs/audit/checkpoint`)).text(),
      };
      for (const [note, vkey] of [
        [notes.keys, keyVkey],
        [notes.audit, auditVkey],
      ] as const) {
        const opened = openNote(note, [parseVerifierKey(vkey)]);
        expect(Number(opened.text.split('\n')[1])).toBeGreaterThan(0);
        expect(verifyWithNodeCrypto(note, vkey)).toBe(true);
        expect(verifyWithNodeCrypto(note.replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`), vkey)).toBe(false);
      }
      expect(keyVkey).not.toBe(auditVkey);
      // The operators' copies of the verifier keys; no private key file, no plain VRF key.
      expect((await readFile(join(keysDir(), 'tlog-keys.vkey'), 'utf8')).trim()).toBe(keyVkey);
      expect((await readFile(join(keysDir(), 'tlog-audit.vkey'), 'utf8')).trim()).toBe(auditVkey);
      const files = await readdir(keysDir());
      expect(files.filter((f) => /^tlog-.*\.key$/.test(f) || f === 'vrf.key')).toEqual([]);
      expect(files).toContain('vrf.key.wrapped');
      expect(t.logs.some((l) => l.includes('generated the transparency log signing key in the token'))).toBe(true);
      expect(t.logs.join('\n')).not.toContain(token.pin);
    } finally {
      await t.stop();
    }

    const wrappedBefore = await readFile(join(keysDir(), 'vrf.key.wrapped'), 'utf8');
    t = await start();
    try {
      const logs = (await api(t.url, 'GET', '/v1/logs')).body.logs as { name: string; verifierKey: string }[];
      expect(logs.find((l) => l.name === 'keys')!.verifierKey).toBe(keyVkey);
      expect(logs.find((l) => l.name === 'audit')!.verifierKey).toBe(auditVkey);
      // Old checkpoints still verify under the (same) keys; new ones too.
      openNote(notes.keys, [parseVerifierKey(keyVkey)]);
      openNote(notes.audit, [parseVerifierKey(auditVkey)]);
      const pending = await t.server.keyLog.appendNow(new TextEncoder().encode('after restart'));
      await t.server.keyLog.waitSequenced(pending);
      const note = await (await fetch(`${t.url}/logs/keys/checkpoint`)).text();
      openNote(note, [parseVerifierKey(keyVkey)]);
      expect(verifyWithNodeCrypto(note, keyVkey)).toBe(true);
      // Same VRF key (unchanged wrapped file), no new files.
      expect(await readFile(join(keysDir(), 'vrf.key.wrapped'), 'utf8')).toBe(wrappedBefore);
      expect((await readdir(keysDir())).filter((f) => /^tlog-.*\.key$/.test(f) || f === 'vrf.key')).toEqual([]);
      expect(t.logs.some((l) => l.includes('signing the transparency log with a key in the token'))).toBe(true);
    } finally {
      await t.stop();
    }
  });

  it('refuses to start on another token or without --signer (stored checkpoints do not verify), and refuses bad URIs', async () => {
    // Another token: new keys there, but the stored log was signed by the first token's keys.
    await expect(start(spare.uri())).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
    // Without --signer: new key files do not sign the stored log either (and the wrapped VRF
    // key is never replaced by a plain one: the last test checks loadVrfKey's refusal).
    await expect(startTestServer({ database, keys: { dir: keysDir() } })).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
    expect((await readdir(keysDir())).includes('vrf.key')).toBe(false);
    // A URI naming an object, or with an inline PIN, is refused before anything starts.
    await expect(startTestServer({ database, keys: { dir: keysDir(), signer: token.uri('some-object') } })).rejects.toMatchObject({ code: 'invalid_config' });
    await expect(startTestServer({ database, keys: { dir: keysDir(), signer: `pkcs11:token=${token.tokenLabel}?pin-value=${token.pin}` } })).rejects.toMatchObject({ code: 'pkcs11_pin_inline' });
  });

  it('a plain vrf.key is refused next to --signer, and migrated into the token on request', async () => {
    const other = join(dir, 'migrate-keys');
    const seed = Buffer.alloc(32, 7).toString('base64');
    await mkdir(other, { mode: 0o700 });
    await writeFile(join(other, 'vrf.key'), `${seed}\n`, { mode: 0o600 });
    await chmod(join(other, 'vrf.key'), 0o600);
    const log = pino({ level: 'silent' });
    const plain = await loadVrfKey(other, log);
    await expect(loadWrappedVrfKey({ dir: other, signer: token.uri(), log })).rejects.toMatchObject({ code: 'vrf_key_plain_with_signer' });
    const migrated = await loadWrappedVrfKey({ dir: other, signer: token.uri(), migrate: true, log });
    expect(Buffer.from(migrated.publicKey).equals(Buffer.from(plain.publicKey))).toBe(true);
    expect((await readdir(other)).sort()).toEqual(['vrf.key.wrapped']);
    expect(await readFile(join(other, 'vrf.key.wrapped'), 'utf8')).not.toContain(seed);
    const again = await loadWrappedVrfKey({ dir: other, signer: token.uri(), log });
    expect(Buffer.from(again.publicKey).equals(Buffer.from(plain.publicKey))).toBe(true);
    await expect(loadVrfKey(other, log)).rejects.toMatchObject({ code: 'vrf_key_wrapped_without_signer' });
    await expect(loadWrappedVrfKey({ dir: other, signer: spare.uri(), log })).rejects.toMatchObject({ code: 'vrf_key_wrong_wrapper' });
  });

  it('nodes opening one token at once end with one key per label (and one wrapped VRF key)', async () => {
    const shared = join(dir, 'race-keys');
    const owner = {};
    const log = pino({ level: 'silent' });
    try {
      const signers = await Promise.all(Array.from({ length: 4 }, () => openHsmLogSigner({ uri: spare.uri(), dir: shared, logName: 'race', origin: 'race.test/logs/race', log, owner })));
      expect(new Set(signers.map((s) => s.verifierKey)).size).toBe(1);
      const vrfKeys = await Promise.all(Array.from({ length: 4 }, () => loadWrappedVrfKey({ dir: shared, signer: spare.uri(), log })));
      expect(new Set(vrfKeys.map((k) => Buffer.from(k.publicKey).toString('hex'))).size).toBe(1);
      expect((await readdir(shared)).sort()).toEqual(['tlog-race.vkey', 'vrf.key.wrapped']);
    } finally {
      await closeHsmKeys(owner);
    }
  });
});

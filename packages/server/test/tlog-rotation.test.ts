/**
 * Log-key rotation in the engine (docs/log-key-rotation.md), on the database selected by
 * PARLEY_TEST_ENGINE: during a transition every checkpoint carries both signatures (old
 * first) and the announcement is stored once; after the finish the new key signs alone and
 * a restart opens a log whose stored checkpoint is by the old key only when the announcements
 * (or a retired key, which announces it then) chain it to the new key; a stored checkpoint
 * by an unrelated key is still `tlog_key_mismatch`. And the key files' lifecycle
 * (`parley log rotate-key`): next key 0600 once, finish keeps the old key as retired.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { randomBytes, toHex, utf8 } from '@parley/core';
import {
  formatCheckpoint,
  formatKeyRotation,
  generateSignerKey,
  openKeyRotation,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type LocalSigner,
} from '@parley/core/tlog';
import { type Database } from '../src/index.js';
import { TransparencyLog, keyFilePaths, loadLogSigner } from '../src/tlog/index.js';
import { finishKeyRotation, loadRotationKeys, rotationFilePaths, startKeyRotation } from '../src/tlog/key-rotation-files.js';
import { insertKeyRotation } from '../src/tlog/rotation.js';
import { openTestDatabase } from '@parley/test-kit/server';

const silent = pino({ level: 'silent' });
let db: Database;
let close: () => Promise<void>;
let counter = 0;
let dir: string;

beforeAll(async () => {
  ({ db, close } = await openTestDatabase());
  dir = await mkdtemp(join(tmpdir(), 'parley-rotation-'));
});
afterAll(async () => {
  await close?.();
  await rm(dir, { recursive: true, force: true });
});

function fresh(): { name: string; origin: string } {
  const name = `rot${++counter}-${toHex(randomBytes(3))}`;
  return { name, origin: `rotation.test/logs/${name}` };
}
const key = (origin: string): LocalSigner => parseSignerKey(generateSignerKey(origin).signerKey);

async function grow(log: TransparencyLog, n: number): Promise<string> {
  await db.transaction((tx) => log.appendMany(tx, Array.from({ length: n }, (_, i) => ({ entry: utf8(`entry ${i} ${toHex(randomBytes(4))}`) }))));
  while ((await log.sequence()) > 0);
  return (await log.latestCheckpoint()).note;
}

/** Key IDs of a note's signature lines, in order. */
function signatureKeyHashes(note: string): number[] {
  return note
    .slice(note.lastIndexOf('\n\n') + 2)
    .trimEnd()
    .split('\n')
    .map((line) => new DataView(new Uint8Array(Buffer.from(line.split(' ')[2]!, 'base64')).buffer).getUint32(0));
}

const signedBy = (note: string, signer: LocalSigner): boolean => {
  try {
    openNote(note, [parseVerifierKey(signer.verifierKey)]);
    return true;
  } catch {
    return false;
  }
};

describe('log-key rotation in the engine', () => {
  it('signs with both keys during the transition (old first), announces once, then the new key signs alone', async () => {
    const { name, origin } = fresh();
    const [old, next] = [key(origin), key(origin)];
    let log = await TransparencyLog.open(db, { name, origin, signer: old, log: silent });
    await grow(log, 3);

    log = await TransparencyLog.open(db, { name, origin, signer: old, nextSigner: next, log: silent });
    expect(log.describe()).toMatchObject({ verifierKey: old.verifierKey, verifierKeys: [old.verifierKey, next.verifierKey] });
    await TransparencyLog.open(db, { name, origin, signer: old, nextSigner: next, log: silent }); // a second node
    const notes = await log.keyRotations();
    expect(notes).toHaveLength(1);
    expect(openKeyRotation(notes[0]!, { origin, trusted: [old.verifierKey] })).toMatchObject({ oldKey: old.verifierKey, newKey: next.verifierKey, startSize: 3 });

    const during = await grow(log, 2);
    expect(signatureKeyHashes(during)).toEqual([old.keyHash, next.keyHash]);
    expect(signedBy(during, old) && signedBy(during, next)).toBe(true);

    // --finish: the next key is current; this node keeps the old one as retired.
    log = await TransparencyLog.open(db, { name, origin, signer: next, retiredSigners: [old], log: silent });
    expect(log.describe()).toMatchObject({ verifierKey: next.verifierKey, verifierKeys: [next.verifierKey] });
    const after = await grow(log, 1);
    expect(signatureKeyHashes(after)).toEqual([next.keyHash]);
    expect(signedBy(after, old)).toBe(false);
    expect(await log.keyRotations()).toEqual(notes);
    // Another node restarted without the retired key file opens it too.
    await TransparencyLog.open(db, { name, origin, signer: next, log: silent });
  });

  it('opens after a finish no node saw the transition of: the retired key announces it, then the announcement alone suffices', async () => {
    const { name, origin } = fresh();
    const [old, next] = [key(origin), key(origin)];
    await grow(await TransparencyLog.open(db, { name, origin, signer: old, log: silent }), 4);
    // Without the retired key and without an announcement: refused.
    await expect(TransparencyLog.open(db, { name, origin, signer: next, log: silent })).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
    const log = await TransparencyLog.open(db, { name, origin, signer: next, retiredSigners: [old], log: silent });
    const [note] = await log.keyRotations();
    expect(openKeyRotation(note!, { origin, trusted: [old.verifierKey] })).toMatchObject({ newKey: next.verifierKey, startSize: 4 });
    // The stored checkpoint is still the old key's: the stored announcement chains it.
    expect(signedBy((await log.latestCheckpoint()).note, old)).toBe(true);
    await TransparencyLog.open(db, { name, origin, signer: next, log: silent });
  });

  it('refuses a stored checkpoint by an unrelated key, also with announcements stored, and a bad next key', async () => {
    const { name, origin } = fresh();
    const [old, next, rogue] = [key(origin), key(origin), key(origin)];
    await grow(await TransparencyLog.open(db, { name, origin, signer: old, log: silent }), 2);
    const log = await TransparencyLog.open(db, { name, origin, signer: old, nextSigner: next, log: silent });
    await grow(log, 1);
    const head = await log.latestCheckpoint();
    const forged = await signNote(formatCheckpoint({ origin, treeSize: head.size, rootHash: head.rootHash }), [rogue]);
    await db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', [name, forged]);
    // A rogue "announcement" signed by the rogue key alone does not chain it either.
    const text = formatKeyRotation({ origin, oldKey: rogue.verifierKey, newKey: next.verifierKey, startSize: 0 });
    await insertKeyRotation(db, { log: name, oldKey: rogue.verifierKey, newKey: next.verifierKey, startSize: 0, note: await signNote(text, [rogue]) });
    for (const signer of [old, next]) {
      await expect(TransparencyLog.open(db, { name, origin, signer, retiredSigners: [old], log: silent })).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
    }
    await db.query('UPDATE tlogs SET checkpoint = $2 WHERE name = $1', [name, head.note]);
    await expect(TransparencyLog.open(db, { name, origin, signer: old, nextSigner: old, log: silent })).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
    await expect(TransparencyLog.open(db, { name, origin, signer: old, nextSigner: key('other.test/logs/x'), log: silent })).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
  });
});

describe('key files (parley log rotate-key)', () => {
  it('creates the next key once (0600), finishes by keeping the old key as retired, and refuses what does not fit', async () => {
    const keys = join(dir, 'keys');
    const origin = 'rotation.test/logs/audit';
    await expect(startKeyRotation(keys, 'audit')).rejects.toMatchObject({ code: 'tlog_rotation_no_key' });
    const old = await loadLogSigner({ dir: keys, logName: 'audit', origin, log: silent });
    await expect(finishKeyRotation(keys, 'audit')).rejects.toMatchObject({ code: 'tlog_rotation_not_started' });

    const started = await startKeyRotation(keys, 'audit');
    expect(started).toMatchObject({ created: true, current: old.verifierKey });
    const paths = rotationFilePaths(keys, 'audit');
    expect((await stat(paths.next)).mode & 0o777).toBe(0o600);
    expect((await readFile(paths.nextVerifierKey, 'utf8')).trim()).toBe(started.next);
    expect(await startKeyRotation(keys, 'audit')).toEqual({ ...started, created: false });
    const loaded = await loadRotationKeys({ dir: keys, logName: 'audit', origin, log: silent });
    expect(loaded.next?.verifierKey).toBe(started.next);
    expect(loaded.retired).toEqual([]);
    await expect(loadRotationKeys({ dir: keys, logName: 'audit', origin: 'other.test/logs/audit', log: silent })).rejects.toMatchObject({ code: 'tlog_key_origin_mismatch' });

    const done = await finishKeyRotation(keys, 'audit');
    expect(done).toEqual({ previous: old.verifierKey, current: started.next, retired: paths.retired(old.keyHash) });
    expect((await stat(done.retired)).mode & 0o777).toBe(0o600);
    expect(parseSignerKey((await readFile(done.retired, 'utf8')).trim()).verifierKey).toBe(old.verifierKey);
    expect((await loadLogSigner({ dir: keys, logName: 'audit', origin, log: silent })).verifierKey).toBe(started.next);
    expect((await readFile(keyFilePaths(keys, 'audit').verifierKey, 'utf8')).trim()).toBe(started.next);
    await expect(stat(paths.next)).rejects.toMatchObject({ code: 'ENOENT' });
    const after = await loadRotationKeys({ dir: keys, logName: 'audit', origin, log: silent });
    expect(after.next).toBeUndefined();
    expect(after.retired.map((r) => r.verifierKey)).toEqual([old.verifierKey]);
    await expect(finishKeyRotation(keys, 'audit')).rejects.toMatchObject({ code: 'tlog_rotation_not_started' });
  });
});

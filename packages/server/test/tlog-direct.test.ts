/**
 * Sequencing inside the appending transaction (tlog/sequence-direct.ts) against the database
 * selected by PARLEY_TEST_ENGINE: concurrent appending transactions, some rolled back, mixed
 * with entries appended the pending way, give one gap-free tree whose every checkpoint is
 * the root of that prefix; the node:crypto log signer signs what the core's signer signs;
 * the one-pass commitment encoding equals the core's functions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { randomBytes, toHex, utf8 } from '@parley/core';
import { commitmentBytes, commitmentHash, commitmentSigningMessage, type Commitment } from '@parley/core/audit';
import { generateSignerKey, leafHash, openNote, parseCheckpoint, parseSignerKey, parseVerifierKey, rootOfLeaves, verifyInclusion } from '@parley/core/tlog';
import type { Database } from '../src/index.js';
import { TransparencyLog } from '../src/tlog/index.js';
import { parseNodeSignerKey } from '../src/tlog/node-signer.js';
import { commitmentEncoding } from '../src/audit/commitment-encoding.js';
import { ENGINE, openTestDatabase } from '@parley/test-kit/server';

const silent = pino({ level: 'silent' });
let db: Database;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ db, close } = await openTestDatabase());
});
afterAll(async () => close?.());

async function freshLog(): Promise<{ log: TransparencyLog; verifierKey: string }> {
  const name = `d-${toHex(randomBytes(4))}`;
  const origin = `test.parley.localhost/logs/${name}`;
  const key = generateSignerKey(origin).signerKey;
  const signer = parseNodeSignerKey(key);
  const log = await TransparencyLog.open(db, { name, origin, signer, log: silent, debounceMs: 1, pollMs: 50 });
  return { log, verifierKey: signer.verifierKey };
}

const entryOf = (i: number) => utf8(`direct-${i}-${toHex(randomBytes(4))}`);

describe(`direct sequencing on ${ENGINE}`, () => {
  it('sequences concurrent appending transactions into one consistent tree, rollbacks leaving nothing', async () => {
    const { log, verifierKey } = await freshLog();
    log.start();
    const kept: { entry: Uint8Array; index: number }[] = [];
    const pending: { entry: Uint8Array; id: string }[] = [];
    await Promise.all(
      Array.from({ length: 40 }, async (_, t) => {
        const entries = Array.from({ length: 1 + (t % 5) }, (_e, i) => entryOf(t * 10 + i));
        if (t % 7 === 3) {
          // Rolled back after sequencing: its indexes go to the next transaction.
          await expect(
            db.transaction(async (tx) => {
              await log.appendSequenced(tx, entries.map((entry) => ({ entry })));
              throw new Error('rollback');
            }),
          ).rejects.toThrow('rollback');
          return;
        }
        if (t % 7 === 5) {
          const entry = entryOf(1000 + t);
          pending.push({ entry, id: await db.transaction((tx) => log.append(tx, entry)) });
          log.kick();
          return;
        }
        const indexes = await db.transaction((tx) => log.appendSequenced(tx, entries.map((entry) => ({ entry, label: utf8('label') }))));
        entries.forEach((entry, i) => kept.push({ entry, index: indexes[i]! }));
      }),
    );
    for (const p of pending) kept.push({ entry: p.entry, index: (await log.waitSequenced(p.id, { timeoutMs: 20_000 })).index });
    await log.stop();
    const cp = await log.latestCheckpoint();
    expect(cp.size).toBe(kept.length);
    const byIndex = [...kept].sort((a, b) => a.index - b.index);
    expect(byIndex.map((k) => k.index)).toEqual(byIndex.map((_k, i) => i));
    const stored = await log.entries(0, cp.size);
    expect(stored.map(toHex)).toEqual(byIndex.map((k) => toHex(k.entry)));
    // Every checkpoint ever published is the root of that prefix: no fork, no gap.
    const v = parseVerifierKey(verifierKey);
    const leaves = byIndex.map((k) => leafHash(k.entry));
    const rows = await db.query<{ note: string }>('SELECT note FROM tlog_checkpoints WHERE log = $1 ORDER BY id', [log.name]);
    let last = 0;
    for (const r of rows) {
      const c = parseCheckpoint(openNote(r.note, [v]).text);
      expect(c.treeSize).toBeGreaterThanOrEqual(last);
      last = c.treeSize;
      expect(toHex(c.rootHash)).toBe(toHex(rootOfLeaves(leaves.slice(0, c.treeSize))));
    }
    for (const k of byIndex.slice(-5)) {
      const proof = await log.inclusionProof(k.index, cp.size);
      expect(verifyInclusion(leafHash(k.entry), k.index, cp.size, proof, cp.rootHash)).toBe(true);
    }
    expect((await log.entriesByLabel(utf8('label'))).length).toBe(kept.length - pending.length);
  });

  it('signs checkpoints through node:crypto with the same signatures as the core signer', async () => {
    const key = generateSignerKey('test.parley.localhost/logs/n').signerKey;
    const core = parseSignerKey(key);
    for (let i = 0; i < 20; i++) {
      // Keys whose base64 holds '+' included: the seed is parsed after the fourth '+'.
      const k = i === 0 ? key : generateSignerKey('test.parley.localhost/logs/n').signerKey;
      const signer = parseNodeSignerKey(k);
      expect(signer).not.toBe(parseSignerKey(k));
      const message = utf8(`message ${i}\n`);
      expect(toHex(await signer.sign(message))).toBe(toHex(await parseSignerKey(k).sign(message)));
    }
    expect(parseNodeSignerKey(key).verifierKey).toBe(core.verifierKey);
  });

  it('encodes a commitment once, as the core does', () => {
    const commitment: Commitment = {
      v: 1,
      messageId: 'msg_0123456789abcdef0123456789abcdef',
      conversationId: 'conv_0123456789abcdef',
      sender: { identityId: 'acme:sender', deviceId: 'dev_0123456789abcdef' },
      recipient: 'acme:cust-1',
      class: 'alert',
      createdAt: '2026-12-07T07:00:00.000Z',
      contentCommitment: 'A'.repeat(43),
      attachments: ['B'.repeat(43), 'C'.repeat(43)],
    };
    const encoded = commitmentEncoding(commitment);
    expect(toHex(encoded.bytes)).toBe(toHex(commitmentBytes(commitment)));
    expect(toHex(encoded.signingMessage)).toBe(toHex(commitmentSigningMessage(commitment)));
    expect(toHex(encoded.hash)).toBe(toHex(commitmentHash(commitment)));
  });
});

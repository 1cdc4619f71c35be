/**
 * Log-key rotation announcements: the exact text, signatures by both keys, and every way an
 * announcement is refused (only the new key, an untrusted key, another origin, a forged
 * signature, text that is a checkpoint), and following a chain of them.
 */
import { describe, expect, it } from 'vitest';
import { emptyRoot } from '../../src/tlog/merkle.js';
import { formatCheckpoint, parseCheckpoint } from '../../src/tlog/checkpoint.js';
import { generateSignerKey, openNote, parseSignerKey, parseVerifierKey, signNote } from '../../src/tlog/note.js';
import {
  KEY_ROTATION_HEADER,
  followKeyRotations,
  formatKeyRotation,
  openKeyRotation,
  parseKeyRotation,
  signKeyRotation,
  splitKeyRotations,
} from '../../src/tlog/key-rotation.js';
import { expectCode } from './helpers.js';

const ORIGIN = 'rotation.test/logs/audit';
const key = (origin = ORIGIN) => parseSignerKey(generateSignerKey(origin).signerKey);
const k1 = key();
const k2 = key();
const k3 = key();

describe('key-rotation announcements', () => {
  it('formats the exact five-line text and parses it back', () => {
    const text = formatKeyRotation({ origin: ORIGIN, oldKey: k1.verifierKey, newKey: k2.verifierKey, startSize: 42 });
    expect(text).toBe(`${KEY_ROTATION_HEADER}\norigin ${ORIGIN}\nold ${k1.verifierKey}\nnew ${k2.verifierKey}\nstart 42\n`);
    expect(parseKeyRotation(text)).toEqual({ origin: ORIGIN, oldKey: k1.verifierKey, newKey: k2.verifierKey, startSize: 42 });
  });

  it('refuses malformed announcements', () => {
    const good = formatKeyRotation({ origin: ORIGIN, oldKey: k1.verifierKey, newKey: k2.verifierKey, startSize: 1 });
    for (const bad of [good.replace('start 1', 'start 01'), good.replace('origin ', 'origin  '), good.slice(0, -1), `x${good}`, good + 'extra\n']) {
      expectCode(() => parseKeyRotation(bad), 'tlog_rotation_malformed');
    }
    expectCode(() => formatKeyRotation({ origin: ORIGIN, oldKey: k1.verifierKey, newKey: k1.verifierKey, startSize: 1 }), 'tlog_rotation_malformed');
    expectCode(() => formatKeyRotation({ origin: ORIGIN, oldKey: k1.verifierKey, newKey: key('other.test/log').verifierKey, startSize: 1 }), 'tlog_rotation_malformed');
  });

  it('is domain-separated from checkpoints both ways', async () => {
    const note = await signKeyRotation({ origin: ORIGIN, oldKey: k1.verifierKey, newKey: k2.verifierKey, startSize: 7 }, k1, k2);
    expectCode(() => parseCheckpoint(openNote(note, [parseVerifierKey(k1.verifierKey)]).text), 'tlog_bad_checkpoint');
    const cp = await signNote(formatCheckpoint({ origin: ORIGIN, treeSize: 0, rootHash: emptyRoot() }), [k1, k2]);
    expectCode(() => openKeyRotation(cp, { origin: ORIGIN, trusted: [k1.verifierKey] }), 'tlog_rotation_malformed');
  });

  it('opens an announcement signed by a trusted old key and the new key', async () => {
    const note = await signKeyRotation({ origin: ORIGIN, oldKey: k1.verifierKey, newKey: k2.verifierKey, startSize: 7 }, k1, k2);
    expect(openKeyRotation(note, { origin: ORIGIN, trusted: [k1.verifierKey] })).toMatchObject({ oldKey: k1.verifierKey, newKey: k2.verifierKey, startSize: 7, note });
  });

  it('refuses one signed only by the new key, by an untrusted key, for another origin, or with a forged signature', async () => {
    const rotation = { origin: ORIGIN, oldKey: k1.verifierKey, newKey: k2.verifierKey, startSize: 7 };
    const text = formatKeyRotation(rotation);
    // Only the new key signed.
    const onlyNew = await signNote(text, [k2]);
    expectCode(() => openKeyRotation(onlyNew, { origin: ORIGIN, trusted: [k1.verifierKey] }), 'tlog_rotation_unsigned');
    // Only the old key signed (no proof of possession of the new one).
    const onlyOld = await signNote(text, [k1]);
    expectCode(() => openKeyRotation(onlyOld, { origin: ORIGIN, trusted: [k1.verifierKey] }), 'tlog_rotation_unsigned');
    // An untrusted key announces (k3 → k2), signed by both of its keys.
    const untrusted = await signKeyRotation({ ...rotation, oldKey: k3.verifierKey }, k3, k2);
    expectCode(() => openKeyRotation(untrusted, { origin: ORIGIN, trusted: [k1.verifierKey] }), 'tlog_rotation_untrusted');
    // Another origin, properly signed by that origin's keys.
    const o1 = key('other.test/logs/audit');
    const o2 = key('other.test/logs/audit');
    const other = await signKeyRotation({ origin: 'other.test/logs/audit', oldKey: o1.verifierKey, newKey: o2.verifierKey, startSize: 1 }, o1, o2);
    expectCode(() => openKeyRotation(other, { origin: ORIGIN, trusted: [o1.verifierKey] }), 'tlog_rotation_wrong_origin');
    // A forged old-key signature (the signature bytes of another note).
    const good = await signKeyRotation(rotation, k1, k2);
    const forged = await signKeyRotation({ ...rotation, startSize: 8 }, k1, k2);
    const spliced = good.slice(0, good.lastIndexOf('\n\n') + 2) + forged.slice(forged.lastIndexOf('\n\n') + 2);
    expectCode(() => openKeyRotation(spliced, { origin: ORIGIN, trusted: [k1.verifierKey] }), 'tlog_rotation_unsigned');
  });

  it('splits a concatenated body and follows a chain from the trusted key only', async () => {
    const a = await signKeyRotation({ origin: ORIGIN, oldKey: k1.verifierKey, newKey: k2.verifierKey, startSize: 3 }, k1, k2);
    const b = await signKeyRotation({ origin: ORIGIN, oldKey: k2.verifierKey, newKey: k3.verifierKey, startSize: 9 }, k2, k3);
    expect(splitKeyRotations('')).toEqual([]);
    expect(splitKeyRotations(a + b)).toEqual([a, b]);
    expectCode(() => splitKeyRotations(`junk\n${a}`), 'tlog_rotation_malformed');
    // Order does not matter; a forged one adds nothing.
    const rogue = key();
    const rogueNext = key();
    const fake = await signKeyRotation({ origin: ORIGIN, oldKey: rogue.verifierKey, newKey: rogueNext.verifierKey, startSize: 1 }, rogue, rogueNext);
    expect(followKeyRotations([b, fake, a], { origin: ORIGIN, trusted: [k1.verifierKey] }).steps.map((s) => s.rotation.newKey)).toEqual([k2.verifierKey, k3.verifierKey]);
    expect(followKeyRotations([b, fake, a], { origin: ORIGIN, trusted: [k1.verifierKey] }).keys).toEqual([k1.verifierKey, k2.verifierKey, k3.verifierKey]);
    expect(followKeyRotations([b], { origin: ORIGIN, trusted: [k1.verifierKey] }).keys).toEqual([k1.verifierKey]);
    expect(followKeyRotations([a, b], { origin: ORIGIN, trusted: [k2.verifierKey] }).keys).toEqual([k2.verifierKey, k3.verifierKey]);
  });
});

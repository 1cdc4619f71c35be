/**
 * C2SP tlog-checkpoint: formatting, strict parsing, and a checkpoint signed and opened as
 * a signed note.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromBase64 } from '../../src/bytes.js';
import { formatCheckpoint, parseCheckpoint, type Checkpoint } from '../../src/tlog/checkpoint.js';
import { emptyRoot } from '../../src/tlog/merkle.js';
import { generateSignerKey, openNote, parseSignerKey, parseVerifierKey, signNote } from '../../src/tlog/note.js';
import { expectCode } from './helpers.js';

const ROOT = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';

/** A line as the spec allows it: non-empty, no newline or other ASCII control, well-formed. */
const line = fc
  .string({ unit: fc.oneof(fc.constantFrom(...'abcxyz/.+-_ 09'.split('')), fc.constantFrom('é', '—', '😀', '\u00a0')), minLength: 1, maxLength: 40 })
  .filter((s) => s.length > 0);

describe('tlog-checkpoint', () => {
  it('parses the spec example', () => {
    const cp = parseCheckpoint(`example.com/behind-the-sofa\n20852163\n${ROOT}\n`);
    expect(cp).toEqual({ origin: 'example.com/behind-the-sofa', treeSize: 20852163, rootHash: fromBase64(ROOT), extensions: [] });
  });

  it('round-trips', () => {
    fc.assert(
      fc.property(line, fc.maxSafeNat(), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.array(line, { maxLength: 4 }), (origin, treeSize, rootHash, extensions) => {
        const cp: Checkpoint = { origin, treeSize, rootHash, extensions };
        const text = formatCheckpoint(cp);
        expect(text.endsWith('\n')).toBe(true);
        expect(parseCheckpoint(text)).toEqual(cp);
        expect(formatCheckpoint(parseCheckpoint(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
    expect(formatCheckpoint({ origin: 'o', treeSize: 0, rootHash: emptyRoot() })).toBe('o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n');
  });

  it('rejects anything not exactly in the format', () => {
    const bad = [
      '',
      'o\n1\n',
      `o\n1\n${ROOT}`, // no final newline
      `\n1\n${ROOT}\n`, // empty origin
      `o\n01\n${ROOT}\n`, // leading zero
      `o\n-1\n${ROOT}\n`,
      `o\n+1\n${ROOT}\n`,
      `o\n1.0\n${ROOT}\n`,
      `o\n 1\n${ROOT}\n`,
      `o\n1e3\n${ROOT}\n`,
      `o\n9007199254740992\n${ROOT}\n`, // 2^53
      `o\n99999999999999999999\n${ROOT}\n`,
      'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n', // no padding
      'o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n', // base64url
      'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n', // non-canonical trailing bits
      'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n', // 31 bytes
      'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=AAAA\n', // 35 bytes
      `o\n1\n${ROOT}\n\n`, // empty extension line
      `o\n1\n${ROOT}\next\n\n`,
      `o\r\n1\n${ROOT}\n`, // CR
      `o\t\n1\n${ROOT}\n`,
      `o\ud800\n1\n${ROOT}\n`, // lone surrogate
      `o\n1\n${ROOT} \n`,
    ];
    for (const text of bad) expectCode(() => parseCheckpoint(text), 'tlog_bad_checkpoint');
    expect(parseCheckpoint(`o\n9007199254740991\n${ROOT}\next one\n`).extensions).toEqual(['ext one']);
  });

  it('refuses to format an invalid checkpoint', () => {
    const rootHash = fromBase64(ROOT);
    expectCode(() => formatCheckpoint({ origin: '', treeSize: 1, rootHash }), 'tlog_bad_checkpoint');
    expectCode(() => formatCheckpoint({ origin: 'a\nb', treeSize: 1, rootHash }), 'tlog_bad_checkpoint');
    expectCode(() => formatCheckpoint({ origin: 'o', treeSize: -1, rootHash }), 'tlog_bad_checkpoint');
    expectCode(() => formatCheckpoint({ origin: 'o', treeSize: 2 ** 53, rootHash }), 'tlog_bad_checkpoint');
    expectCode(() => formatCheckpoint({ origin: 'o', treeSize: 1, rootHash: rootHash.subarray(1) }), 'tlog_bad_checkpoint');
    expectCode(() => formatCheckpoint({ origin: 'o', treeSize: 1, rootHash, extensions: [''] }), 'tlog_bad_checkpoint');
    expectCode(() => formatCheckpoint({ origin: 'o', treeSize: 1, rootHash, extensions: ['x\ny'] }), 'tlog_bad_checkpoint');
  });

  it('is signed and opened as a signed note', async () => {
    const { signerKey, verifierKey } = generateSignerKey('log.example.com/keys');
    const cp: Checkpoint = { origin: 'log.example.com/keys', treeSize: 12345, rootHash: fromBase64(ROOT), extensions: [] };
    const note = await signNote(formatCheckpoint(cp), [parseSignerKey(signerKey)]);
    const opened = openNote(note, [parseVerifierKey(verifierKey)]);
    expect(parseCheckpoint(opened.text)).toEqual(cp);
  });
});

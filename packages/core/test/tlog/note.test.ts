/**
 * C2SP signed-note with Ed25519: the golang.org/x/mod/sumdb/note vectors from
 * ../shared/vectors/signed-note (read in place), the spec's own example, and property
 * tests of signing and strict opening.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromBase64, toBase64, utf8 } from '../../src/bytes.js';
import { isParleyError } from '../../src/errors.js';
import {
  NOTE_MAX_SIGNATURES,
  generateSignerKey,
  noteKeyHash,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifierKeyFromPublicKey,
  type NoteVerifier,
  type Signer,
} from '../../src/tlog/note.js';
import { HAVE_VECTORS, VECTOR_DIR, expectCode } from './helpers.js';

interface NoteVectors {
  keys: Record<string, { verifierKey: string; signerKey?: string }>;
  text: string;
  signedByPeter: string;
  signedByPeterAndEnoch: string;
  invalidVerifierKeys: { key: string; why: string }[];
  invalidNotes: { note: string; why: string }[];
}

const NOTE_FILE = new URL('signed-note/golang-mod-note.json', VECTOR_DIR);
const HAVE_NOTE_VECTORS = HAVE_VECTORS && existsSync(fileURLToPath(NOTE_FILE));
if (!HAVE_NOTE_VECTORS) console.warn(`tlog: ${fileURLToPath(NOTE_FILE)} not found; skipping signed-note vector tests`);
const vectors = HAVE_NOTE_VECTORS ? (JSON.parse(readFileSync(NOTE_FILE, 'utf8')) as NoteVectors) : undefined;

/** The code each malformed note of the vector file must be rejected with. */
const INVALID_NOTE_CODES: Record<string, string> = {
  // The altered base64 character falls in the 4-byte key ID, so the signature is by an
  // unknown key and the note has no verified signature (as in Go's note.Open).
  'signature altered': 'tlog_note_unverified',
  'text altered': 'tlog_note_bad_signature',
  'no blank line before signatures': 'tlog_bad_note',
  'unknown signer name': 'tlog_note_unverified',
};
const INVALID_KEY_REASONS: Record<string, string[]> = {
  // Its base64 ends in non-zero padding bits, which strict decoding rejects before the length.
  'wrong key length': ['key_length', 'encoding'],
  'unknown algorithm': ['unsupported_algorithm'],
  'key hash mismatch': ['key_hash_mismatch'],
};

function thrown(fn: () => unknown): { code?: string; details?: Record<string, unknown>; message: string } {
  try {
    fn();
  } catch (error) {
    expect(isParleyError(error)).toBe(true);
    return error as { code?: string; details?: Record<string, unknown>; message: string };
  }
  throw new Error('expected a throw');
}

describe.skipIf(vectors === undefined)('signed-note vectors (golang.org/x/mod/sumdb/note)', () => {
  // The body also runs (to collect tests) when skipped: read the vectors lazily.
  const v = (): NoteVectors => vectors!;
  const peter = (): { verifierKey: string; signerKey?: string } => v().keys['PeterNeumann']!;
  const enoch = (): { verifierKey: string; signerKey?: string } => v().keys['EnochRoot']!;

  it('parses the keys and derives the key IDs', () => {
    const pv = parseVerifierKey(peter().verifierKey);
    expect(pv.name).toBe('PeterNeumann');
    expect(pv.keyHash).toBe(0xc74f20a3);
    expect(pv.verifierKey).toBe(peter().verifierKey);
    const signer = parseSignerKey(peter().signerKey!);
    expect(signer.name).toBe('PeterNeumann');
    expect(signer.keyHash).toBe(0xc74f20a3);
    expect(signer.verifierKey).toBe(peter().verifierKey);
    expect(signer.publicKey).toEqual(pv.publicKey);
    expect(verifierKeyFromPublicKey('PeterNeumann', pv.publicKey)).toBe(peter().verifierKey);
    expect(parseVerifierKey(enoch().verifierKey).keyHash).toBe(0xaf0cfe78);
  });

  it('signs deterministically, byte for byte', async () => {
    expect(await signNote(v().text, [parseSignerKey(peter().signerKey!)])).toBe(v().signedByPeter);
  });

  it('opens notes signed by one and by two keys', () => {
    const pv = parseVerifierKey(peter().verifierKey);
    const ev = parseVerifierKey(enoch().verifierKey);
    expect(openNote(v().signedByPeter, [pv])).toEqual({ text: v().text, verified: [{ name: 'PeterNeumann', keyHash: 0xc74f20a3 }] });
    expect(openNote(utf8(v().signedByPeter), [pv, ev]).verified).toEqual([{ name: 'PeterNeumann', keyHash: 0xc74f20a3 }]);
    expect(openNote(v().signedByPeterAndEnoch, [ev, pv])).toEqual({
      text: v().text,
      verified: [
        { name: 'PeterNeumann', keyHash: 0xc74f20a3 },
        { name: 'EnochRoot', keyHash: 0xaf0cfe78 },
      ],
    });
    // Enoch alone: Peter's signature is by an unknown key and ignored.
    expect(openNote(v().signedByPeterAndEnoch, [ev]).verified).toEqual([{ name: 'EnochRoot', keyHash: 0xaf0cfe78 }]);
    expectCode(() => openNote(v().signedByPeter, [ev]), 'tlog_note_unverified');
    expectCode(() => openNote(v().signedByPeter, []), 'tlog_note_unverified');
  });

  it.each(vectors?.invalidVerifierKeys ?? [])('rejects verifier key: $why', ({ key, why }) => {
    const error = thrown(() => parseVerifierKey(key));
    expect(error.code).toBe('tlog_bad_key');
    if (INVALID_KEY_REASONS[why] !== undefined) expect(INVALID_KEY_REASONS[why]).toContain(error.details?.['reason']);
  });

  it.each(vectors?.invalidNotes ?? [])('rejects note: $why', ({ note, why }) => {
    const verifiers = [parseVerifierKey(peter().verifierKey), parseVerifierKey(enoch().verifierKey)];
    const error = thrown(() => openNote(note, verifiers));
    expect(error.code).toBe(INVALID_NOTE_CODES[why] ?? error.code);
    expect(error.code).toMatch(/^tlog_/);
  });
});

describe('signed-note spec example', () => {
  // From https://c2sp.org/signed-note, "Verifier keys" / "Example".
  const vkey = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
  const note =
    'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

  it('verifies', () => {
    const v = parseVerifierKey(vkey);
    expect(noteKeyHash('example.com/foo', fromBase64('AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k'))).toBe(0x530d903a);
    expect(openNote(note, [v])).toEqual({ text: 'This is an example message.\n', verified: [{ name: 'example.com/foo', keyHash: 0x530d903a }] });
  });
});

// ------------------------------------------------------------------------- properties

const textLine = fc.string({ unit: fc.constantFrom(...Array.from('ab z09/+=—é😀\u00a0')), maxLength: 30 });
/** Note text: lines (possibly empty, so the text may contain blank lines) each ending in \n. */
const noteText = fc.array(textLine, { minLength: 1, maxLength: 6 }).map((lines) => lines.map((l) => `${l}\n`).join(''));
const keyName = fc.string({ unit: fc.constantFrom(...Array.from('abcXYZ09./-_é')), minLength: 1, maxLength: 20 });

describe('signing and opening', () => {
  it('round-trips any text with any set of keys, ignoring unknown ones', async () => {
    await fc.assert(
      fc.asyncProperty(noteText, fc.uniqueArray(keyName, { minLength: 1, maxLength: 4 }), fc.nat(), async (text, names, pick) => {
        const keys = names.map((name) => generateSignerKey(name));
        const signers = keys.map((k) => parseSignerKey(k.signerKey));
        const note = await signNote(text, signers);
        expect(note.startsWith(`${text}\n`)).toBe(true);
        const known = keys.filter((_, i) => i === pick % keys.length || (pick >> (i + 3)) % 2 === 1);
        const opened = openNote(note, known.map((k) => parseVerifierKey(k.verifierKey)));
        expect(opened.text).toBe(text);
        expect(opened.verified.map((s) => s.name)).toEqual(names.filter((_, i) => known.includes(keys[i]!)));
      }),
      { numRuns: 40 },
    );
  });

  it('derives keys deterministically from a seed and never echoes a key in an error', () => {
    const seed = new Uint8Array(32).fill(9);
    const a = generateSignerKey('log.example/k', { seed });
    const b = generateSignerKey('log.example/k', { seed });
    expect(a).toEqual(b);
    expect(a.signerKey.startsWith('PRIVATE+KEY+log.example/k+')).toBe(true);
    const secret = a.signerKey.split('+').slice(4).join('+');
    const tampered = a.signerKey.replace(/\+[0-9a-f]{8}\+/, '+00000000+');
    const error = thrown(() => parseSignerKey(tampered));
    expect(error.code).toBe('tlog_bad_key');
    expect(error.details?.['reason']).toBe('key_hash_mismatch');
    expect(`${error.message}${JSON.stringify(error)}`).not.toContain(secret);
    // A signer never exposes its seed as a property.
    expect(JSON.stringify(parseSignerKey(a.signerKey))).not.toContain(secret);
  });

  it('rejects malformed keys', () => {
    const { signerKey, verifierKey } = generateSignerKey('n');
    const [, , , hash, material] = signerKey.split('+') as [string, string, string, string, string];
    for (const bad of [
      '',
      'n',
      'n+',
      `n+${hash}`,
      `n+${hash}+`,
      `+${hash}+${material}`,
      `n m+${hash}+${material}`,
      `n+${hash.toUpperCase()}+${material}`,
      `n+${hash}0+${material}`,
      `n+${hash}+${material.replace(/=+$/, '')}`,
      verifierKey.replace(/=?$/, '!'),
    ]) {
      expectCode(() => parseVerifierKey(bad), 'tlog_bad_key');
    }
    for (const bad of [verifierKey, `PRIVATE+KEY+${verifierKey}`, signerKey.replace('PRIVATE+KEY', 'PRIVATE+key'), `PRIVATE+KEY+n+${hash}+AQ==`]) {
      expectCode(() => parseSignerKey(bad), 'tlog_bad_key');
    }
    expectCode(() => generateSignerKey('has space'), 'tlog_bad_key');
    expectCode(() => generateSignerKey('has+plus'), 'tlog_bad_key');
    expectCode(() => generateSignerKey('nbsp\u00a0'), 'tlog_bad_key');
    expectCode(() => generateSignerKey(''), 'tlog_bad_key');
  });

  it('opens strictly', async () => {
    const k = generateSignerKey('log');
    const other = generateSignerKey('other');
    const signer = parseSignerKey(k.signerKey);
    const v = parseVerifierKey(k.verifierKey);
    const note = await signNote('hello\n', [signer]);
    const sigLine = note.slice('hello\n\n'.length);
    const bad: [string | Uint8Array, string][] = [
      ['hello\n', 'tlog_bad_note'],
      ['hello\n\n', 'tlog_bad_note'],
      [note.slice(0, -1), 'tlog_bad_note'], // signature block without final newline
      [note.replace('\u2014 ', '-- '), 'tlog_bad_note'],
      [note.replace('\u2014 ', '\u2014  '), 'tlog_bad_note'],
      [note.replace(/=\n$/, '\n'), 'tlog_bad_note'], // unpadded base64
      [`hello\n\n\u2014 log AAAA\n`, 'tlog_bad_note'], // shorter than key ID + 1 byte
      [`hello\n\n\u2014 log\n`, 'tlog_bad_note'],
      [`hello\n\n\u2014 a+b ${toBase64(new Uint8Array(70))}\n`, 'tlog_bad_note'],
      [`hel\u0001lo\n${note.slice(5)}`, 'tlog_bad_note'],
      [`hello\r\n\n${sigLine}`, 'tlog_bad_note'],
      [Uint8Array.of(...utf8('he'), 0xff, ...utf8(note.slice(2))), 'tlog_bad_note'],
      [`hel\ud800lo\n\n${sigLine}`, 'tlog_bad_note'],
      [`${note}${sigLine.repeat(NOTE_MAX_SIGNATURES)}`, 'tlog_bad_note'],
      [`${'x'.repeat(1 << 20)}\n\n${sigLine}`, 'tlog_bad_note'],
      [note.replace('hello', 'hellO'), 'tlog_note_bad_signature'],
    ];
    for (const [text, code] of bad) expectCode(() => openNote(text, [v]), code);
    // Exactly the limit is fine, and a repeated signature is reported once.
    expect(openNote(`${note}${sigLine.repeat(NOTE_MAX_SIGNATURES - 1)}`, [v]).verified).toHaveLength(1);
    // A bad signature by a known key is an error even next to a good one.
    const forged = note + `\u2014 log ${toBase64(new Uint8Array([...fromBase64(sigLine.split(' ')[2]!.trim()).subarray(0, 4), ...new Uint8Array(64)]))}\n`;
    expectCode(() => openNote(forged, [v]), 'tlog_note_bad_signature');
    // Same name, different key ID: an unknown key, ignored.
    const otherId = note + `\u2014 log ${toBase64(new Uint8Array(68))}\n`;
    expect(openNote(otherId, [v]).verified).toHaveLength(1);
    // Unknown signatures of any length are ignored.
    const big = note + `\u2014 other ${toBase64(new Uint8Array(5000))}\n`;
    expect(openNote(big, [v]).verified).toHaveLength(1);
    expectCode(() => openNote(note, [v, parseVerifierKey(k.verifierKey)]), 'tlog_bad_key');
    expectCode(() => openNote(note, [parseVerifierKey(other.verifierKey)]), 'tlog_note_unverified');
    // Text may hold blank lines: the last blank line separates the signatures.
    const multi = await signNote('a\n\nb\n\n', [signer]);
    expect(openNote(multi, [v]).text).toBe('a\n\nb\n\n');
  });

  it('signs only valid text with valid signers', async () => {
    const signer = parseSignerKey(generateSignerKey('log').signerKey);
    const rejects = async (p: Promise<unknown>, code: string): Promise<void> => {
      await expect(p).rejects.toSatisfy((e: unknown) => isParleyError(e) && (e as { code: string }).code === code);
    };
    await rejects(signNote('no newline', [signer]), 'tlog_bad_note');
    await rejects(signNote('tab\t\n', [signer]), 'tlog_bad_note');
    await rejects(signNote('ok\n', []), 'tlog_bad_note');
    await rejects(signNote('ok\n', [signer, signer]), 'tlog_bad_note');
    await rejects(signNote('ok\n', [{ ...signer, name: 'bad name' }]), 'tlog_bad_key');
    await rejects(signNote('ok\n', [{ ...signer, keyHash: 2 ** 32 }]), 'tlog_bad_key');
    await rejects(signNote('ok\n', [{ ...signer, sign: async () => new Uint8Array(0) }]), 'tlog_bad_key');
  });

  it('works with an asynchronous external signer (as an HSM would be)', async () => {
    const seed = new Uint8Array(32).fill(3);
    const publicKey = ed25519.getPublicKey(seed);
    const vkey = verifierKeyFromPublicKey('hsm.example/log', publicKey);
    const verifier: NoteVerifier = parseVerifierKey(vkey);
    const hsm: Signer = {
      name: 'hsm.example/log',
      keyHash: verifier.keyHash,
      sign: async (message) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return ed25519.sign(message, seed);
      },
    };
    const note = await signNote('checkpoint\n', [hsm]);
    expect(openNote(note, [verifier]).verified).toEqual([{ name: 'hsm.example/log', keyHash: verifier.keyHash }]);
    // The same note as a local signer with the same seed would produce.
    const local = parseSignerKey(generateSignerKey('hsm.example/log', { seed }).signerKey);
    expect(await signNote('checkpoint\n', [local])).toBe(note);
  });
});

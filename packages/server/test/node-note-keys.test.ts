/**
 * The server's node:crypto stand-ins for core's pure-JS Ed25519 at start-up (tlog/node-signer.ts):
 * `nodePublicKeyOf` derives the same public key as core (signer keys, VRF keys: RFC 8032 §5.1.5,
 * RFC 9381 §5.1), signer keys parsed or generated with it are the same keys, and `nodeVerifier`
 * accepts and refuses exactly the notes core's verifier does, including RFC 8032 §8.4 malleated
 * signatures (S + L).
 */
import { describe, expect, it } from 'vitest';
import { ecvrfPublicKey, randomBytes, toHex } from '@parley/core';
import { generateSignerKey, openNote, parseSignerKey, parseVerifierKey, signNote } from '@parley/core/tlog';
import { nodePublicKeyOf, nodeVerifier } from '../src/tlog/node-signer.js';

/** The order of the Ed25519 base point (RFC 8032 §5.1). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function littleEndian(bytes: Uint8Array): bigint {
  return bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function toLittleEndian(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

describe('node:crypto note keys', () => {
  it('derive the public key core derives, for signer keys and VRF keys', () => {
    for (let i = 0; i < 25; i++) {
      const seed = randomBytes(32);
      expect(toHex(nodePublicKeyOf(seed))).toBe(toHex(ecvrfPublicKey(seed)));
    }
    for (let i = 0; i < 10; i++) {
      const { signerKey, verifierKey } = generateSignerKey('test.parley.localhost/logs/k', { publicKeyOf: nodePublicKeyOf });
      expect(verifierKey).toBe(parseSignerKey(signerKey).verifierKey);
      expect(parseSignerKey(signerKey, { publicKeyOf: nodePublicKeyOf }).verifierKey).toBe(verifierKey);
    }
  });

  it('refuse a signer key whose key ID does not match, as core does', () => {
    const { signerKey } = generateSignerKey('test.parley.localhost/logs/k');
    const parts = signerKey.split('+');
    parts[3] = parts[3] === '00000000' ? '00000001' : '00000000';
    const forged = parts.join('+');
    expect(() => parseSignerKey(forged)).toThrow(expect.objectContaining({ code: 'tlog_bad_key' }));
    expect(() => parseSignerKey(forged, { publicKeyOf: nodePublicKeyOf })).toThrow(expect.objectContaining({ code: 'tlog_bad_key' }));
    expect(() => parseSignerKey(signerKey, { publicKeyOf: () => new Uint8Array(31) })).toThrow();
  });

  it('verify notes like core: good, tampered, another key, and a malleated signature (S + L)', async () => {
    const origin = 'test.parley.localhost/logs/v';
    const signer = parseSignerKey(generateSignerKey(origin).signerKey);
    const other = parseSignerKey(generateSignerKey(origin).signerKey);
    const note = await signNote(`${origin}\n7\n${'A'.repeat(43)}=\n`, [signer]);
    const verdict = (text: string, verifierKey: string) => {
      const run = (v: ReturnType<typeof parseVerifierKey>) => {
        try {
          return openNote(text, [v]).text;
        } catch (error) {
          return `refused: ${(error as { code?: string }).code}`;
        }
      };
      const core = run(parseVerifierKey(verifierKey));
      expect(run(nodeVerifier(verifierKey))).toBe(core);
      return core;
    };
    expect(verdict(note, signer.verifierKey)).toBe(`${origin}\n7\n${'A'.repeat(43)}=\n`);
    expect(verdict(note.replace('\n7\n', '\n8\n'), signer.verifierKey)).toMatch(/^refused/);
    expect(verdict(note, other.verifierKey)).toMatch(/^refused/);

    // The same signature with S + L: valid modulo L, refused by a strict verifier (RFC 8032 §5.1.7).
    const line = note.split('\n').find((l) => l.startsWith('— '))!;
    const sigBytes = Buffer.from(line.split(' ')[2]!, 'base64');
    const keyId = sigBytes.subarray(0, 4);
    const signature = sigBytes.subarray(4);
    const s = littleEndian(signature.subarray(32));
    const malleated = Buffer.concat([keyId, signature.subarray(0, 32), toLittleEndian(s + L, 32)]);
    expect(s + L).toBeLessThan(2n ** 256n);
    const forged = note.replace(line, `— ${line.split(' ')[1]} ${malleated.toString('base64')}`);
    expect(verdict(forged, signer.verifierKey)).toMatch(/^refused/);
  });
});

/**
 * The encrypted backup format (docs/backup-format.md): round trips under a recovery key and a
 * passphrase, every way a backup can be damaged ends in its own typed error, and a decoder
 * written from the document alone — jose, hash-wasm and WebCrypto, no Parley code — opens it.
 */
import { describe, expect, it } from 'vitest';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { argon2id } from 'hash-wasm';
import { BackupWriter, decryptBackup, deriveBackupKeys, generateRecoveryKey, normalizeRecoveryKey, type BackupItem, type BackupSecret } from '../src/index.js';

/** Cheap Argon2id for tests (the defaults are for people). */
const FAST = { memoryKiB: 64, iterations: 1, parallelism: 1 };

function history(n: number): BackupItem[] {
  return Array.from({ length: n }, (_, i) => ({ kind: 'message', conversationId: 'c1', id: `m${i}`, text: `message ${i} ${'x'.repeat(i % 50)}`, at: new Date(1_700_000_000_000 + i).toISOString() }));
}

async function backup(secret: BackupSecret, items: BackupItem[], chunkBytes = 1024): Promise<string[]> {
  const writer = await BackupWriter.create(secret, { chunkBytes });
  const lines: string[] = [];
  for await (const line of writer.encrypt(items)) lines.push(line);
  return lines;
}

async function restore(lines: Iterable<string>, secret: BackupSecret): Promise<BackupItem[]> {
  const out: BackupItem[] = [];
  for await (const item of decryptBackup(lines, secret)) out.push(item);
  return out;
}

describe('recovery keys', () => {
  it('are 64 uniform digits in groups of four, and typing separators does not matter', () => {
    const key = generateRecoveryKey();
    expect(key).toMatch(/^(\d{4} ){15}\d{4}$/);
    expect(normalizeRecoveryKey(key.replaceAll(' ', '-'))).toBe(key.replaceAll(' ', ''));
    expect(() => normalizeRecoveryKey('1234')).toThrow(expect.objectContaining({ code: 'backup_invalid_secret' }));
    // Every digit appears, roughly evenly, over many keys (a biased sampler would skew 0–5).
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 200; i++) for (const d of normalizeRecoveryKey(generateRecoveryKey())) counts[Number(d)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(1280 * 0.8);
  });
});

describe('backup format', () => {
  const recoveryKey = generateRecoveryKey();

  it('round-trips a history in many chunks under a recovery key, and under a passphrase', async () => {
    const items = history(500);
    const lines = await backup({ recoveryKey }, items);
    expect(lines.length).toBeGreaterThan(10);
    expect(await restore(lines, { recoveryKey: recoveryKey.replaceAll(' ', '') })).toEqual(items);
    const secret = { passphrase: 'correct horse battery staple', argon2: FAST };
    expect(await restore(await backup(secret, items.slice(0, 20)), { passphrase: 'correct horse battery staple' })).toEqual(items.slice(0, 20));
    // An empty backup is one final chunk, and opens to nothing.
    expect(await restore(await backup({ recoveryKey }, []), { recoveryKey })).toEqual([]);
    // No plaintext in the lines.
    expect(lines.join('\n')).not.toContain('message 1');
  });

  it('refuses a wrong key, a truncated, reordered, spliced or flipped backup, each with its code', async () => {
    const lines = await backup({ recoveryKey }, history(200));
    const other = await backup({ recoveryKey }, history(200));
    const code = async (input: string[], secret: BackupSecret = { recoveryKey }) => restore(input, secret).then(() => 'ok', (e: { code?: string }) => e.code);
    expect(await code(lines, { recoveryKey: generateRecoveryKey() })).toBe('backup_wrong_key');
    expect(await code(lines, { passphrase: 'guess', argon2: FAST })).toBe('backup_wrong_key');
    expect(await code(lines.slice(0, -1))).toBe('backup_truncated');
    expect(await code([])).toBe('backup_truncated');
    expect(await code([lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)])).toBe('backup_corrupt');
    expect(await code([lines[0]!, other[1]!, ...lines.slice(2)])).toBe('backup_corrupt');
    expect(await code([...lines, lines.at(-1)!])).toBe('backup_corrupt');
    const flipped = lines[1]!.split('.');
    flipped[3] = (flipped[3]![0] === 'A' ? 'B' : 'A') + flipped[3]!.slice(1);
    expect(await code([lines[0]!, flipped.join('.'), ...lines.slice(2)])).toBe('backup_corrupt');
    expect(await code([lines[0]!, 'not a jwe', ...lines.slice(2)])).toBe('backup_corrupt');
  });

  it('opens with jose, hash-wasm and WebCrypto alone, as docs/backup-format.md describes', async () => {
    const passphrase = 'Tr0ub4dor&3';
    const items = history(30);
    const lines = await backup({ passphrase, argon2: FAST }, items, 512);
    // The document's recipe, step by step, with no Parley code.
    const header = decodeProtectedHeader(lines[0]!) as { pbk: { kdf: { name: string; m: number; t: number; p: number; salt: string } } };
    const { kdf } = header.pbk;
    expect(kdf.name).toBe('argon2id');
    const salt = Uint8Array.from(atob(kdf.salt.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    const stretched = await argon2id({ password: passphrase.normalize('NFC'), salt, parallelism: kdf.p, iterations: kdf.t, memorySize: kdf.m, hashLength: 32, outputType: 'binary' });
    const hkdf = await crypto.subtle.importKey('raw', stretched as BufferSource, 'HKDF', false, ['deriveBits']);
    const bits = new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info: new TextEncoder().encode('parley/v1/backup') }, hkdf, 512));
    const contentKey = bits.slice(0, 32);
    const seen: unknown[] = [];
    for (const [i, line] of lines.entries()) {
      const { plaintext, protectedHeader } = await compactDecrypt(line, contentKey);
      const pbk = (protectedHeader as unknown as { pbk: { seq: number; final: boolean } }).pbk;
      expect([pbk.seq, pbk.final]).toEqual([i, i === lines.length - 1]);
      seen.push(...(JSON.parse(new TextDecoder().decode(plaintext)) as { items: unknown[] }).items);
    }
    expect(seen).toEqual(items);
    // The access key is the second half of the same HKDF output.
    expect((await deriveBackupKeys({ passphrase }, header.pbk.kdf as never)).accessKey).toEqual(bits.slice(32));
  });
});

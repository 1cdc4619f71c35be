import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { del, expectCode, keyStoreContract, put, text, track } from '@parley/test-kit/key-store-contract';
import { randomBytes, toHex } from '@parley/core';
import { MemoryKeyStore } from '../src/key-store.memory.js';
import { DEFAULT_ARGON2_PARAMS, FileKeyStore, type Argon2Params } from '../src/key-store.node.js';

// Cheapest parameters hash-wasm accepts; only for tests.
const CHEAP: Argon2Params = { memoryKiB: 8, iterations: 1, parallelism: 1 };
const RECORD_FILE = /^[0-9a-f]{64}$/;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-key-store-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function recordFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((entry) => RECORD_FILE.test(entry));
}

keyStoreContract('MemoryKeyStore', async () => new MemoryKeyStore());
keyStoreContract('FileKeyStore', async () => {
  const dir = await tempDir();
  return FileKeyStore.open(dir, { key: randomBytes(32) });
});

// ---------------------------------------------------------------------------
// FileKeyStore only.

describe('FileKeyStore', () => {
  const openKey = async (dir: string, key: Uint8Array) => track(await FileKeyStore.open(dir, { key }));
  const openPass = async (dir: string, passphrase: string, argon2: Argon2Params = CHEAP) =>
    track(await FileKeyStore.open(dir, { passphrase }, { argon2 }));

  it('reopens with the same passphrase and reads everything', async () => {
    const dir = await tempDir();
    const first = await openPass(dir, 'correct horse battery staple');
    await first.write([put('identity/key', 'id'), put('kp/1', 'one'), put('kp/2', 'two')]);
    await first.write([del('kp/1')]);
    await first.close();
    const again = await openPass(dir, 'correct horse battery staple', { memoryKiB: 64, iterations: 3, parallelism: 1 });
    expect(await again.list('')).toEqual(['identity/key', 'kp/2']);
    expect(text(await again.get('identity/key'))).toBe('id');
    expect(text(await again.get('kp/2'))).toBe('two');
  });

  it('reopens with the same host key; does not keep or zero the caller key', async () => {
    const dir = await tempDir();
    const key = randomBytes(32);
    const copy = new Uint8Array(key);
    const first = await openKey(dir, key);
    await first.write([put('a', 'x')]);
    await first.close();
    expect(key).toEqual(copy);
    expect(text(await (await openKey(dir, key)).get('a'))).toBe('x');
  });

  it('normalizes the passphrase to NFC', async () => {
    const dir = await tempDir();
    await (await openPass(dir, 'caf\u00e9')).close();
    await expect(openPass(dir, 'cafe\u0301')).resolves.toBeInstanceOf(FileKeyStore);
  });

  it('fails at open with key_store_wrong_key for a wrong passphrase, key or key kind', async () => {
    const dir = await tempDir();
    await (await openPass(dir, 'right passphrase')).close();
    await expectCode(FileKeyStore.open(dir, { passphrase: 'wrong passphrase' }), 'key_store_wrong_key');
    await expectCode(FileKeyStore.open(dir, { key: randomBytes(32) }), 'key_store_wrong_key');
    const error = await FileKeyStore.open(dir, { passphrase: 'wrong passphrase' }).catch((e: unknown) => e);
    expect(inspect(error)).not.toContain('wrong passphrase');

    const keyed = await tempDir();
    const key = randomBytes(32);
    await (await openKey(keyed, key)).close();
    const other = new Uint8Array(key);
    other[0]! ^= 1;
    await expectCode(FileKeyStore.open(keyed, { key: other }), 'key_store_wrong_key');
    await expectCode(FileKeyStore.open(keyed, { passphrase: 'anything' }), 'key_store_wrong_key');
    // A failed open releases the directory.
    await expect(openKey(keyed, key)).resolves.toBeInstanceOf(FileKeyStore);
  });

  it('writes a header with the OWASP Argon2id defaults and a random salt', async () => {
    const dir = await tempDir();
    await (await FileKeyStore.open(dir, { passphrase: 'pw' })).close();
    const header = JSON.parse(await readFile(join(dir, 'keystore.json'), 'utf8'));
    expect(header).toMatchObject({ format: 'parley-key-store', version: 1, kdf: { name: 'argon2id', ...DEFAULT_ARGON2_PARAMS } });
    expect(DEFAULT_ARGON2_PARAMS).toEqual({ memoryKiB: 19456, iterations: 2, parallelism: 1 });
    expect(header.salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const dir2 = await tempDir();
    await (await openPass(dir2, 'pw')).close();
    expect(JSON.parse(await readFile(join(dir2, 'keystore.json'), 'utf8')).salt).not.toBe(header.salt);
  });

  it('treats edited Argon2 parameters as a wrong key and a garbled header as corrupt', async () => {
    const dir = await tempDir();
    await (await openPass(dir, 'pw')).close();
    const path = join(dir, 'keystore.json');
    const header = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...header, kdf: { ...header.kdf, iterations: 2 } }));
    await expectCode(FileKeyStore.open(dir, { passphrase: 'pw' }), 'key_store_wrong_key');
    await writeFile(path, JSON.stringify({ ...header, kdf: { ...header.kdf, memoryKiB: 1 << 30 } }));
    await expectCode(FileKeyStore.open(dir, { passphrase: 'pw' }), 'key_store_corrupt');
    await writeFile(path, '{"format":');
    await expectCode(FileKeyStore.open(dir, { passphrase: 'pw' }), 'key_store_corrupt');
  });

  it('refuses to create a new header over existing records', async () => {
    const dir = await tempDir();
    const store = await openPass(dir, 'pw');
    await store.write([put('a', 'x')]);
    await store.close();
    await rm(join(dir, 'keystore.json'));
    await expectCode(FileKeyStore.open(dir, { passphrase: 'pw' }), 'key_store_corrupt');
  });

  it('rejects bad keys, options and a second open of the same directory', async () => {
    const dir = await tempDir();
    await expectCode(FileKeyStore.open(dir, { key: randomBytes(16) }), 'key_store_invalid_key');
    await expectCode(FileKeyStore.open(dir, { passphrase: '' }), 'key_store_invalid_key');
    await expectCode(FileKeyStore.open(dir, {} as { passphrase: string }), 'key_store_invalid_key');
    await expectCode(FileKeyStore.open(dir, { passphrase: 'pw' }, { argon2: { memoryKiB: 4, iterations: 1, parallelism: 1 } }), 'key_store_invalid_options');
    const key = randomBytes(32);
    await openKey(dir, key);
    await expectCode(FileKeyStore.open(dir, { key }), 'key_store_in_use');
  });

  it('reports a tampered, truncated or re-versioned record as key_store_corrupt', async () => {
    const dir = await tempDir();
    const store = await openKey(dir, randomBytes(32));
    const original = randomBytes(100);
    for (const tamper of [
      (b: Uint8Array) => void (b[b.length >> 1]! ^= 0x01), // ciphertext bit
      (b: Uint8Array) => void (b[5]! ^= 0x80), // nonce bit
      (b: Uint8Array) => void (b[b.length - 1]! ^= 0x01), // tag bit
      (b: Uint8Array) => void (b[0] = 2), // version
    ]) {
      await store.write([put('victim', original)]);
      const [file] = await recordFiles(dir);
      const bytes = new Uint8Array(await readFile(join(dir, file!)));
      tamper(bytes);
      await writeFile(join(dir, file!), bytes);
      await expectCode(store.get('victim'), 'key_store_corrupt');
    }
    const [file] = await recordFiles(dir);
    const bytes = await readFile(join(dir, file!));
    await writeFile(join(dir, file!), bytes.subarray(0, 20));
    await expectCode(store.get('victim'), 'key_store_corrupt');
    await writeFile(join(dir, file!), new Uint8Array(0));
    await expectCode(store.get('victim'), 'key_store_corrupt');
    await expectCode(store.list(''), 'key_store_corrupt');
  });

  it('reports swapped or copied record files as key_store_corrupt', async () => {
    const dir = await tempDir();
    const key = randomBytes(32);
    const store = await openKey(dir, key);
    await store.write([put('a', 'value of a')]);
    const [fileA] = await recordFiles(dir);
    await store.write([put('b', 'value of b')]);
    const fileB = (await recordFiles(dir)).find((f) => f !== fileA)!;
    await store.close();

    await rename(join(dir, fileA!), join(dir, 'swap'));
    await rename(join(dir, fileB), join(dir, fileA!));
    await rename(join(dir, 'swap'), join(dir, fileB));
    const swapped = await openKey(dir, key);
    await expectCode(swapped.get('a'), 'key_store_corrupt');
    await expectCode(swapped.get('b'), 'key_store_corrupt');
    await expectCode(swapped.list(''), 'key_store_corrupt');
    await swapped.close();

    // Copy b's (authentic) file over a's: still refused for a.
    await writeFile(join(dir, fileB), await readFile(join(dir, fileA!)));
    const copied = await openKey(dir, key);
    await expectCode(copied.get('a'), 'key_store_corrupt');
  });

  it('never writes a value or a record name in plaintext; files are private', async () => {
    const dir = await tempDir();
    const valueMarker = toHex(randomBytes(16));
    const nameMarker = toHex(randomBytes(16));
    const store = await openPass(dir, 'pw');
    await store.write([put(`notes/${nameMarker}`, valueMarker), put('other', `prefix ${valueMarker} suffix`)]);
    await store.write([put(`notes/${nameMarker}`, valueMarker + valueMarker)]);
    expect(await store.list('notes/')).toEqual([`notes/${nameMarker}`]);
    await store.close();
    const reopened = await openPass(dir, 'pw');
    expect(text(await reopened.get(`notes/${nameMarker}`))).toBe(valueMarker + valueMarker);
    await reopened.close();

    for (const entry of await readdir(dir)) {
      const bytes = (await readFile(join(dir, entry))).toString('latin1');
      expect(bytes).not.toContain(valueMarker);
      expect(bytes).not.toContain(nameMarker);
      if (process.platform !== 'win32') expect((await stat(join(dir, entry))).mode & 0o077).toBe(0);
    }
    if (process.platform !== 'win32') expect((await stat(dir)).mode & 0o077).toBe(0);
  });

  it('hides key material from inspect, toString and JSON', async () => {
    const dir = await tempDir();
    const key = randomBytes(32);
    const store = await openKey(dir, key);
    for (const shown of [inspect(store, { showHidden: true, depth: 10 }), String(store), JSON.stringify(store)]) {
      expect(shown).not.toContain(toHex(key));
      expect(shown).not.toMatch(/[0-9a-f]{64}/);
    }
    expect(inspect(store)).toBe(`FileKeyStore { dir: ${JSON.stringify(dir)}, closed: false }`);
    expect(Object.keys(store)).toEqual([]);
  });

  it('discards an uncommitted journal and refuses a damaged committed one', async () => {
    const dir = await tempDir();
    const key = randomBytes(32);
    const store = await openKey(dir, key);
    await store.write([put('a', 'x')]);
    await store.close();
    await writeFile(join(dir, 'journal.tmp'), randomBytes(50));
    await writeFile(join(dir, `${'0'.repeat(64)}.tmp`), randomBytes(50));
    const reopened = await openKey(dir, key);
    expect(await reopened.list('')).toEqual(['a']);
    expect((await readdir(dir)).filter((e) => e.endsWith('.tmp'))).toEqual([]);
    await reopened.close();
    await writeFile(join(dir, 'journal'), randomBytes(50));
    await expectCode(FileKeyStore.open(dir, { key }), 'key_store_corrupt');
  });

  it('after a failed apply keeps serving the committed batch, refuses writes, and replays it on reopen', async () => {
    const dir = await tempDir();
    const key = randomBytes(32);
    const store = await openKey(dir, key);
    await store.write([put('x', 'old x')]);
    const [fileX] = await recordFiles(dir);
    // A directory where x's temp file goes makes the apply step fail after the commit.
    await mkdir(join(dir, `${fileX}.tmp`));
    await expectCode(store.write([put('x', 'new x'), put('y', 'new y'), del('z')]), 'key_store_io_error');
    expect(text(await store.get('x'))).toBe('new x');
    expect(text(await store.get('y'))).toBe('new y');
    expect(await store.list('')).toEqual(['x', 'y']);
    await expectCode(store.write([put('w', 'w')]), 'key_store_io_error');
    await store.close();
    expect(await readdir(dir)).toContain('journal');

    await rmdir(join(dir, `${fileX}.tmp`));
    const reopened = await openKey(dir, key);
    expect(text(await reopened.get('x'))).toBe('new x');
    expect(text(await reopened.get('y'))).toBe('new y');
    expect(await reopened.list('')).toEqual(['x', 'y']);
    expect(await readdir(dir)).not.toContain('journal');
  });

  it('keeps batches all-or-nothing when the writing process is SIGKILLed', async () => {
    const dir = await tempDir();
    const scriptDir = await tempDir();
    const key = randomBytes(32);
    const marker = toHex(randomBytes(16));
    const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
    const moduleUrl = pathToFileURL(fileURLToPath(new URL('../src/key-store.node.ts', import.meta.url))).href;
    const script = join(scriptDir, 'writer.mjs');
    await writeFile(
      script,
      `
const [moduleUrl, dir, keyHex, marker] = process.argv.slice(2);
const { FileKeyStore } = await import(moduleUrl);
const store = await FileKeyStore.open(dir, { key: new Uint8Array(Buffer.from(keyHex, 'hex')) });
const enc = new TextEncoder();
const a = await store.get('a');
let n = a ? Number(new TextDecoder().decode(a)) : 0;
const pad = 'p'.repeat(16 * 1024);
for (;;) {
  n++;
  const v = enc.encode(String(n));
  // Records of very different sizes: 'a' lands on disk long before 'b' (1 MiB), so a
  // kill between the two is likely; both must still agree afterwards.
  await store.write([
    { op: 'put', name: 'a', value: v },
    { op: 'put', name: 'blob/0', value: enc.encode(marker + ':' + n + ':' + pad) },
    { op: 'put', name: 'blob/1', value: enc.encode(marker + ':' + n + ':' + pad.repeat(8)) },
    n % 2 === 0 ? { op: 'put', name: 'even', value: v } : { op: 'delete', name: 'even' },
    { op: 'put', name: 'b', value: enc.encode(n + ':' + pad.repeat(64)) },
  ]);
  process.stdout.write('committed ' + n + '\\n');
}
`,
    );

    let previous = 0;
    let journalsLeft = 0;
    let rounds = 0;
    // 10 kills, fewer on a loaded machine (each round starts a Node process), never fewer than 4.
    const deadline = Date.now() + 25_000;
    while (rounds < 10 && (rounds < 4 || Date.now() < deadline)) {
      rounds++;
      const child = spawn(process.execPath, ['--import', 'tsx', script, moduleUrl, dir, toHex(key), marker], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      let lastCommitted = previous;
      const exited = new Promise<NodeJS.Signals | null>((resolveExit) => child.on('exit', (_code, signal) => resolveExit(signal)));
      await new Promise<void>((resolveFirst, rejectFirst) => {
        let buffered = '';
        child.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop()!;
          for (const line of lines) {
            const match = /^committed (\d+)$/.exec(line);
            if (match) {
              lastCommitted = Number(match[1]);
              resolveFirst();
            }
          }
        });
        void exited.then(() => rejectFirst(new Error(`writer exited early: ${stderr}`)));
      });
      // Kill at a random moment inside the write loop.
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');

      const entries = await readdir(dir);
      if (entries.includes('journal')) journalsLeft++;
      for (const entry of entries) {
        expect((await readFile(join(dir, entry))).toString('latin1')).not.toContain(marker);
      }

      const store = await FileKeyStore.open(dir, { key });
      const a = text(await store.get('a'));
      const n = Number(a);
      expect(a).toBeDefined();
      expect(text(await store.get('b'))?.split(':')[0]).toBe(a);
      const blobs = ['blob/0', 'blob/1'];
      for (const blob of blobs) expect(text(await store.get(blob))?.startsWith(`${marker}:${n}:`)).toBe(true);
      expect(text(await store.get('even'))).toBe(n % 2 === 0 ? a : undefined);
      expect(await store.list('')).toEqual(['a', 'b', ...blobs, ...(n % 2 === 0 ? ['even'] : [])]);
      // Every acknowledged batch survived; at most the one in flight was added.
      expect(n).toBeGreaterThanOrEqual(lastCommitted);
      expect(n).toBeLessThanOrEqual(lastCommitted + 1);
      expect(n).toBeGreaterThan(previous);
      previous = n;
      await store.close();
    }
    // Informational: how often the kill landed between commit and cleanup.
    console.info(`crash test: ${rounds} kills, ${previous} batches, ${journalsLeft} committed journals replayed`);
  });
});

/**
 * The filesystem blob store: the shared contract, and what is its own — a private directory
 * (0700, refused when open to others) and private files (0600).
 */
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64Url } from '@parley/core';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { blobStoreContract } from './blob-store-contract.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-fs-blobs-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

blobStoreContract('filesystem', async () => {
  const store = await FsBlobStore.open(join(await tempDir(), 'blobs'));
  return { store, boundary: undefined, close: () => store.close() };
});

describe('FsBlobStore', () => {
  it('keeps its directory 0700 and its files 0600', async () => {
    const dir = join(await tempDir(), 'blobs');
    const store = await FsBlobStore.open(dir);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const id = toBase64Url(randomBytes(16));
    await store.append(id, 0, (async function* () { yield new Uint8Array([1, 2, 3]); })());
    expect((await stat(join(dir, id))).mode & 0o777).toBe(0o600);
  });

  it('refuses a directory open to other users', async () => {
    const dir = join(await tempDir(), 'open');
    await FsBlobStore.open(dir);
    await chmod(dir, 0o755);
    await expect(FsBlobStore.open(dir)).rejects.toMatchObject({ code: 'private_dir_mode' });
  });
});

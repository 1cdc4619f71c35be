/**
 * Files that hold secrets or plaintext are 0600 in 0700 directories whatever the umask
 * (the test runs under 022): the CLI's private-file writer replaces an older, looser file;
 * a new device store's directory is made 0700 even when the app created it first; an
 * existing directory that already holds files is left as it is.
 */
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore } from '@parley/client/node';
import { ensurePrivateDirectory, writePrivateFile } from '../src/private-files.js';

let dir: string;
let savedUmask: number;
const argon2 = { memoryKiB: 64, iterations: 1, parallelism: 1 };
const mode = async (path: string) => (await stat(path)).mode & 0o777;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-file-modes-'));
  savedUmask = process.umask(0o022);
});
afterAll(async () => {
  process.umask(savedUmask);
  await rm(dir, { recursive: true, force: true });
});

describe('private files and directories', () => {
  it('writePrivateFile: 0600, also over an existing 0644 file', async () => {
    const file = join(dir, 'bundle.json');
    await writeFile(file, 'old');
    expect(await mode(file)).toBe(0o644);
    await writePrivateFile(file, 'new');
    expect(await mode(file)).toBe(0o600);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('ensurePrivateDirectory: creates 0700 (with parents), refuses one open to others', async () => {
    const nested = join(dir, 'a', 'b');
    await ensurePrivateDirectory(nested, 'test directory');
    expect(await mode(join(dir, 'a'))).toBe(0o700);
    expect(await mode(nested)).toBe(0o700);
    const open = join(dir, 'open');
    await mkdir(open, { mode: 0o755 });
    await expect(ensurePrivateDirectory(open, 'test directory')).rejects.toMatchObject({ code: 'insecure_file', message: expect.stringMatching(/chmod 700/) });
  });

  it('FileKeyStore: a new store in a directory the app made 0755 is made 0700; files are 0600', async () => {
    const storeDir = join(dir, 'store');
    await mkdir(storeDir, { mode: 0o755 });
    const store = await FileKeyStore.open(storeDir, { passphrase: 'pw' }, { argon2 });
    await store.write([{ op: 'put', name: 'secret', value: new Uint8Array([1, 2, 3]) }]);
    await store.close();
    expect(await mode(storeDir)).toBe(0o700);
    for (const name of await readdir(storeDir)) expect([name, await mode(join(storeDir, name))]).toEqual([name, 0o600]);

    // A directory that already holds other files is not the store's to change.
    const shared = join(dir, 'shared');
    await mkdir(shared, { mode: 0o755 });
    await writeFile(join(shared, 'other'), 'x');
    await chmod(shared, 0o755);
    await (await FileKeyStore.open(shared, { passphrase: 'pw' }, { argon2 })).close();
    expect(await mode(shared)).toBe(0o755);
  });
});

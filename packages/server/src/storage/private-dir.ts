/**
 * The directories Parley keeps its secrets in (the embedded database's data directory,
 * the key directory) belong to the server's user alone: created 0700, and a directory
 * or key file that others can read is refused at start-up, as ssh refuses a readable
 * private key. A data directory is also locked while a server uses it: a second server
 * on the same directory would silently lose acknowledged writes.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, link, mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ParleyError } from '@parley/core/errors';
import type { ServerErrorCode } from '../error-codes.js';

function refuse(code: ServerErrorCode, message: string, details: Record<string, unknown>): ParleyError {
  return new ParleyError(code, message, { status: 500, details });
}

/** Creates `dir` (mode 0700) or checks that an existing one is this user's and closed to others. */
export async function ensurePrivateDir(dir: string, what: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked by the umask: make the new directory exactly 0700.
  if (created !== undefined) await chmod(dir, 0o700);
  const info = await stat(dir);
  if (!info.isDirectory()) throw refuse('private_dir_invalid', `the ${what} is not a directory: ${dir}`, { path: dir });
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw refuse('private_dir_owner', `the ${what} ${dir} belongs to another user (uid ${info.uid}); it must be owned by the server's user`, { path: dir });
  }
  if ((info.mode & 0o077) !== 0) {
    throw refuse('private_dir_mode', `the ${what} ${dir} is open to other users (mode ${(info.mode & 0o777).toString(8)}); run: chmod 700 ${dir}`, {
      path: dir,
      mode: (info.mode & 0o777).toString(8),
    });
  }
}

/** Refuses a secret file that others can read or write (mode & 077), with `code`. */
export async function ensurePrivateFile(path: string, what: string, code: ServerErrorCode = 'private_file_mode'): Promise<void> {
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw refuse(code, `the ${what} ${path} is readable by other users (mode ${mode.toString(8)}); run: chmod 600 ${path}`, { path, mode: mode.toString(8) });
  }
}

/**
 * Writes a new secret file (mode 0600) atomically and exclusively: another node may be
 * creating the same file. Returns false when it already existed (the caller reads it).
 */
export async function createSecretFile(path: string, content: string): Promise<boolean> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path); // fails with EEXIST if another node won the race
    await chmod(path, 0o600);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

/**
 * Reads the secret file at `path`, creating it from `create()` on first use (race-safe
 * across nodes sharing the directory), and refuses it when others can read it.
 */
export async function readOrCreateSecretFile(
  path: string,
  what: string,
  create: () => string,
  modeCode: ServerErrorCode = 'private_file_mode',
): Promise<{ text: string; created: boolean }> {
  let created = false;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    created = await createSecretFile(path, create());
    text = await readFile(path, 'utf8');
  }
  await ensurePrivateFile(path, what, modeCode);
  return { text, created };
}

/**
 * Checks an existing key directory before anything is opened: the directory is private
 * and no key file in it (`*.key`, `admin-token`) is readable by others. A missing
 * directory passes (it is created, 0700, when the first key is made).
 */
export async function checkKeyDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await ensurePrivateDir(dir, 'key directory');
  for (const name of names) {
    if (name.endsWith('.key') || name === 'admin-token') await ensurePrivateFile(join(dir, name), 'key file');
  }
}

const LOCK_FILE = 'parley.lock';

/** The start time of a process (Linux: /proc/<pid>/stat field 22), so a recycled pid is not taken for the holder. */
async function startTimeOf(pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

async function holderAlive(pid: number, startTime: string | undefined): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = await startTimeOf(pid);
  return startTime === undefined || now === undefined || now === startTime;
}

/** A held data-directory lock; `release()` removes it (idempotent). */
export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes the exclusive lock of a data directory (`parley.lock`, holding the pid and its
 * start time). A lock left by a process that is gone is taken over; a live holder makes
 * this fail with `data_dir_locked`, naming its pid.
 */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const path = join(dir, LOCK_FILE);
  const content = `${process.pid}\n${(await startTimeOf(process.pid)) ?? ''}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      try {
        await handle.writeFile(content, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      let released = false;
      return {
        path,
        async release() {
          if (released) return;
          released = true;
          await unlink(path).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const [pidText, startTime] = (await readFile(path, 'utf8').catch(() => '')).split('\n');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0) {
      if (await holderAlive(pid, startTime || undefined)) {
        throw refuse('data_dir_locked', `the data directory ${dir} is in use by another Parley server (pid ${pid}); stop it first`, { path: dir, pid });
      }
    } else {
      // No pid yet: another starter may be between creating and writing the file.
      const age = Date.now() - (await stat(path).then((s) => s.mtimeMs, () => 0));
      if (age < 5_000) throw refuse('data_dir_locked', `the data directory ${dir} is being locked by another Parley server`, { path: dir });
    }
    // Stale: its holder is gone. Remove it and try again (another starter may race us: O_EXCL decides).
    await unlink(path).catch(() => {});
  }
  throw refuse('data_dir_locked', `could not lock the data directory ${dir}`, { path: dir });
}

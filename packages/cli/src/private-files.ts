/**
 * Files that hold secrets or plaintext: written 0600 (atomically, replacing any older
 * file whatever its mode) into directories that are 0700, and read only when no other
 * user can read them (as ssh treats a private key).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { CliError, UsageError } from './errors.js';

/** A file or directory that is not private to this user: refused (exit 1, with the fix). */
export class InsecureFileError extends CliError {
  readonly code = 'insecure_file';
}

/**
 * Reads a secret file after checking that only its owner can read or write it.
 *
 * @example
 * const token = await readSecretFile('/etc/parley/admin-token', 'admin token file');
 */
export async function readSecretFile(path: string, what: string): Promise<string> {
  const text = await readPrivateText(path, what);
  if (text.length === 0 || /\s/.test(text)) throw new UsageError(`the ${what} ${path} must hold one token on one line`);
  return text;
}

/**
 * Reads a private file's whole text (trimmed) after the same check: only its owner can
 * read or write it (e.g. an escrow officer's JSON key file).
 *
 * @example
 * const json = JSON.parse(await readPrivateText('alice.officer.json', 'officer key file'));
 */
export async function readPrivateText(path: string, what: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch (error) {
    throw new UsageError(`cannot read the ${what} ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if ((mode & 0o077) !== 0) {
    throw new InsecureFileError(`the ${what} ${path} is open to other users (mode ${mode.toString(8).padStart(3, '0')}); run: chmod 600 ${path}`);
  }
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new UsageError(`cannot read the ${what} ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return text;
}

/**
 * Creates `dir` (and its missing parents) with mode 0700, or refuses an existing one
 * that other users can enter.
 */
export async function ensurePrivateDirectory(dir: string, what: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined) await chmod(dir, 0o700); // the umask may have masked it
  const mode = (await stat(dir)).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new InsecureFileError(`the ${what} ${dir} is open to other users (mode ${mode.toString(8)}); run: chmod 700 ${dir}`);
}

/**
 * Writes `content` to a new temporary file next to `path` (mode 0600 whatever the umask,
 * flushed to disk) and returns its name; the caller links or renames it into place.
 */
async function writeTempFile(path: string, content: string): Promise<string> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.chmod(0o600);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  return temp;
}

/**
 * Writes `content` to a new file `path` (mode 0600) atomically; false when the file
 * already exists (another node sharing the directory may have just created it).
 *
 * @example
 * const created = await createPrivateFile(join(keyDir, 'admin-token'), `${token}\n`);
 */
export async function createPrivateFile(path: string, content: string): Promise<boolean> {
  const temp = await writeTempFile(path, content);
  try {
    await link(temp, path); // EEXIST when the file is there already: it is not replaced
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

/**
 * Writes `content` to `path` with mode 0600, atomically: a new file renamed over the old
 * one, so an existing file's looser mode never applies.
 *
 * @example
 * await writePrivateFile('/tmp/parley-evidence-x/payment-alert.evidence.json', json);
 */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  const temp = await writeTempFile(path, content);
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}

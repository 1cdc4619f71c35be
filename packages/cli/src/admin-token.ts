/**
 * Where `parley serve` gets its admin token.
 *
 * The token never goes on stdout (the JSON log stream) and, preferably, not on the
 * command line (visible to every user in `ps`): `--admin-token-file FILE` or
 * PARLEY_ADMIN_TOKEN. Without either, a random token is generated once and kept in
 * `<key-dir>/admin-token` (mode 0600; the nodes sharing a key directory share it), and
 * only that path is printed, on stderr. Like ssh with a private key, a token file that
 * other users can read (mode & 077) is refused.
 */
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UsageError } from './errors.js';
import { createPrivateFile, ensurePrivateDirectory, readSecretFile } from './private-files.js';

/**
 * Where the admin token may come from, and where a generated one is kept.
 *
 * @example
 * const admin = await resolveAdminToken({ flag, file, env: process.env['PARLEY_ADMIN_TOKEN'], defaultFile: join(keyDir, 'admin-token'), warn });
 */
export interface AdminTokenOptions {
  /** `--admin-token` (on the command line: warned about). */
  readonly flag?: string | undefined;
  /** `--admin-token-file`. */
  readonly file?: string | undefined;
  /** PARLEY_ADMIN_TOKEN. */
  readonly env?: string | undefined;
  /** Where a generated token is kept: `<key-dir>/admin-token`. */
  readonly defaultFile: string;
  /** A line on stderr. */
  readonly warn: (line: string) => void;
}

/**
 * The admin token and a line saying where it came from (for stderr, never stdout).
 *
 * @example
 * const { token, source } = await resolveAdminToken({ env: process.env['PARLEY_ADMIN_TOKEN'], defaultFile: join(keyDir, 'admin-token'), warn });
 */
export async function resolveAdminToken(o: AdminTokenOptions): Promise<{ token: string; source: string }> {
  if (o.flag !== undefined && o.file !== undefined) throw new UsageError('use either --admin-token or --admin-token-file');
  if (o.flag !== undefined) {
    o.warn('warning: --admin-token on the command line is visible to other users of this machine (ps, /proc); prefer --admin-token-file FILE or PARLEY_ADMIN_TOKEN');
    if (o.flag.length === 0) throw new UsageError('--admin-token is empty');
    return { token: o.flag, source: 'admin token: from --admin-token' };
  }
  if (o.file !== undefined) return { token: await readSecretFile(o.file, 'admin token file'), source: `admin token: read from ${o.file}` };
  if (o.env !== undefined && o.env.length > 0) return { token: o.env, source: 'admin token: from PARLEY_ADMIN_TOKEN' };
  await ensurePrivateDirectory(dirname(o.defaultFile), 'key directory');
  let created = false;
  try {
    await stat(o.defaultFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    try {
      created = await createPrivateFile(o.defaultFile, `${randomBytes(24).toString('base64url')}\n`);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code ?? 'error';
      throw new UsageError(`cannot write a generated admin token to ${o.defaultFile} (${code}); pass --admin-token-file FILE or set PARLEY_ADMIN_TOKEN`);
    }
  }
  const token = await readSecretFile(o.defaultFile, 'admin token file');
  return { token, source: `admin token: ${created ? 'generated into' : 'read from'} ${o.defaultFile} (mode 0600; set PARLEY_ADMIN_TOKEN or --admin-token-file to choose one)` };
}

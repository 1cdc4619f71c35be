/**
 * Where a token's PIN and module come from. The PIN: the URI's `pin-source=file:/path`
 * (a file only its owner can read or write, mode 0600 or stricter, like an ssh key), else
 * the environment variable `PARLEY_PKCS11_PIN` — never a command-line value, never the URI
 * itself (`pin-value` is refused by the parser). The PIN is returned to the session layer
 * only and never appears in a message, a detail or a log line.
 */
import { readFile, stat } from 'node:fs/promises';
import { CustodyError } from '../errors.js';
import type { Pkcs11Uri } from './uri.js';

/** The module used when neither the URI nor `PARLEY_PKCS11_MODULE` names one (Debian's softhsm2). */
export const DEFAULT_PKCS11_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

/**
 * The PKCS#11 module to load: the URI's `module-path`, else `PARLEY_PKCS11_MODULE`, else
 * {@link DEFAULT_PKCS11_MODULE}.
 *
 * @example
 * resolveModulePath(parsePkcs11Uri('pkcs11:token=parley'), process.env) // '/usr/lib/softhsm/libsofthsm2.so'
 */
export function resolveModulePath(uri: Pkcs11Uri, env: NodeJS.ProcessEnv = process.env): string {
  if (uri.modulePath !== undefined) return uri.modulePath;
  if (uri.moduleName !== undefined) {
    throw new CustodyError('pkcs11_bad_uri', 'module-name is not supported: name the module with module-path=/absolute/path.so or PARLEY_PKCS11_MODULE', {
      details: { reason: 'module-name', attribute: 'module-name' },
    });
  }
  const fromEnv = env['PARLEY_PKCS11_MODULE'];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!fromEnv.startsWith('/')) throw new CustodyError('pkcs11_bad_uri', 'PARLEY_PKCS11_MODULE must be an absolute path', { details: { reason: 'module-env' } });
    return fromEnv;
  }
  return DEFAULT_PKCS11_MODULE;
}

/**
 * Reads the user PIN: from the URI's PIN file (refused unless mode 0600 or stricter; one
 * trailing newline dropped), else from `PARLEY_PKCS11_PIN`; `pkcs11_pin_missing` otherwise.
 *
 * @example
 * const pin = await resolvePin(parsePkcs11Uri('pkcs11:token=parley?pin-source=file:/etc/parley/pin'))
 */
export async function resolvePin(uri: Pkcs11Uri, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (uri.pinFile !== undefined) {
    const path = uri.pinFile;
    const info = await stat(path).catch(() => {
      throw new CustodyError('pkcs11_pin_file_unreadable', `the PIN file ${path} cannot be read`, { details: { path } });
    });
    if (!info.isFile()) throw new CustodyError('pkcs11_pin_file_unreadable', `the PIN file ${path} is not a regular file`, { details: { path } });
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new CustodyError('pkcs11_pin_file_insecure', `the PIN file ${path} is open to other users (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`, {
        details: { path, mode: (info.mode & 0o777).toString(8) },
      });
    }
    if (typeof process.getuid === 'function' && info.uid !== process.getuid()) {
      throw new CustodyError('pkcs11_pin_file_insecure', `the PIN file ${path} belongs to another user`, { details: { path } });
    }
    const text = await readFile(path, 'utf8').catch(() => {
      throw new CustodyError('pkcs11_pin_file_unreadable', `the PIN file ${path} cannot be read`, { details: { path } });
    });
    const pin = text.replace(/\r?\n$/, '');
    if (pin === '') throw new CustodyError('pkcs11_pin_missing', `the PIN file ${path} is empty`, { details: { path } });
    return pin;
  }
  const pin = env['PARLEY_PKCS11_PIN'];
  if (pin === undefined || pin === '') {
    throw new CustodyError('pkcs11_pin_missing', 'no token PIN: add pin-source=file:/path (mode 0600) to the PKCS#11 URI or set PARLEY_PKCS11_PIN');
  }
  return pin;
}

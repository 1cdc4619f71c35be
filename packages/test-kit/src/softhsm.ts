/**
 * A private SoftHSM2 token for a test (real PKCS#11, Debian's softhsm2): a temporary
 * directory with its own `softhsm2.conf` (tokens inside it), `SOFTHSM2_CONF` set for this
 * process and the children it spawns, a token initialised by `softhsm2-util`, and a PIN file
 * (mode 0600) that the PKCS#11 URI names with `pin-source=file:`.
 *
 * One configuration per process (the PKCS#11 module reads it once, at C_Initialize): every
 * call adds a token to it. Make tokens before the first PKCS#11 use of the process, or while
 * nothing has the module open. Without softhsm2 (or the pkcs11js binding), `softHsmStatus()`
 * says why and the tests skip with that one-line note.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's SoftHSM2 module. */
export const SOFTHSM_MODULE = process.env['PARLEY_TEST_SOFTHSM_MODULE'] ?? '/usr/lib/softhsm/libsofthsm2.so';

/** A token made by {@link startSoftHsm}. */
export interface SoftHsm {
  readonly modulePath: string;
  readonly tokenLabel: string;
  /** The user PIN (tests only: production PINs come from a 0600 file or the environment). */
  readonly pin: string;
  /** The PIN in a 0600 file. */
  readonly pinFile: string;
  /** Environment for child processes: SOFTHSM2_CONF and PARLEY_PKCS11_MODULE. */
  readonly env: Record<string, string>;
  /** `pkcs11:token=<label>[;object=<objectLabel>]?module-path=…&pin-source=file:<pinFile>`. */
  uri(objectLabel?: string): string;
  /** Deletes the token (and the directory once no token is left). */
  cleanup(): Promise<void>;
}

/**
 * Whether softhsm2 and the pkcs11js binding are installed; `note` is the one-line skip reason.
 *
 * @example
 * const hsm = softHsmStatus()
 * describe.skipIf(!hsm.ok)('PKCS#11', () => { … })
 * if (!hsm.ok) console.log(hsm.note)
 */
export function softHsmStatus(): { ok: boolean; note: string } {
  if (!existsSync(SOFTHSM_MODULE)) return { ok: false, note: `SoftHSM2 tests skipped: no PKCS#11 module at ${SOFTHSM_MODULE} (apt-get install softhsm2)` };
  if (spawnSync('softhsm2-util', ['--version'], { stdio: 'ignore' }).status !== 0) return { ok: false, note: 'SoftHSM2 tests skipped: softhsm2-util is not on PATH (apt-get install softhsm2)' };
  try {
    createRequire(import.meta.url).resolve('pkcs11js');
  } catch {
    return { ok: false, note: 'SoftHSM2 tests skipped: the pkcs11js binding is not installed' };
  }
  return { ok: true, note: '' };
}

let shared: { dir: string; conf: string; tokens: number } | undefined;

async function configDir(): Promise<{ dir: string; conf: string; tokens: number }> {
  if (shared) return shared;
  const dir = await mkdtemp(join(tmpdir(), 'parley-softhsm-'));
  await chmod(dir, 0o700);
  const conf = join(dir, 'softhsm2.conf');
  await mkdir(join(dir, 'tokens'), { mode: 0o700 });
  await writeFile(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`, { mode: 0o600 });
  // This process and the children it spawns read this configuration.
  process.env['SOFTHSM2_CONF'] = conf;
  shared = { dir, conf, tokens: 0 };
  return shared;
}

/**
 * Initialises a fresh token (`softhsm2-util --init-token --free`) with a random PIN.
 *
 * @example
 * const hsm = await startSoftHsm({ label: 'parley' })
 * const signer = await Pkcs11Signer.open(hsm.uri('parley-tlog-keys'), { create: true })
 * await hsm.cleanup()
 */
export async function startSoftHsm(o: { label?: string; pin?: string; soPin?: string } = {}): Promise<SoftHsm> {
  const status = softHsmStatus();
  if (!status.ok) throw new Error(status.note);
  const config = await configDir();
  const tokenLabel = o.label ?? `parley-test-${randomBytes(4).toString('hex')}`;
  const pin = o.pin ?? randomBytes(8).toString('hex');
  const soPin = o.soPin ?? randomBytes(8).toString('hex');
  const env = { SOFTHSM2_CONF: config.conf, PARLEY_PKCS11_MODULE: SOFTHSM_MODULE };
  await run('softhsm2-util', ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', soPin], { env: { ...process.env, ...env } });
  config.tokens++;
  const pinFile = join(config.dir, `${tokenLabel}.pin`);
  await writeFile(pinFile, `${pin}\n`, { mode: 0o600 });
  await chmod(pinFile, 0o600);
  let cleaned = false;
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return {
    modulePath: SOFTHSM_MODULE,
    tokenLabel,
    pin,
    pinFile,
    env,
    uri: (objectLabel) => `pkcs11:token=${enc(tokenLabel)}${objectLabel ? `;object=${enc(objectLabel)}` : ''}?module-path=${SOFTHSM_MODULE}&pin-source=file:${pinFile}`,
    cleanup: async () => {
      if (cleaned) return;
      cleaned = true;
      await run('softhsm2-util', ['--delete-token', '--token', tokenLabel], { env: { ...process.env, ...env } }).catch(() => {});
      await rm(pinFile, { force: true });
      config.tokens--;
      if (config.tokens === 0 && shared === config) {
        shared = undefined;
        await rm(config.dir, { recursive: true, force: true });
      }
    },
  };
}

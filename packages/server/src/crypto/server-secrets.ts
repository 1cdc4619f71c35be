/**
 * The secrets of the server itself (not of any device): the session-token MAC key, the
 * key of retrieval-link codes and the key of recipient pseudonyms. They are derived with
 * HKDF-SHA-256 (RFC 5869) from one master key kept in the key directory (`server.key`,
 * mode 0600, shared by the nodes of a deployment like the log keys), never stored in
 * the database: a copy of the database or its WAL cannot forge a session.
 */
import { hkdfSync } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ParleyError, fromBase64, randomBytes, toBase64 } from '@parley/core';
import { ensurePrivateDir, readOrCreateSecretFile } from '../storage/private-dir.js';

/** The purposes a server secret is derived for (the HKDF `info`). */
export type ServerSecretName = 'session-mac-key' | 'retrieval-otp-key' | 'recipient-pseudonym-key' | 'trace-pseudonym-key';

const FILE = 'server.key';
const SALT = 'parley/v1/server-secrets';

export class ServerSecrets {
  private constructor(private readonly master: Uint8Array) {}

  /**
   * Loads `<dir>/server.key`, creating it on first start. Without a directory the master
   * key is ephemeral (tests and throwaway servers: sessions do not survive a restart).
   */
  static async load(dir: string | undefined, log: Logger): Promise<ServerSecrets> {
    if (dir === undefined) {
      log.warn('no key directory configured: using ephemeral server secrets (sessions end at restart)');
      return new ServerSecrets(randomBytes(32));
    }
    await ensurePrivateDir(dir, 'key directory');
    const path = join(dir, FILE);
    const { text, created } = await readOrCreateSecretFile(path, 'server key file', () => `${toBase64(randomBytes(32))}\n`);
    let master: Uint8Array;
    try {
      master = fromBase64(text.trim(), 'server key');
    } catch {
      master = new Uint8Array();
    }
    if (master.length !== 32) throw new ParleyError('server_key_invalid', `${path} does not hold a 32-byte base64 key`, { status: 500, details: { path } });
    if (created) log.info({ path }, 'created the server key');
    return new ServerSecrets(master);
  }

  /** The 32-byte secret for one purpose. */
  derive(name: ServerSecretName): Uint8Array {
    return new Uint8Array(hkdfSync('sha256', this.master, SALT, name, 32));
  }
}

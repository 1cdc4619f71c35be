/**
 * The state file of the log monitors (`parley log verify`, `parley audit monitor`):
 * one entry per log, keyed by its verifier key (whose name is the log's origin), with the
 * last verified checkpoint, the server URLs it was verified at and whether the key was
 * ever given out of band. Version-1 files (keyed by origin) are read too.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from '../errors.js';
import { writePrivateFile } from '../private-files.js';
import { isRecord, isString } from './log-http.js';

/**
 * What `verify` remembers per log (origin and verifier key): the last checkpoint it
 * verified, where, and whether the key was ever given out of band.
 *
 * @example
 * const s: LogState = { origin, verifierKey, treeSize: 705, rootHash: 'q6y…=', checkpoint: note, verifiedAt: new Date().toISOString(), urls: ['http://127.0.0.1:8080'], pinned: false };
 */
export interface LogState {
  readonly origin: string;
  readonly verifierKey: string;
  readonly treeSize: number;
  /** base64 */
  readonly rootHash: string;
  readonly checkpoint: string;
  readonly verifiedAt: string;
  /** The server URLs this log was verified at; absent for entries of a version-1 file (any URL). */
  readonly urls?: readonly string[];
  /** The key was given with `--key` (obtained out of band), not taken from the server. */
  readonly pinned: boolean;
  /** The trusted key this one was followed from, through an announced key rotation (docs/log-key-rotation.md). */
  readonly rotatedFrom?: string;
}

/**
 * The state file: version 2, one entry per verified log.
 *
 * @example
 * const state: StateFile = await readStateFile(defaultStateFile());
 */
export interface StateFile {
  version: 2;
  /** By verifier key (`<origin>+<key id>+<key>`). */
  logs: Record<string, LogState>;
}

/**
 * At most this many server URLs are remembered per log (the newest).
 *
 * @example
 * urls: [...urls, here].slice(-MAX_URLS)
 */
export const MAX_URLS = 32;

/** A server URL as the state file records it: scheme, host, port and path, no trailing slash. */
export function stateUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return url.replace(/\/+$/, '');
  }
}

/** The entries of a state file by verifier key (version 2, or version 1 keyed by origin). */
export function stateEntries(json: unknown): Record<string, LogState> | undefined {
  if (!isRecord(json) || (json['version'] !== 1 && json['version'] !== 2) || !isRecord(json['logs'])) return undefined;
  const logs: Record<string, LogState> = {};
  for (const [key, s] of Object.entries(json['logs'])) {
    if (
      !isRecord(s) ||
      !isString(s['verifierKey']) ||
      typeof s['treeSize'] !== 'number' ||
      !Number.isSafeInteger(s['treeSize']) ||
      s['treeSize'] < 0 ||
      !isString(s['rootHash']) ||
      typeof s['checkpoint'] !== 'string' ||
      typeof s['verifiedAt'] !== 'string' ||
      (s['urls'] !== undefined && !(Array.isArray(s['urls']) && s['urls'].every(isString))) ||
      (s['rotatedFrom'] !== undefined && !isString(s['rotatedFrom']))
    ) {
      throw new Error(key);
    }
    const origin = json['version'] === 1 ? key : s['origin'];
    if (!isString(origin)) throw new Error(key);
    logs[s['verifierKey']] = {
      origin,
      verifierKey: s['verifierKey'],
      treeSize: s['treeSize'],
      rootHash: s['rootHash'],
      checkpoint: s['checkpoint'],
      verifiedAt: s['verifiedAt'],
      ...(Array.isArray(s['urls']) ? { urls: s['urls'] as string[] } : {}),
      pinned: s['pinned'] === true,
      ...(isString(s['rotatedFrom']) ? { rotatedFrom: s['rotatedFrom'] } : {}),
    };
  }
  return logs;
}

/** The default state file, `~/.parley/log-state.json`. */
export function defaultStateFile(): string {
  return join(homedir(), '.parley', 'log-state.json');
}

/** A state file that cannot be used (unreadable, not JSON, unknown format, malformed entry). */
export class StateFileError extends CliError {
  readonly code = 'bad_state_file';
}

/** Reads a state file (none yet: empty); throws {@link StateFileError}. */
export async function readStateFile(path: string): Promise<StateFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 2, logs: {} };
    throw new StateFileError(`cannot read the state file ${path}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new StateFileError(`the state file ${path} is not JSON; fix or remove it`);
  }
  let logs: Record<string, LogState> | undefined;
  try {
    logs = stateEntries(json);
  } catch (error) {
    throw new StateFileError(`the state file ${path} has a malformed entry for ${(error as Error).message}`);
  }
  if (logs === undefined) throw new StateFileError(`the state file ${path} has an unknown format`);
  return { version: 2, logs };
}

/** Writes a state file atomically (0600, its directory created 0700). */
export async function writeStateFile(path: string, state: StateFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writePrivateFile(path, `${JSON.stringify(state, null, 2)}\n`); // atomic: a crash leaves the old state or the new one
}

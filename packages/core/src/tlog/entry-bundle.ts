/**
 * C2SP tlog-tiles entry bundles (https://c2sp.org/tlog-tiles, "Log entries"): up to 256
 * consecutive log entries, each a big-endian uint16 length followed by its bytes, served at
 * `entryBundlePath(N, W)` next to the level-0 hash tile of the same index and width.
 */
import { assertBytes } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import { TILE_WIDTH, assertWidth } from './tiles.js';

/**
 * Largest entry an entry bundle can carry (uint16 length prefix).
 *
 * @example
 * if (entry.length > MAX_ENTRY_SIZE) throw new Error('entry too large for the log');
 */
export const MAX_ENTRY_SIZE = 0xffff;

/**
 * Encodes an entry bundle: each entry as a big-endian uint16 length followed by its bytes
 * (tlog-tiles "Log entries"). A bundle holds 1 to 256 entries of at most 65535 bytes each;
 * anything else throws `InvalidInputError` with code `tlog_bad_entry_bundle`.
 *
 * @example
 * encodeEntryBundle([utf8('a'), utf8('bc')]) // Uint8Array [0, 1, 97, 0, 2, 98, 99]
 */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > TILE_WIDTH) {
    throw new InvalidInputError('an entry bundle holds 1 to 256 entries', { code: 'tlog_bad_entry_bundle' });
  }
  let size = 0;
  entries.forEach((e, i) => {
    assertBytes(e, `entries[${i}]`);
    if (e.length > MAX_ENTRY_SIZE) {
      throw new InvalidInputError('an entry is longer than 65535 bytes', { code: 'tlog_bad_entry_bundle', details: { entry: i, length: e.length } });
    }
    size += 2 + e.length;
  });
  const out = new Uint8Array(size);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >>> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/**
 * Decodes an entry bundle. Strict: a truncated length or entry, an empty bundle, more than
 * 256 entries, or (when given) a count other than `expectedCount` throws `InvalidInputError`
 * with code `tlog_bad_entry_bundle`. The entries are copies, independent of `bytes`.
 *
 * @example
 * const entries = decodeEntryBundle(bytes, 256); // a full bundle
 * // then check leafHash(entries[i]) against hash i of the matching level-0 tile
 */
export function decodeEntryBundle(bytes: Uint8Array, expectedCount?: number): Uint8Array[] {
  assertBytes(bytes, 'bytes');
  if (expectedCount !== undefined) assertWidth(expectedCount);
  const bad = (message: string): InvalidInputError => new InvalidInputError(message, { code: 'tlog_bad_entry_bundle' });
  const entries: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (entries.length === TILE_WIDTH) throw bad('entry bundle holds more than 256 entries');
    if (at + 2 > bytes.length) throw bad('entry bundle ends inside a length prefix');
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    at += 2;
    if (at + length > bytes.length) throw bad('entry bundle ends inside an entry');
    entries.push(bytes.slice(at, at + length));
    at += length;
  }
  if (entries.length === 0) throw bad('entry bundle is empty');
  if (expectedCount !== undefined && entries.length !== expectedCount) throw bad('entry bundle has the wrong number of entries');
  return entries;
}

/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text a log signs to
 * commit to its tree head.
 *
 *     <origin>\n
 *     <tree size, decimal, no leading zeros>\n
 *     <root hash, base64 (RFC 4648 §4), 32 bytes>\n
 *     [<extension line>\n …]
 *
 * Sign and open the text with `signNote` / `openNote` (signed-note); parse only text that
 * `openNote` returned. Tree sizes are numbers below 2^53, like every tlog size here.
 */
import { assertBytes, toBase64 } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import { HASH_SIZE } from './merkle.js';
import { isValidNoteText } from './note.js';
import { decodeStdBase64 } from './std-base64.js';

/**
 * A checkpoint's contents.
 *
 * @example
 * const cp: Checkpoint = { origin: 'log.example.com/keys', treeSize: 42, rootHash, extensions: [] };
 */
export interface Checkpoint {
  /** The log's identity; by convention its scheme-less URL prefix. */
  readonly origin: string;
  readonly treeSize: number;
  /** RFC 6962 Merkle tree hash of the first `treeSize` entries (32 bytes). */
  readonly rootHash: Uint8Array;
  /** Opaque extension lines (not recommended by the spec); each non-empty. */
  readonly extensions?: readonly string[];
}

function bad(reason: string): InvalidInputError {
  return new InvalidInputError('malformed checkpoint', { code: 'tlog_bad_checkpoint', details: { reason } });
}

/** A line: non-empty, no newline, valid note characters. */
function isLine(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && !value.includes('\n') && isValidNoteText(value);
}

const TREE_SIZE = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * Formats a checkpoint's note text (ending in a newline, ready for `signNote`). Throws
 * `InvalidInputError` `tlog_bad_checkpoint` for an empty or multi-line origin or extension,
 * a tree size that is not a non-negative safe integer, or a root hash that is not 32 bytes.
 *
 * @example
 * formatCheckpoint({ origin: 'example.com/log', treeSize: 3, rootHash })
 * // 'example.com/log\n3\n<base64 root>\n'
 */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  if (typeof checkpoint !== 'object' || checkpoint === null) throw bad('type');
  const { origin, treeSize, rootHash, extensions = [] } = checkpoint;
  if (!isLine(origin)) throw bad('origin');
  if (typeof treeSize !== 'number' || !Number.isSafeInteger(treeSize) || treeSize < 0) throw bad('tree_size');
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== HASH_SIZE) throw bad('root_hash');
  if (!Array.isArray(extensions) || !extensions.every(isLine)) throw bad('extension');
  return [origin, String(treeSize), toBase64(assertBytes(rootHash, 'rootHash', HASH_SIZE)), ...extensions].join('\n') + '\n';
}

/**
 * Parses checkpoint note text strictly: at least three non-empty lines, each ending in a
 * newline; a decimal tree size without leading zeros (below 2^53); a canonical padded
 * base64 root hash of 32 bytes; non-empty extension lines. Anything else throws
 * `InvalidInputError` with code `tlog_bad_checkpoint`. `extensions` is always present.
 *
 * @example
 * const { text } = openNote(note, [logVerifier]);
 * const cp = parseCheckpoint(text);
 * if (cp.origin !== expectedOrigin) throw new Error('wrong log');
 */
export function parseCheckpoint(text: string): Checkpoint & { readonly extensions: readonly string[] } {
  if (typeof text !== 'string') throw bad('type');
  if (!text.endsWith('\n')) throw bad('final_newline');
  if (!isValidNoteText(text)) throw bad('characters');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw bad('too_few_lines');
  if (lines.some((l) => l.length === 0)) throw bad('empty_line');
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]];
  if (!TREE_SIZE.test(size)) throw bad('tree_size');
  const treeSize = Number(size);
  if (!Number.isSafeInteger(treeSize)) throw bad('tree_size');
  const rootHash = decodeStdBase64(root);
  if (rootHash === undefined || rootHash.length !== HASH_SIZE) throw bad('root_hash');
  return { origin, treeSize, rootHash: rootHash.slice(), extensions };
}

/**
 * The C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles): the Merkle tree served as
 * static "tiles" of 256 consecutive hashes, and the entries as length-prefixed "entry
 * bundles" (`entry-bundle.ts`). This file holds the coordinates and their path encoding;
 * `tile-math.ts` says which tiles a tree has and computes hashes from them, and
 * `tile-reader.ts` is the client that authenticates every tile it reads.
 *
 * Tile coordinates: tile level L holds hashes at tree level 8·L; tile number N at level L
 * holds hashes N·256 … N·256+W−1 of that tree level, i.e. the subtrees of 256^L leaves
 * each that cover leaves [N·256^(L+1), (N+1)·256^(L+1)) (tlog-tiles "Merkle Tree").
 * Sizes and indexes are non-negative safe integers, as in `stored-hashes.ts`.
 */
import { CryptoError, InvalidInputError } from '../errors.js';
import { assertSafeIndex } from './safe-int.js';

/**
 * Tree levels per tile (tlog-tiles fixes tile height 8).
 *
 * @example
 * const treeLevel = TILE_HEIGHT * tile.level; // tree level of the hashes in a tile
 */
export const TILE_HEIGHT = 8;
/**
 * Hashes in a full tile, and entries in a full entry bundle.
 *
 * @example
 * const firstEntry = bundleIndex * TILE_WIDTH;
 */
export const TILE_WIDTH = 256;
/**
 * Highest tile level a path may name (tlog-tiles: 0 to 63).
 *
 * @example
 * tilePath(MAX_TILE_LEVEL, 0, 1) // 'tile/63/000.p/1'
 */
export const MAX_TILE_LEVEL = 63;

/**
 * A tile's coordinates: `width` is 256 for a full tile, 1–255 for a partial one.
 *
 * @example
 * const t: Tile = { level: 0, index: 3, width: 17 }; // tile/0/003.p/17
 */
export interface Tile {
  readonly level: number;
  readonly index: number;
  readonly width: number;
}

/**
 * A parsed tile path: a hash tile, or an entry bundle (which has no level).
 *
 * @example
 * parseTilePath('tile/entries/001.p/5') // { kind: 'entries', index: 1, width: 5 }
 */
export type TilePathInfo =
  | { readonly kind: 'hashes'; readonly level: number; readonly index: number; readonly width: number }
  | { readonly kind: 'entries'; readonly index: number; readonly width: number };

/** @internal A `tlog_invalid_input` error naming the offending field. */
export function invalid(message: string, field: string): InvalidInputError {
  return new InvalidInputError(message, { code: 'tlog_invalid_input', details: { field } });
}

/** @internal A `tlog_bad_tile` error naming the tile's path. */
export function badTile(message: string, tile: Tile | undefined): CryptoError {
  return new CryptoError('tlog_bad_tile', message, tile === undefined ? {} : { details: { path: tilePath(tile.level, tile.index, tile.width) } });
}

/** @internal Throws `tlog_invalid_input` unless `level` is a tile level (0–63). */
export function assertTileLevel(level: unknown): number {
  if (typeof level !== 'number' || !Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    throw invalid('tile level must be an integer in [0, 63]', 'level');
  }
  return level;
}

/** @internal Throws `tlog_invalid_input` unless `width` is a tile width (1–256). */
export function assertWidth(width: unknown): number {
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw invalid('tile width must be an integer in [1, 256]', 'width');
  }
  return width;
}

/** @internal Throws `tlog_invalid_input` unless `tile` holds a valid level, index and width. */
export function assertTile(tile: unknown): Tile {
  if (typeof tile !== 'object' || tile === null) throw invalid('tile must be an object', 'tile');
  const t = tile as Partial<Tile>;
  assertTileLevel(t.level);
  assertSafeIndex(t.index, 'index');
  assertWidth(t.width);
  return t as Tile;
}

/** tlog-tiles: N in zero-padded 3-digit path elements, all but the last prefixed with `x`. */
function encodeIndex(index: number): string {
  let rest = Math.floor(index / 1000);
  let out = String(index % 1000).padStart(3, '0');
  while (rest > 0) {
    out = `x${String(rest % 1000).padStart(3, '0')}/${out}`;
    rest = Math.floor(rest / 1000);
  }
  return out;
}

function widthSuffix(width: number): string {
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

/**
 * The path of a hash tile, relative to the log prefix: `tile/<L>/<N>[.p/<W>]`.
 *
 * @example
 * tilePath(0, 1234067)      // 'tile/0/x001/x234/067'
 * tilePath(2, 0, 1)         // 'tile/2/000.p/1'
 */
export function tilePath(level: number, index: number, width: number = TILE_WIDTH): string {
  assertTileLevel(level);
  assertSafeIndex(index, 'index');
  assertWidth(width);
  return `tile/${level}/${encodeIndex(index)}${widthSuffix(width)}`;
}

/**
 * The path of an entry bundle, relative to the log prefix: `tile/entries/<N>[.p/<W>]`.
 * Bundle N holds entries N·256 … N·256+W−1.
 *
 * @example
 * entryBundlePath(1234067, 9) // 'tile/entries/x001/x234/067.p/9'
 */
export function entryBundlePath(index: number, width: number = TILE_WIDTH): string {
  assertSafeIndex(index, 'index');
  assertWidth(width);
  return `tile/entries/${encodeIndex(index)}${widthSuffix(width)}`;
}

const LEVEL_TEXT = /^(?:0|[1-9][0-9]?)$/;
const WIDTH_TEXT = /^[1-9][0-9]{0,2}$/;
const MAX_INDEX_ELEMENTS = 6; // 10^18 > 2^53

/**
 * Parses a tile or entry-bundle path (relative to the log prefix, no leading slash).
 * Strict: only the canonical encoding is accepted — no leading zero groups (`x000/…`), no
 * `.p/256`, no leading zeros in L or W, L ≤ 63, N below 2^53. Throws `InvalidInputError`
 * with code `tlog_bad_tile_path` otherwise.
 *
 * @example
 * parseTilePath('tile/1/x001/x234/067.p/8') // { kind: 'hashes', level: 1, index: 1234067, width: 8 }
 */
export function parseTilePath(path: string): TilePathInfo {
  const bad = (): InvalidInputError => new InvalidInputError('not a canonical tlog-tiles path', { code: 'tlog_bad_tile_path' });
  if (typeof path !== 'string' || path.length > 64) throw bad();
  const parts = path.split('/');
  if (parts.length < 3 || parts[0] !== 'tile') throw bad();
  const levelText = parts[1]!;
  const isEntries = levelText === 'entries';
  if (!isEntries && !LEVEL_TEXT.test(levelText)) throw bad();
  const level = isEntries ? 0 : Number(levelText);
  if (level > MAX_TILE_LEVEL) throw bad();

  let elements = parts.slice(2);
  let width = TILE_WIDTH;
  const last = elements[elements.length - 1]!;
  const beforeLast = elements[elements.length - 2];
  if (beforeLast !== undefined && beforeLast.endsWith('.p')) {
    if (!WIDTH_TEXT.test(last)) throw bad();
    width = Number(last);
    if (width >= TILE_WIDTH) throw bad();
    elements = [...elements.slice(0, -2), beforeLast.slice(0, -2)];
  }
  if (elements.length > MAX_INDEX_ELEMENTS) throw bad();
  let index = 0;
  for (let i = 0; i < elements.length; i++) {
    const match = (i < elements.length - 1 ? /^x([0-9]{3})$/ : /^([0-9]{3})$/).exec(elements[i]!);
    if (match === null) throw bad();
    index = index * 1000 + Number(match[1]);
  }
  if (!Number.isSafeInteger(index)) throw bad();
  // Canonical form: re-encoding must give the same path (rejects x000/… leading groups).
  const canonical = isEntries ? entryBundlePath(index, width) : tilePath(level, index, width);
  if (canonical !== path) throw bad();
  return isEntries ? { kind: 'entries', index, width } : { kind: 'hashes', level, index, width };
}

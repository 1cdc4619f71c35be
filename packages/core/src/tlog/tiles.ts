/**
 * The C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles): the Merkle tree served as
 * static "tiles" of 256 consecutive hashes, and the entries as length-prefixed "entry
 * bundles". Provides the path encoding, the entry-bundle codec, the tile math a server
 * needs to publish tiles from its stored hashes (see `merkle.ts`), and a client-side
 * {@link TileHashReader} that authenticates every tile it reads against a verified root.
 *
 * Tile coordinates: tile level L holds hashes at tree level 8·L; tile number N at level L
 * holds hashes N·256 … N·256+W−1 of that tree level, i.e. the subtrees of 256^L leaves
 * each that cover leaves [N·256^(L+1), (N+1)·256^(L+1)) (tlog-tiles "Merkle Tree").
 * Sizes and indexes are non-negative safe integers, as in `merkle.ts`.
 */
import { assertBytes, concatBytes, equalBytes } from '../bytes.js';
import { CryptoError, InvalidInputError } from '../errors.js';
import {
  HASH_SIZE,
  foldSubtrees,
  nodeHash,
  readStoredHashes,
  splitStoredHashIndex,
  storedHashIndex,
  subtreeStoredIndexes,
  type ReadHashes,
} from './merkle.js';
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
 * Largest entry an entry bundle can carry (uint16 length prefix).
 *
 * @example
 * if (entry.length > MAX_ENTRY_SIZE) throw new Error('entry too large for the log');
 */
export const MAX_ENTRY_SIZE = 0xffff;
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

/**
 * Fetches the tile data (`width` × 32 bytes) at `tilePath(tile.level, tile.index, tile.width)`.
 *
 * @example
 * const fetchTile: FetchTile = async (t) =>
 *   new Uint8Array(await (await fetch(`${prefix}/${tilePath(t.level, t.index, t.width)}`)).arrayBuffer());
 */
export type FetchTile = (tile: Tile) => Promise<Uint8Array>;

function invalid(message: string, field: string): InvalidInputError {
  return new InvalidInputError(message, { code: 'tlog_invalid_input', details: { field } });
}

function badTile(message: string, tile: Tile | undefined): CryptoError {
  return new CryptoError('tlog_bad_tile', message, tile === undefined ? {} : { details: { path: tilePath(tile.level, tile.index, tile.width) } });
}

function assertTileLevel(level: unknown): number {
  if (typeof level !== 'number' || !Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    throw invalid('tile level must be an integer in [0, 63]', 'level');
  }
  return level;
}

function assertWidth(width: unknown): number {
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw invalid('tile width must be an integer in [1, 256]', 'width');
  }
  return width;
}

function assertTile(tile: unknown): Tile {
  if (typeof tile !== 'object' || tile === null) throw invalid('tile must be an object', 'tile');
  const t = tile as Partial<Tile>;
  assertTileLevel(t.level);
  assertSafeIndex(t.index, 'index');
  assertWidth(t.width);
  return t as Tile;
}

// ------------------------------------------------------------------------------- paths

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

// ------------------------------------------------------------------------ entry bundles

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

// ---------------------------------------------------------------------------- tile math

/**
 * The tile (level, index) as it exists in the tree of `treeSize` leaves: full, or the
 * partial tile of width ⌊treeSize / 256^level⌋ mod 256; `undefined` if the tree has no
 * hash in it yet. Use it to decide which width of a tile to serve or fetch.
 *
 * @example
 * tileAt(1, 0, 70_000) // { level: 1, index: 0, width: 256 }
 * tileAt(1, 1, 70_000) // { level: 1, index: 1, width: 17 }
 * tileAt(3, 0, 70_000) // undefined
 */
export function tileAt(level: number, index: number, treeSize: number): Tile | undefined {
  assertTileLevel(level);
  assertSafeIndex(index, 'index');
  assertSafeIndex(treeSize, 'treeSize');
  const hashesAtLevel = Math.floor(treeSize / TILE_WIDTH ** level);
  const start = index * TILE_WIDTH;
  if (start >= hashesAtLevel) return undefined;
  return { level, index, width: Math.min(TILE_WIDTH, hashesAtLevel - start) };
}

/**
 * The tiles to publish (or refresh) when the log grows from `oldTreeSize` to
 * `newTreeSize`: every tile that is new or wider in the new tree, lowest level first. The
 * level-0 tiles also name the entry bundles to publish (same index and width).
 *
 * @example
 * newTiles(0, 256) // [{ level: 0, index: 0, width: 256 }, { level: 1, index: 0, width: 1 }]
 */
export function newTiles(oldTreeSize: number, newTreeSize: number): Tile[] {
  assertSafeIndex(oldTreeSize, 'oldTreeSize');
  assertSafeIndex(newTreeSize, 'newTreeSize');
  if (oldTreeSize > newTreeSize) throw invalid('oldTreeSize must not exceed newTreeSize', 'oldTreeSize');
  const tiles: Tile[] = [];
  for (let level = 0; Math.floor(newTreeSize / TILE_WIDTH ** level) > 0; level++) {
    const oldHashes = Math.floor(oldTreeSize / TILE_WIDTH ** level);
    const newHashes = Math.floor(newTreeSize / TILE_WIDTH ** level);
    if (oldHashes === newHashes) continue;
    const lastFull = Math.floor(newHashes / TILE_WIDTH);
    for (let index = Math.floor(oldHashes / TILE_WIDTH); index < lastFull; index++) tiles.push({ level, index, width: TILE_WIDTH });
    const partial = newHashes - lastFull * TILE_WIDTH;
    if (partial > 0) tiles.push({ level, index: lastFull, width: partial });
  }
  return tiles;
}

/**
 * Every tile of the tree of `treeSize` leaves (full tiles and the partial tile of each
 * level) — `newTiles(0, treeSize)`. For 70,000 leaves: 273 full and one partial (width 112)
 * level-0 tiles, one full and one partial (17) level-1 tile, one partial (1) level-2 tile.
 *
 * @example
 * tilesForTreeSize(70_000).length // 277
 */
export function tilesForTreeSize(treeSize: number): Tile[] {
  return newTiles(0, treeSize);
}

/**
 * The stored-hash indexes (see `storedHashIndex`) of the hashes that make up `tile`, in
 * tile order: hash i is `storedHashIndex(8·level, index·256 + i)`.
 *
 * @example
 * tileStoredHashIndexes({ level: 0, index: 0, width: 3 }) // [0, 1, 3]
 */
export function tileStoredHashIndexes(tile: Tile): number[] {
  const t = assertTile(tile);
  const out: number[] = [];
  for (let i = 0; i < t.width; i++) out.push(storedHashIndex(TILE_HEIGHT * t.level, t.index * TILE_WIDTH + i));
  return out;
}

/**
 * Builds a tile's data (width × 32 bytes) from the log's stored hashes — what a server
 * writes at `tilePath(tile.level, tile.index, tile.width)`.
 *
 * @example
 * for (const t of newTiles(oldSize, newSize)) await put(tilePath(t.level, t.index, t.width), await tileFromStoredHashes(t, read));
 */
export async function tileFromStoredHashes(tile: Tile, readHashes: ReadHashes): Promise<Uint8Array> {
  return concatBytes(...(await readStoredHashes(readHashes, tileStoredHashIndexes(tile))));
}

/**
 * The narrowest tile that holds the stored hash `index`, and the range [start, end) of tile
 * hashes it is computed from: a hash at tree level 8·L + s is the subtree hash of 2^s
 * consecutive hashes of a level-L tile. Any wider tile of the same level and index holds it too.
 *
 * @example
 * tileForStoredHashIndex(storedHashIndex(9, 1)) // { tile: { level: 1, index: 0, width: 4 }, start: 2, end: 4 }
 */
export function tileForStoredHashIndex(index: number): { tile: Tile; start: number; end: number } {
  const { level, n } = splitStoredHashIndex(index);
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const span = 2 ** (level - tileLevel * TILE_HEIGHT); // tile hashes per requested hash
  const tileIndex = Math.floor((n * span) / TILE_WIDTH);
  const start = n * span - tileIndex * TILE_WIDTH;
  return { tile: { level: tileLevel, index: tileIndex, width: start + span }, start, end: start + span };
}

/** The Merkle hash of the power-of-two range [start, end) of a tile's hashes. */
function tileRangeHash(data: Uint8Array, start: number, end: number): Uint8Array {
  if (end - start === 1) return data.slice(start * HASH_SIZE, end * HASH_SIZE);
  const mid = (start + end) / 2;
  return nodeHash(tileRangeHash(data, start, mid), tileRangeHash(data, mid, end));
}

/**
 * Computes the stored hash `index` from the data of a tile that holds it (the tile from
 * {@link tileForStoredHashIndex} or a wider one of the same level and index). Throws
 * `tlog_invalid_input` if the tile does not hold it and `tlog_bad_tile` if the data is not
 * `width` × 32 bytes.
 *
 * @example
 * hashFromTile({ level: 0, index: 0, width: 256 }, data, storedHashIndex(3, 0)) // hash of leaves 0–7
 */
export function hashFromTile(tile: Tile, data: Uint8Array, index: number): Uint8Array {
  const t = assertTile(tile);
  assertBytes(data, 'data');
  if (data.length !== t.width * HASH_SIZE) throw badTile('tile data has the wrong length', t);
  const at = tileForStoredHashIndex(index);
  if (at.tile.level !== t.level || at.tile.index !== t.index || at.tile.width > t.width) {
    throw invalid('the tile does not hold this stored hash', 'index');
  }
  return tileRangeHash(data, at.start, at.end);
}

// ------------------------------------------------------------------------ TileHashReader

function tileKey(t: Tile): string {
  return `${t.level}/${t.index}/${t.width}`;
}

/**
 * Options for {@link TileHashReader}.
 *
 * @example
 * const options: TileHashReaderOptions = { onVerifiedTile: (t, data) => cache.set(tilePath(t.level, t.index, t.width), data) };
 */
export interface TileHashReaderOptions {
  /**
   * Called once per tile after it has been authenticated against the root, e.g. to persist
   * it: tiles must not be cached persistently before that (research.swtch.com/tlog).
   */
  readonly onVerifiedTile?: (tile: Tile, data: Uint8Array) => void;
}

/**
 * Reads stored hashes of a log from its tiles, for a tree size and root hash the client has
 * already verified (from a signed checkpoint). Every tile is authenticated before any hash
 * from it is returned: the tiles on the tree's right edge by recomputing the root, every
 * other (full) tile by its hash in the tile one level up. A tile that fails throws
 * `CryptoError` with code `tlog_bad_tile`. Verified tiles are kept for later reads.
 *
 * `readHashes` has the {@link ReadHashes} shape, so `proveRecord` and `proveTree` run on it
 * to compute inclusion and consistency proofs client-side.
 *
 * @example
 * const reader = new TileHashReader(cp.treeSize, cp.rootHash, fetchTile);
 * const proof = await proveRecord(cp.treeSize, index, reader.readHashes);
 * verifyInclusion(leafHash(entry), index, cp.treeSize, proof, cp.rootHash) // true
 */
export class TileHashReader {
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  /** Reads hashes by stored-hash index; a bound function, safe to pass around. */
  readonly readHashes: ReadHashes;
  readonly #fetchTile: FetchTile;
  readonly #onVerifiedTile: ((tile: Tile, data: Uint8Array) => void) | undefined;
  readonly #verified = new Map<string, Uint8Array>();
  #rootCheck: Promise<void> | undefined;

  constructor(treeSize: number, rootHash: Uint8Array, fetchTile: FetchTile, options: TileHashReaderOptions = {}) {
    this.treeSize = assertSafeIndex(treeSize, 'treeSize');
    this.rootHash = assertBytes(rootHash, 'rootHash', HASH_SIZE).slice();
    if (typeof fetchTile !== 'function') throw invalid('fetchTile must be a function', 'fetchTile');
    this.#fetchTile = fetchTile;
    this.#onVerifiedTile = options.onVerifiedTile;
    this.readHashes = (indexes) => this.#read(indexes);
  }

  /** The widest version of the tile holding stored hash `index` in this tree. */
  #tileOf(index: number): Tile {
    const { tile } = tileForStoredHashIndex(index);
    const widened = tileAt(tile.level, tile.index, this.treeSize);
    if (widened === undefined || widened.width < tile.width) throw new Error('tlog: stored hash outside the tree'); // guarded by #read
    return widened;
  }

  async #fetch(tile: Tile): Promise<Uint8Array> {
    const data: unknown = await this.#fetchTile(tile);
    if (!(data instanceof Uint8Array) || data.length !== tile.width * HASH_SIZE) throw badTile('tile data has the wrong length', tile);
    return data.slice();
  }

  #accept(tile: Tile, data: Uint8Array): void {
    this.#verified.set(tileKey(tile), data);
    this.#onVerifiedTile?.(tile, data);
  }

  /** Fetches the tiles on the right edge of the tree and checks they hash to the root. */
  #checkRoot(): Promise<void> {
    this.#rootCheck ??= (async () => {
      if (this.treeSize === 0) return;
      const stx = subtreeStoredIndexes(0, this.treeSize);
      const tiles = new Map<string, Tile>();
      for (const x of stx) {
        const t = this.#tileOf(x);
        tiles.set(tileKey(t), t);
      }
      const fetched = await Promise.all([...tiles.values()].map(async (t) => [t, await this.#fetch(t)] as const));
      const data = new Map(fetched.map(([t, d]) => [tileKey(t), d]));
      const parts = stx.map((x) => {
        const t = this.#tileOf(x);
        return hashFromTile(t, data.get(tileKey(t))!, x);
      });
      if (!equalBytes(foldSubtrees(parts), this.rootHash)) {
        // At least one of these tiles is wrong; the root cannot tell which.
        throw new CryptoError('tlog_bad_tile', 'tiles do not hash to the checkpoint root', {
          details: { paths: fetched.map(([t]) => tilePath(t.level, t.index, t.width)) },
        });
      }
      for (const [t, d] of fetched) this.#accept(t, d);
    })().catch((error: unknown) => {
      this.#rootCheck = undefined; // let a later call retry (e.g. after a network error)
      throw error;
    });
    return this.#rootCheck;
  }

  async #read(indexes: number[]): Promise<Uint8Array[]> {
    if (!Array.isArray(indexes)) throw invalid('indexes must be an array', 'indexes');
    const limit = this.treeSize === 0 ? 0 : storedHashIndex(0, this.treeSize);
    for (const x of indexes) {
      assertSafeIndex(x, 'index');
      // Hashes stored before leaf treeSize are exactly the complete subtrees of this tree.
      if (x >= limit) throw invalid('stored hash index is not in the tree', 'index');
    }
    if (indexes.length === 0) return [];
    await this.#checkRoot();

    // Plan: for each index, its tile and the unverified ancestors up to a verified tile,
    // parents before children. Only full tiles are below another tile, and the top tile of
    // every level chain is a right-edge tile, verified by #checkRoot.
    const plan: Tile[] = [];
    const planned = new Set<string>();
    for (const x of indexes) {
      const chain: Tile[] = [];
      let t: Tile | undefined = this.#tileOf(x);
      while (t !== undefined && !this.#verified.has(tileKey(t)) && !planned.has(tileKey(t))) {
        chain.push(t);
        planned.add(tileKey(t));
        t = tileAt(t.level + 1, Math.floor(t.index / TILE_WIDTH), this.treeSize);
      }
      if (t === undefined) throw new Error('tlog: tile chain without a verified root tile');
      plan.push(...chain.reverse());
    }

    const fetched = await Promise.all(plan.map((t) => this.#fetch(t)));
    for (const [i, tile] of plan.entries()) {
      const parent = tileAt(tile.level + 1, Math.floor(tile.index / TILE_WIDTH), this.treeSize);
      const parentData = parent === undefined ? undefined : this.#verified.get(tileKey(parent));
      // Parents come first in the plan and a failure stops the loop, so this is a bug if hit.
      if (tile.width !== TILE_WIDTH || parent === undefined || parentData === undefined) throw new Error('tlog: tile planned without a verified parent');
      const expected = hashFromTile(parent, parentData, storedHashIndex(TILE_HEIGHT * parent.level, tile.index));
      if (!equalBytes(tileRangeHash(fetched[i]!, 0, TILE_WIDTH), expected)) throw badTile('tile does not match its parent tile', tile);
      this.#accept(tile, fetched[i]!);
    }

    return indexes.map((x) => {
      const t = this.#tileOf(x);
      return hashFromTile(t, this.#verified.get(tileKey(t))!, x);
    });
  }
}

/**
 * The client side of C2SP tlog-tiles: {@link TileHashReader} reads a log's stored hashes from
 * its tiles and authenticates every tile against a root it has already verified, so proofs
 * can be computed client-side (research.swtch.com/tlog, "Tiling a Log").
 */
import { assertBytes, equalBytes } from '../bytes.js';
import { CryptoError } from '../errors.js';
import { HASH_SIZE } from './merkle.js';
import { assertSafeIndex } from './safe-int.js';
import { storedHashIndex, type ReadHashes } from './stored-hashes.js';
import { foldSubtrees, subtreeStoredIndexes } from './stored-proofs.js';
import { hashFromTile, tileAt, tileForStoredHashIndex, tileRangeHash } from './tile-math.js';
import { TILE_HEIGHT, TILE_WIDTH, badTile, invalid, tilePath, type Tile } from './tiles.js';

/**
 * Fetches the tile data (`width` × 32 bytes) at `tilePath(tile.level, tile.index, tile.width)`.
 *
 * @example
 * const fetchTile: FetchTile = async (t) =>
 *   new Uint8Array(await (await fetch(`${prefix}/${tilePath(t.level, t.index, t.width)}`)).arrayBuffer());
 */
export type FetchTile = (tile: Tile) => Promise<Uint8Array>;

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

/**
 * Tile math (C2SP tlog-tiles): which tiles a tree of a given size has, the tiles to publish
 * as it grows, which stored hashes (see `stored-hashes.ts`) make up a tile, and computing a
 * stored hash from the tile that holds it.
 */
import { assertBytes, concatBytes } from '../bytes.js';
import { HASH_SIZE, nodeHash } from './merkle.js';
import { assertSafeIndex } from './safe-int.js';
import { readStoredHashes, splitStoredHashIndex, storedHashIndex, type ReadHashes } from './stored-hashes.js';
import { TILE_HEIGHT, TILE_WIDTH, assertTile, assertTileLevel, badTile, invalid, type Tile } from './tiles.js';

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

/** @internal The Merkle hash of the power-of-two range [start, end) of a tile's hashes. */
export function tileRangeHash(data: Uint8Array, start: number, end: number): Uint8Array {
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

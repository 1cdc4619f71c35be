/**
 * C2SP tlog-tiles: paths, entry bundles, tile math, tiles built from stored hashes, and the
 * authenticating TileHashReader (against trees built with the server-side functions).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { concatBytes } from '../../src/bytes.js';
import {
  TileHashReader,
  decodeEntryBundle,
  encodeEntryBundle,
  entryBundlePath,
  hashFromTile,
  newTiles,
  parseTilePath,
  tileAt,
  tileForStoredHashIndex,
  tileFromStoredHashes,
  tilePath,
  tileStoredHashIndexes,
  tilesForTreeSize,
  type Tile,
  leafHash,
  proveRecord,
  proveTree,
  rootOfLeaves,
  storedHashIndex,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '../../src/tlog/index.js';
import { MemoryLog, entryBytes, expectCode, expectRejectCode } from './helpers.js';

describe('tile paths', () => {
  it('encodes as the spec says', () => {
    expect(tilePath(0, 1234067)).toBe('tile/0/x001/x234/067');
    expect(tilePath(4, 1234067, 1)).toBe('tile/4/x001/x234/067.p/1');
    expect(tilePath(0, 0)).toBe('tile/0/000');
    expect(tilePath(63, 999, 255)).toBe('tile/63/999.p/255');
    expect(tilePath(1, 1000)).toBe('tile/1/x001/000');
    expect(parseTilePath('tile/0/x009/x007/x199/x254/x740/991')).toEqual({ kind: 'hashes', level: 0, index: 2 ** 53 - 1, width: 256 });
    expect(entryBundlePath(1234067)).toBe('tile/entries/x001/x234/067');
    expect(entryBundlePath(5, 17)).toBe('tile/entries/005.p/17');
    expectCode(() => tilePath(64, 0), 'tlog_invalid_input');
    expectCode(() => tilePath(0, -1), 'tlog_invalid_input');
    expectCode(() => tilePath(0, 0, 0), 'tlog_invalid_input');
    expectCode(() => tilePath(0, 0, 257), 'tlog_invalid_input');
  });

  it('parses what it encodes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 63 }), fc.maxSafeNat(), fc.integer({ min: 1, max: 256 }), (level, index, width) => {
        expect(parseTilePath(tilePath(level, index, width))).toEqual({ kind: 'hashes', level, index, width });
        expect(parseTilePath(entryBundlePath(index, width))).toEqual({ kind: 'entries', index, width });
      }),
      { numRuns: 500 },
    );
  });

  it('rejects every non-canonical path', () => {
    for (const bad of [
      '',
      'tile',
      'tile/0',
      '/tile/0/000',
      'tile/0/000/',
      'tiles/0/000',
      'tile/00/000',
      'tile/01/000',
      'tile/64/000',
      'tile/-1/000',
      'tile/data/000',
      'tile/0/0',
      'tile/0/0000',
      'tile/0/x000/001',
      'tile/0/x001',
      'tile/0/001/002',
      'tile/0/x001/x002',
      'tile/0/X001/002',
      'tile/0/000.p/256',
      'tile/0/000.p/0',
      'tile/0/000.p/01',
      'tile/0/000.p/1000',
      'tile/0/000.p',
      'tile/0/000.p/',
      'tile/0/000.q/5',
      'tile/0/000.p/5/6',
      'tile/entries/x000/000',
      'tile/entries/000.p/256',
      'tile/entries',
      'tile/0/x009/x007/x199/x254/x740/x993/000', // too many groups
      'tile/0/x009/x007/x199/x254/x740/992', // 2^53
      'tile/0/ 00',
      'tile/0/+12',
    ]) {
      expectCode(() => parseTilePath(bad), 'tlog_bad_tile_path');
    }
  });
});

describe('entry bundles', () => {
  it('round-trip', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 256 }), (entries) => {
        const bytes = encodeEntryBundle(entries);
        expect(bytes.length).toBe(entries.reduce((s, e) => s + 2 + e.length, 0));
        expect(decodeEntryBundle(bytes)).toEqual(entries);
        expect(decodeEntryBundle(bytes, entries.length)).toEqual(entries);
      }),
      { numRuns: 200 },
    );
    const max = new Uint8Array(0xffff).fill(7);
    expect(decodeEntryBundle(encodeEntryBundle([max, new Uint8Array(0)]))).toEqual([max, new Uint8Array(0)]);
    expect(encodeEntryBundle([Uint8Array.of(0xaa), Uint8Array.of(1, 2)])).toEqual(Uint8Array.of(0, 1, 0xaa, 0, 2, 1, 2));
  });

  it('reject malformed bundles and oversized entries', () => {
    expectCode(() => encodeEntryBundle([new Uint8Array(0x10000)]), 'tlog_bad_entry_bundle');
    expectCode(() => encodeEntryBundle([]), 'tlog_bad_entry_bundle');
    expectCode(() => encodeEntryBundle(Array.from({ length: 257 }, () => new Uint8Array(1))), 'tlog_bad_entry_bundle');
    const good = encodeEntryBundle([Uint8Array.of(1, 2, 3), Uint8Array.of(4)]);
    for (let cut = 1; cut < good.length; cut++) {
      if (cut === 5) continue; // a whole first entry: a valid one-entry bundle
      expectCode(() => decodeEntryBundle(good.subarray(0, cut)), 'tlog_bad_entry_bundle');
    }
    expect(decodeEntryBundle(good.subarray(0, 5))).toEqual([Uint8Array.of(1, 2, 3)]);
    expectCode(() => decodeEntryBundle(new Uint8Array(0)), 'tlog_bad_entry_bundle');
    expectCode(() => decodeEntryBundle(good, 3), 'tlog_bad_entry_bundle');
    expectCode(() => decodeEntryBundle(new Uint8Array(2 * 257)), 'tlog_bad_entry_bundle');
    expect(decodeEntryBundle(new Uint8Array(2 * 256))).toHaveLength(256);
  });
});

describe('tile math', () => {
  it('covers a tree of 70,000 as in the spec', () => {
    const tiles = tilesForTreeSize(70_000);
    const summary = (level: number): string[] =>
      tiles.filter((t) => t.level === level).map((t) => (t.width === 256 ? 'full' : `p${t.width}`)).filter((w, i, a) => w !== 'full' || a.indexOf(w) === i);
    expect(tiles.filter((t) => t.level === 0 && t.width === 256)).toHaveLength(273);
    expect(summary(0)).toEqual(['full', 'p112']);
    expect(tiles.filter((t) => t.level === 1)).toEqual([
      { level: 1, index: 0, width: 256 },
      { level: 1, index: 1, width: 17 },
    ]);
    expect(tiles.filter((t) => t.level === 2)).toEqual([{ level: 2, index: 0, width: 1 }]);
    expect(tiles).toHaveLength(277);
    expect(tilesForTreeSize(256)).toEqual([
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
    ]);
    expect(tilesForTreeSize(0)).toEqual([]);
    expect(tileAt(1, 1, 70_000)).toEqual({ level: 1, index: 1, width: 17 });
    expect(tileAt(3, 0, 70_000)).toBeUndefined();
  });

  it('newTiles publishes exactly the tiles that changed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 200_000 }), (a, b) => {
        const [oldSize, newSize] = a <= b ? [a, b] : [b, a];
        const before = new Set(tilesForTreeSize(oldSize).map((t) => tilePath(t.level, t.index, t.width)));
        const after = tilesForTreeSize(newSize).map((t) => tilePath(t.level, t.index, t.width));
        const changed = newTiles(oldSize, newSize).map((t) => tilePath(t.level, t.index, t.width));
        expect(changed).toEqual(after.filter((p) => !before.has(p)));
      }),
      { numRuns: 300 },
    );
    expectCode(() => newTiles(2, 1), 'tlog_invalid_input');
  });

  it('locates every stored hash in its tile', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 2 ** 20 }), (level, n) => {
        const { tile, start, end } = tileForStoredHashIndex(storedHashIndex(level, n));
        const sub = level % 8;
        expect(tile.level).toBe(Math.floor(level / 8));
        expect(end - start).toBe(2 ** sub);
        // The hash covers the tile hashes [start, end) at tree level 8·L: n·2^sub … within tile.index.
        expect(tile.index * 256 + start).toBe(n * 2 ** sub);
        expect(tile.width).toBe(end);
      }),
    );
  });
});

// ---------------------------------------------------------------- tiles from stored hashes

function serveTiles(log: MemoryLog): { fetchTile: (t: Tile) => Promise<Uint8Array>; fetched: string[]; tamper: Map<string, (d: Uint8Array) => Uint8Array> } {
  const fetched: string[] = [];
  const tamper = new Map<string, (d: Uint8Array) => Uint8Array>();
  return {
    fetched,
    tamper,
    fetchTile: async (t) => {
      const path = tilePath(t.level, t.index, t.width);
      fetched.push(path);
      const data = await tileFromStoredHashes(t, log.readHashes);
      return tamper.get(path)?.(data) ?? data;
    },
  };
}

describe('tiles built from stored hashes', async () => {
  const SMALL = 2600;
  const log = await MemoryLog.withSize(SMALL);

  it('hold the Merkle tree hashes of their ranges and hash up to the root', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: SMALL }), async (n) => {
        const tiles = tilesForTreeSize(n);
        const data = new Map<string, Uint8Array>();
        for (const t of tiles) {
          const d = await tileFromStoredHashes(t, log.readHashes);
          expect(d.length).toBe(t.width * 32);
          data.set(`${t.level}/${t.index}`, d);
          // Hash i of a level-L tile is MTH of 256^L leaves.
          for (const i of [0, t.width - 1]) {
            const span = 256 ** t.level;
            const first = (t.index * 256 + i) * span;
            expect(d.subarray(i * 32, i * 32 + 32)).toEqual(rootOfLeaves(log.leaves.slice(first, first + span)));
          }
        }
        // A full tile hashes to its entry in the tile one level up.
        for (const t of tiles.filter((x) => x.width === 256)) {
          const parent = tileAt(t.level + 1, Math.floor(t.index / 256), n)!;
          const expected = hashFromTile(parent, data.get(`${parent.level}/${parent.index}`)!, storedHashIndex(8 * parent.level, t.index));
          expect(rootOfLeaves(chunks(data.get(`${t.level}/${t.index}`)!))).toEqual(expected);
        }
        // The partial tiles, one per level, hash up to the root.
        const reader = new TileHashReader(n, rootOfLeaves(log.leaves.slice(0, n)), async (t) => tileFromStoredHashes(t, log.readHashes));
        expect(await treeHash(n, reader.readHashes)).toEqual(await treeHash(n, log.readHashes));
      }),
      { numRuns: 25 },
    );
    expect(tileStoredHashIndexes({ level: 0, index: 0, width: 3 })).toEqual([0, 1, 3]);
    expect(tileStoredHashIndexes({ level: 1, index: 0, width: 2 })).toEqual([storedHashIndex(8, 0), storedHashIndex(8, 1)]);
  });

  it('TileHashReader serves proofs that verify, identical to the server’s', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: SMALL }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: n }))),
        async ([n, m, old]) => {
          const root = await treeHash(n, log.readHashes);
          const served = serveTiles(log);
          const reader = new TileHashReader(n, root, served.fetchTile);
          const proof = await proveRecord(n, m, reader.readHashes);
          expect(proof).toEqual(await proveRecord(n, m, log.readHashes));
          expect(verifyInclusion(log.leaves[m]!, m, n, proof, root)).toBe(true);
          const cproof = await proveTree(n, old, reader.readHashes);
          expect(cproof).toEqual(await proveTree(n, old, log.readHashes));
          expect(verifyConsistency(old, n, cproof, await treeHash(old, log.readHashes), root)).toBe(true);
          // Only tiles that exist at this tree size are fetched, each at most once.
          for (const p of served.fetched) {
            const t = parseTilePath(p);
            expect(t.kind).toBe('hashes');
            if (t.kind === 'hashes') expect(tileAt(t.level, t.index, n)).toEqual({ level: t.level, index: t.index, width: t.width });
          }
          expect(new Set(served.fetched).size).toBe(served.fetched.length);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('TileHashReader detects a modified tile', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: SMALL }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }), fc.nat())),
        async ([n, m, pick]) => {
          const root = await treeHash(n, log.readHashes);
          // Learn which tiles an honest read of leaf m's proof touches, then corrupt one of them.
          const honest = serveTiles(log);
          await proveRecord(n, m, new TileHashReader(n, root, honest.fetchTile).readHashes);
          const victim = honest.fetched[pick % honest.fetched.length]!;
          const width = parseTilePath(victim);
          const w = width.kind === 'hashes' ? width.width : 0;
          const byte = pick % (w * 32);
          const evil = serveTiles(log);
          evil.tamper.set(victim, (d) => {
            const copy = d.slice();
            copy[byte]! ^= 1 << pick % 8;
            return copy;
          });
          await expectRejectCode(proveRecord(n, m, new TileHashReader(n, root, evil.fetchTile).readHashes), 'tlog_bad_tile');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('TileHashReader rejects tiles of the wrong length, a wrong root, and foreign indexes', async () => {
    const n = 1000;
    const root = await treeHash(n, log.readHashes);
    const short = serveTiles(log);
    short.tamper.set('tile/0/000', (d) => d.subarray(0, 32 * 255));
    await expectRejectCode(proveRecord(n, 5, new TileHashReader(n, root, short.fetchTile).readHashes), 'tlog_bad_tile');
    const long = serveTiles(log);
    long.tamper.set('tile/1/000.p/3', (d) => concatBytes(d, new Uint8Array(32)));
    await expectRejectCode(treeHash(n, new TileHashReader(n, root, long.fetchTile).readHashes), 'tlog_bad_tile');
    const wrongRoot = leafHash(entryBytes(0, 99));
    await expectRejectCode(treeHash(n, new TileHashReader(n, wrongRoot, serveTiles(log).fetchTile).readHashes), 'tlog_bad_tile');
    const reader = new TileHashReader(n, root, serveTiles(log).fetchTile);
    await expectRejectCode(reader.readHashes([storedHashIndex(0, n)]), 'tlog_invalid_input');
    await expectRejectCode(reader.readHashes([-1]), 'tlog_invalid_input');
    expect(await reader.readHashes([])).toEqual([]);
    expectCode(() => new TileHashReader(n, root.subarray(1), serveTiles(log).fetchTile), 'invalid_bytes');
  });

  it('TileHashReader keeps verified tiles and retries after a failure', async () => {
    const n = 2000;
    const root = await treeHash(n, log.readHashes);
    const served = serveTiles(log);
    let fail = true;
    const verified: string[] = [];
    const reader = new TileHashReader(
      n,
      root,
      async (t) => {
        if (fail) {
          fail = false;
          throw new Error('network down');
        }
        return served.fetchTile(t);
      },
      { onVerifiedTile: (t) => verified.push(tilePath(t.level, t.index, t.width)) },
    );
    await expect(reader.readHashes([0])).rejects.toThrow('network down');
    expect(await reader.readHashes([0, 1])).toEqual([log.stored[0], log.stored[1]]);
    const count = served.fetched.length;
    expect(await reader.readHashes([storedHashIndex(0, 3)])).toEqual([log.stored[storedHashIndex(0, 3)]]);
    expect(served.fetched.length).toBe(count); // same tile, no refetch
    expect(verified.sort()).toEqual([...new Set(served.fetched)].sort());
  });
});

describe('TileHashReader over a three-level tree (70,000 leaves)', async () => {
  const N = 70_000;
  const log = await MemoryLog.withSize(N, 7);
  const root = await treeHash(N, log.readHashes);

  it('has the naive root and proves random leaves through level-2 tiles', async () => {
    expect(rootOfLeaves(log.leaves)).toEqual(root);
    const served = serveTiles(log);
    const reader = new TileHashReader(N, root, served.fetchTile);
    for (const m of [0, 255, 256, 65_535, 65_536, 69_999, 12_345]) {
      const proof = await proveRecord(N, m, reader.readHashes);
      expect(verifyInclusion(log.leaves[m]!, m, N, proof, root)).toBe(true);
    }
    const cproof = await proveTree(N, 65_537, reader.readHashes);
    expect(verifyConsistency(65_537, N, cproof, await treeHash(65_537, log.readHashes), root)).toBe(true);
    expect(served.fetched).toContain('tile/2/000.p/1');
    expect(served.fetched).toContain('tile/1/000');
  });

  it('detects a modified full level-1 tile', async () => {
    const evil = serveTiles(log);
    evil.tamper.set('tile/1/000', (d) => {
      const copy = d.slice();
      copy[100]! ^= 0x20;
      return copy;
    });
    await expectRejectCode(proveRecord(N, 300, new TileHashReader(N, root, evil.fetchTile).readHashes), 'tlog_bad_tile');
  });
});

function chunks(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += 32) out.push(data.subarray(i, i + 32));
  return out;
}

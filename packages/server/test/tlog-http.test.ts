/**
 * The key log over HTTP, checked the way any tlog client checks a log: only the C2SP
 * tlog-tiles resources (checkpoint, tiles, entry bundles) and the verifier key, with
 * core's signed-note opener and authenticating TileHashReader. Plus caching headers,
 * strict path handling and the JSON proof helpers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toHex, utf8, randomBytes } from '@parley/core';
import {
  TILE_WIDTH,
  TileHashReader,
  decodeEntryBundle,
  entryBundlePath,
  leafHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  proveRecord,
  proveTree,
  storedHashIndex,
  tilePath,
  tilesForTreeSize,
  verifyConsistency,
  verifyInclusion,
  type Checkpoint,
  type Tile,
} from '@parley/core/tlog';
import { api, startTestServer, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
const entries: Uint8Array[] = [];

beforeAll(async () => {
  t = await startTestServer({ tlog: { batchSize: 100, origin: 'parley.test/logs/keys' } });
});
afterAll(async () => t?.stop());

async function appendAndWait(n: number): Promise<void> {
  const log = t.server.keyLog;
  const batch = Array.from({ length: n }, (_, i) => utf8(`{"entry":${entries.length + i},"r":"${toHex(randomBytes(6))}"}`));
  const ids = await t.server.db.transaction((tx) => log.appendMany(tx, batch.map((entry) => ({ entry }))));
  log.kick();
  await Promise.all(ids.map((id) => log.waitSequenced(id)));
  entries.push(...batch);
}

async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(t.url + path, { headers });
}

/** What a standard client does: fetch and open the checkpoint with the log's public key. */
async function verifiedCheckpoint(verifierKey: string, origin: string): Promise<Checkpoint> {
  const res = await get('/logs/keys/checkpoint');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  const { text } = openNote(await res.text(), [parseVerifierKey(verifierKey)]);
  const cp = parseCheckpoint(text);
  expect(cp.origin).toBe(origin);
  return cp;
}

describe('key log over HTTP (C2SP tlog-tiles)', () => {
  it('lists the logs with their verifier keys, exactly', async () => {
    const res = await api(t.url, 'GET', '/v1/logs');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      logs: [
        { name: 'keys', origin: 'parley.test/logs/keys', prefix: '/logs/keys', verifierKey: t.server.keyLog.verifierKey, verifierKeys: [t.server.keyLog.verifierKey] },
        {
          name: 'audit',
          origin: expect.stringMatching(/^parley-[a-z0-9]{12}\.localhost\/logs\/audit$/),
          prefix: '/logs/audit',
          verifierKey: t.server.auditLog.verifierKey,
          verifierKeys: [t.server.auditLog.verifierKey],
        },
      ],
    });
    expect(parseVerifierKey(res.body.logs[0].verifierKey).name).toBe('parley.test/logs/keys');
    // An ephemeral key in this test server, and the server says so.
    expect(t.logs.some((l) => l.includes('EPHEMERAL'))).toBe(true);
  });

  it('verifies end to end with only tiles, entry bundles, the checkpoint and the verifier key', async () => {
    const { body } = await api(t.url, 'GET', '/v1/logs');
    const { verifierKey, origin, prefix } = body.logs[0] as { verifierKey: string; origin: string; prefix: string };
    await appendAndWait(300);
    const old = await verifiedCheckpoint(verifierKey, origin);
    expect(old.treeSize).toBe(300);
    await appendAndWait(405); // 705 entries: 2 full level-0 tiles and a partial one

    const cp = await verifiedCheckpoint(verifierKey, origin);
    expect(cp.treeSize).toBe(entries.length);
    const fetched: string[] = [];
    const fetchTile = async (tile: Tile): Promise<Uint8Array> => {
      const path = tilePath(tile.level, tile.index, tile.width);
      fetched.push(path);
      const res = await get(`${prefix}/${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      return new Uint8Array(await res.arrayBuffer());
    };
    const verified = new Set<string>();
    const reader = new TileHashReader(cp.treeSize, cp.rootHash, fetchTile, { onVerifiedTile: (tile) => verified.add(tilePath(tile.level, tile.index, tile.width)) });

    for (let b = 0; b * TILE_WIDTH < cp.treeSize; b++) {
      const width = Math.min(TILE_WIDTH, cp.treeSize - b * TILE_WIDTH);
      const res = await get(`${prefix}/${entryBundlePath(b, width)}`);
      expect(res.status).toBe(200);
      const bundle = decodeEntryBundle(new Uint8Array(await res.arrayBuffer()), width);
      const indexes = bundle.map((_, i) => storedHashIndex(0, b * TILE_WIDTH + i));
      const hashes = await reader.readHashes(indexes);
      bundle.forEach((entry, i) => {
        expect(toHex(leafHash(entry))).toBe(toHex(hashes[i]!));
        expect(toHex(entry)).toBe(toHex(entries[b * TILE_WIDTH + i]!));
      });
    }
    // Every tile of the tree was authenticated against the signed root.
    expect([...verified].sort()).toEqual(tilesForTreeSize(cp.treeSize).map((x) => tilePath(x.level, x.index, x.width)).sort());

    // Proofs computed client-side from the tiles, and the server's JSON helpers, agree and verify.
    for (const index of [0, 255, 256, 299, 511, 704]) {
      const mine = await proveRecord(cp.treeSize, index, reader.readHashes);
      expect(verifyInclusion(leafHash(entries[index]!), index, cp.treeSize, mine, cp.rootHash)).toBe(true);
      const theirs = await api(t.url, 'GET', `/v1/logs/keys/inclusion?index=${index}&size=${cp.treeSize}`);
      expect(theirs.status).toBe(200);
      expect(theirs.body.proof).toEqual(mine.map((h) => Buffer.from(h).toString('base64')));
    }
    const consistency = await api(t.url, 'GET', `/v1/logs/keys/consistency?from=${old.treeSize}&to=${cp.treeSize}`);
    expect(consistency.status).toBe(200);
    const proof = (consistency.body.proof as string[]).map((p) => fromBase64(p));
    expect(verifyConsistency(old.treeSize, cp.treeSize, proof, old.rootHash, cp.rootHash)).toBe(true);
    expect(proof.map(toHex)).toEqual((await proveTree(cp.treeSize, old.treeSize, reader.readHashes)).map(toHex));

    // The partial tile of the older checkpoint is still served (tlog-tiles requires it).
    const oldPartial = await get(`${prefix}/${tilePath(0, 1, 300 - 256)}`);
    expect(oldPartial.status).toBe(200);
    expect((await oldPartial.arrayBuffer()).byteLength).toBe(44 * 32);
  });

  it('sets caching headers: immutable full tiles and bundles, short-lived partials and checkpoint', async () => {
    const full = await get('/logs/keys/tile/0/000');
    expect(full.status).toBe(200);
    expect(full.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await full.arrayBuffer()).byteLength).toBe(256 * 32);
    const fullBundle = await get('/logs/keys/tile/entries/001', { 'accept-encoding': 'identity' });
    expect(fullBundle.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(fullBundle.headers.get('content-encoding')).toBeNull();
    for (const path of ['/logs/keys/tile/0/002.p/193', '/logs/keys/tile/1/000.p/2', '/logs/keys/tile/entries/002.p/193']) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control'), path).toBe('public, max-age=60');
    }
    const cp = await get('/logs/keys/checkpoint');
    expect(cp.headers.get('cache-control')).toBe('public, max-age=2, must-revalidate');
    const head = await fetch(`${t.url}/logs/keys/checkpoint`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('compresses entry bundles for clients that accept gzip', async () => {
    const raw = await fetch(`${t.url}/logs/keys/tile/entries/000`, { headers: { 'accept-encoding': 'gzip' } });
    expect(raw.headers.get('content-encoding')).toBe('gzip');
    expect(raw.headers.get('vary')).toMatch(/accept-encoding/i);
    // fetch decodes transparently; compare with the identity encoding.
    const plain = new Uint8Array(await (await get('/logs/keys/tile/entries/000', { 'accept-encoding': 'identity' })).arrayBuffer());
    expect(toHex(new Uint8Array(await raw.arrayBuffer()))).toBe(toHex(plain));
    expect(decodeEntryBundle(plain, 256)).toHaveLength(256);
    const refused = await fetch(`${t.url}/logs/keys/tile/entries/000`, { headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    expect(refused.headers.get('content-encoding')).toBeNull();
  });

  it('answers bad or absent tile paths with a JSON error code', async () => {
    const cases: [string, number, string][] = [
      ['/logs/keys/tile/0/003', 404, 'tlog_tile_not_found'], // not full yet
      ['/logs/keys/tile/0/002.p/194', 404, 'tlog_tile_not_found'], // wider than the tree
      ['/logs/keys/tile/2/000.p/1', 404, 'tlog_tile_not_found'],
      ['/logs/keys/tile/entries/002.p/200', 404, 'tlog_tile_not_found'],
      ['/logs/keys/tile/0/x000/001', 400, 'tlog_bad_tile_path'], // non-canonical index
      ['/logs/keys/tile/0/1', 400, 'tlog_bad_tile_path'],
      ['/logs/keys/tile/0/000.p/256', 400, 'tlog_bad_tile_path'],
      ['/logs/keys/tile/0/000.p/0', 400, 'tlog_bad_tile_path'],
      ['/logs/keys/tile/00/000', 400, 'tlog_bad_tile_path'],
      ['/logs/keys/tile/64/000', 400, 'tlog_bad_tile_path'],
      ['/logs/keys/tile/-1/000', 400, 'tlog_bad_tile_path'],
      ['/logs/keys/tile/entries/000.p/', 400, 'tlog_bad_tile_path'],
      ['/logs/keys/tile/0/000/', 400, 'tlog_bad_tile_path'],
      ['/logs/keys/tile/0/%30%30%30', 400, 'tlog_bad_tile_path'],
      ['/logs/nope/checkpoint', 404, 'tlog_unknown_log'],
      ['/logs/nope/tile/0/000', 404, 'tlog_unknown_log'],
      ['/logs/keys/tile', 404, 'not_found'],
    ];
    for (const [path, status, code] of cases) {
      const res = await api(t.url, 'GET', path);
      expect([path, res.status, res.body?.error?.code]).toEqual([path, status, code]);
    }
  });

  it('validates the JSON proof helpers and describes them in OpenAPI', async () => {
    const { size } = await t.server.keyLog.latestCheckpoint();
    const cases: [string, number, string][] = [
      [`/v1/logs/keys/inclusion?index=5&size=5`, 400, 'tlog_invalid_input'],
      [`/v1/logs/keys/inclusion?index=0&size=${size + 1}`, 400, 'tlog_bad_tree_size'],
      [`/v1/logs/keys/inclusion?index=0`, 400, 'invalid_request'],
      [`/v1/logs/keys/inclusion?index=-1&size=3`, 400, 'invalid_request'],
      [`/v1/logs/keys/inclusion?index=01&size=3`, 400, 'invalid_request'],
      [`/v1/logs/keys/inclusion?index=1&size=3&extra=1`, 400, 'invalid_request'],
      [`/v1/logs/keys/consistency?from=0&to=3`, 400, 'tlog_invalid_input'],
      [`/v1/logs/keys/consistency?from=4&to=3`, 400, 'tlog_invalid_input'],
      [`/v1/logs/keys/consistency?from=1&to=${size + 1}`, 400, 'tlog_bad_tree_size'],
      [`/v1/logs/keys/consistency?from=1&to=9999999999999999`, 400, 'tlog_invalid_input'],
      [`/v1/logs/receipts/consistency?from=1&to=2`, 404, 'tlog_unknown_log'],
      [`/v1/logs/Bad!/consistency?from=1&to=2`, 400, 'invalid_request'],
    ];
    for (const [path, status, code] of cases) {
      const res = await api(t.url, 'GET', path);
      expect([path, res.status, res.body?.error?.code]).toEqual([path, status, code]);
    }
    const same = await api(t.url, 'GET', `/v1/logs/keys/consistency?from=${size}&to=${size}`);
    expect(same.body).toEqual({ proof: [] });
    const doc = await api(t.url, 'GET', '/openapi.json');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/logs', '/v1/logs/{name}/consistency', '/v1/logs/{name}/inclusion']));
    expect(Object.keys(doc.body.paths).some((p) => p.startsWith('/logs/'))).toBe(false);
  });

  it('never logs the signing key', async () => {
    // The ephemeral key is not reachable from outside; check that no log line carries a signer key string.
    expect(t.logs.some((l) => l.includes('PRIVATE+KEY'))).toBe(false);
  });
});

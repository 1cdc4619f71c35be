/**
 * `parley log verify` as a library: a monitor for the server's transparency logs that
 * speaks only the standard formats — the C2SP tlog-tiles resources (checkpoint, tiles, entry
 * bundles) and the signed-note verifier key.
 *
 * `verify` opens the checkpoint with the log's verifier key (`--key`, obtained out of
 * band, is the secure way; otherwise the key pinned in the state file; otherwise, trust
 * on first use, the key the server lists), checks the origin, authenticates every tile
 * and every entry bundle against the checkpoint's root, and proves the new checkpoint
 * consistent with the last one it verified. Any failure exits non-zero with a named
 * reason: `fork`, `rollback`, `bad_signature`, `bad_tile`, `bad_entry_bundle`,
 * `unannounced_key_change`, `wrong_origin`, …
 *
 * The state file keeps one entry per log, keyed by its verifier key (whose name is the
 * log's origin), with the server URLs it was verified at. Deployments left at the same
 * default origin have different keys, so they never share an entry: a new one is a new
 * trust anchor. A key taken from the server (trust on first use) stays marked as not
 * verified (`!`, `pinned: false`) until one is given with `--key`.
 *
 * Key rotation (docs/log-key-rotation.md, log-key-follow.ts): a checkpoint that the trusted
 * key (`--key`, or the key verified at this URL before) does not sign is accepted only when
 * the log's announcements chain the trusted key to a key that signs it; the new key is then
 * recorded with the trust of the old one (pinned stays pinned, `rotatedFrom` names the old
 * key) and the check says `key rotated (announced by …)`. Any other change of key — also a
 * server at a known URL now listing another key — is `unannounced_key_change`. During a
 * transition (checkpoints signed by both keys) nothing changes for a monitor.
 */
import { resolve } from 'node:path';
import { fromBase64, isParleyError, toBase64 } from '@parley/core';
import {
  NOTE_MAX_BYTES,
  TILE_WIDTH,
  TileHashReader,
  decodeEntryBundle,
  entryBundlePath,
  followKeyRotations,
  leafHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  proveTree,
  storedHashIndex,
  tilePath,
  tilesForTreeSize,
  verifyConsistency,
  type Checkpoint,
  type Ed25519NoteVerifier,
  type Tile,
} from '@parley/core/tlog';
import { UsageError } from '../errors.js';
import { fetchKeyRotations, followToSigner, keyId } from './log-key-follow.js';
import { VerifyError, httpGet, isRecord, type VerifyFailureReason } from './log-http.js';
import { fetchLogList } from './log-list.js';
import { MAX_URLS, StateFileError, defaultStateFile, readStateFile, stateUrl, writeStateFile, type LogState, type StateFile } from './log-state.js';

/** The state file, or the failed check `bad_state`. */
async function readState(path: string): Promise<StateFile> {
  try {
    return await readStateFile(path);
  } catch (error) {
    if (error instanceof StateFileError) throw new VerifyError('bad_state', error.message);
    throw error;
  }
}

/**
 * One check `verify` made, in order.
 *
 * @example
 * const c: VerifyCheck = { name: 'signature', ok: true, detail: 'signed by parley.localhost/logs/keys+1a2b3c4d' };
 */
export interface VerifyCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** Passed, but deserves attention (trust on first use, a differing listed key). */
  readonly warning?: boolean;
}

/**
 * Options of {@link verifyLog}.
 *
 * @example
 * const opts: VerifyOptions = { url: 'http://127.0.0.1:8080', log: 'keys', stateFile: '/tmp/state.json' };
 */
export interface VerifyOptions {
  readonly url: string;
  /** Log name (default `keys`). */
  readonly log?: string;
  /** The log's verifier key, obtained out of band. */
  readonly key?: string;
  /** Verifier keys of several logs (`audit monitor`): the one named for this log's origin is used. */
  readonly keys?: readonly string[];
  /** Default `~/.parley/log-state.json`. */
  readonly stateFile?: string;
  /** Parallel tile/bundle fetches (default 8). */
  readonly concurrency?: number;
  readonly onCheck?: (check: VerifyCheck) => void;
  readonly onProgress?: (verifiedEntries: number, treeSize: number) => void;
}

/**
 * The outcome of {@link verifyLog}.
 *
 * @example
 * if (!result.ok) console.error(result.failure.reason);
 */
export interface VerifyResult {
  readonly ok: boolean;
  readonly log: string;
  readonly origin: string | undefined;
  readonly treeSize: number | undefined;
  /** base64 */
  readonly rootHash: string | undefined;
  /** The previous verified size, if any. */
  readonly previousTreeSize: number | undefined;
  /** This run took the verifier key from the server itself (first use). */
  readonly trustOnFirstUse: boolean;
  /** The key was given with `--key`, now or when it was pinned; false: the key is NOT verified. */
  readonly pinned: boolean;
  /** The verifier key the checkpoint was checked with. */
  readonly verifierKey: string | undefined;
  readonly checks: readonly VerifyCheck[];
  readonly failure?: { readonly reason: VerifyFailureReason; readonly message: string };
}

/** Of the keys given for several logs, the one named for `origin` (none given: undefined). */
function pickKey(keys: readonly string[] | undefined, origin: string): string | undefined {
  if (keys === undefined || keys.length === 0) return undefined;
  const key = keys.find((k) => {
    try {
      return parseVerifierKey(k).name === origin;
    } catch {
      return false;
    }
  });
  if (key === undefined) throw new VerifyError('wrong_origin', `none of the given verifier keys is named for this log's origin ${origin}`);
  return key;
}

/** The state entry followed (through an announced rotation) from `key`, if any. */
function followedEntry(state: StateFile, key: Ed25519NoteVerifier): LogState | undefined {
  return Object.values(state.logs).find((s) => s.rotatedFrom === key.verifierKey && s.origin === key.name);
}

/** Runs `fn` over `items`, `limit` at a time; stops starting new ones after the first failure (which it rethrows). */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Verifies one log of the server at `url` (see the module comment) and, when every check
 * passes, records its checkpoint in the state file. Never throws for a misbehaving log:
 * the result names the failure.
 *
 * @example
 * const result = await verifyLog({ url: 'https://parley.example.com', key: 'parley.example.com/logs/keys+1a2b3c4d+A…' });
 * if (!result.ok) process.exitCode = 1;
 */
export async function verifyLog(options: VerifyOptions): Promise<VerifyResult> {
  const base = options.url.replace(/\/+$/, '');
  const name = options.log ?? 'keys';
  const statePath = resolve(options.stateFile ?? defaultStateFile());
  const checks: VerifyCheck[] = [];
  const check = (c: VerifyCheck) => {
    checks.push(c);
    options.onCheck?.(c);
  };
  let origin: string | undefined;
  let cp: Checkpoint | undefined;
  let previous: LogState | undefined;
  let tofu = false;
  let pinned = false;
  let verifier: Ed25519NoteVerifier | undefined;
  const result = (failure?: VerifyError): VerifyResult => ({
    ok: failure === undefined,
    log: name,
    origin,
    treeSize: cp?.treeSize,
    rootHash: cp === undefined ? undefined : toBase64(cp.rootHash),
    previousTreeSize: previous?.treeSize,
    trustOnFirstUse: tofu,
    pinned,
    verifierKey: verifier?.verifierKey,
    checks,
    ...(failure === undefined ? {} : { failure: { reason: failure.reason, message: failure.message } }),
  });

  try {
    // 1. Which log, and which key we trust (the anchor).
    const listed = (await fetchLogList(base)).find((l) => l.name === name);
    if (listed === undefined) throw new VerifyError('unknown_log', `the server lists no log named '${name}'`);
    origin = listed.origin;
    const state = await readState(statePath);
    const here = stateUrl(base);
    // The logs of this origin verified at this URL (entries of a version-1 file: at any URL).
    const seenHere = Object.values(state.logs).filter((s) => s.origin === listed.origin && (s.urls === undefined || s.urls.includes(here)));
    const givenKey = options.key ?? pickKey(options.keys, listed.origin);
    if (givenKey !== undefined) {
      try {
        verifier = parseVerifierKey(givenKey);
      } catch {
        throw new UsageError('--key is not a signed-note verifier key (<name>+<hex id>+<base64 key>)');
      }
      const given = verifier.verifierKey;
      previous = state.logs[given];
      pinned = true;
      check({ name: 'key', ok: true, detail: `verifier key given with --key (${keyId(verifier)})` });
      // A key this monitor already followed a rotation from: the newest key of that chain signs now
      // (the old key alone is no longer enough: it may be retired because it leaked).
      for (let hops = 0, next = followedEntry(state, verifier); next !== undefined && hops < 64; hops++, next = followedEntry(state, verifier)) {
        verifier = parseVerifierKey(next.verifierKey);
        previous = next;
        check({ name: 'key', ok: true, detail: `followed before to the announced key ${keyId(verifier)} (${statePath})` });
      }
      if (listed.verifierKey !== givenKey) check({ name: 'key', ok: true, warning: true, detail: 'the server lists a different verifier key; the checkpoint must verify under --key or a key it announced' });
      const before = seenHere.find((s) => s.verifierKey !== given && s.rotatedFrom === undefined);
      if (before !== undefined) check({ name: 'key', ok: true, warning: true, detail: `${here} was verified before under another key for ${listed.origin} (${before.verifierKey}); --key replaces it` });
    } else {
      // The key verified at this URL before (the newest), else the key this state knows, else the listed one.
      const before = [...seenHere].sort((x, y) => x.verifiedAt.localeCompare(y.verifiedAt)).at(-1) ?? state.logs[listed.verifierKey];
      previous = before;
      if (previous !== undefined) {
        verifier = parseVerifierKey(previous.verifierKey);
        pinned = previous.pinned;
        check(
          pinned
            ? { name: 'key', ok: true, detail: `verifier key pinned in ${statePath} (given with --key before)` }
            : {
                name: 'key',
                ok: true,
                warning: true,
                detail: `verifier key NOT verified: taken from the server on first use and kept in ${statePath}; compare it with one obtained out of band, or pass --key`,
              },
        );
      } else {
        tofu = true;
        const elsewhere = Object.values(state.logs).filter((s) => s.origin === listed.origin);
        if (elsewhere.length > 0) {
          const urls = [...new Set(elsewhere.flatMap((s) => s.urls ?? []))].slice(0, 3).join(', ');
          check({ name: 'key', ok: true, warning: true, detail: `a new log: ${listed.origin} was verified before under another key${urls ? ` (at ${urls})` : ''}; this server is another deployment with the same origin: a new trust anchor` });
        }
        try {
          verifier = parseVerifierKey(listed.verifierKey);
        } catch {
          throw new VerifyError('bad_response', 'the server lists a malformed verifier key');
        }
        check({
          name: 'key',
          ok: true,
          warning: true,
          detail: `TRUST ON FIRST USE: the verifier key comes from the server itself (${listed.verifierKey}); compare it with one obtained out of band, or pass --key`,
        });
      }
    }
    if (verifier.name !== listed.origin) throw new VerifyError('wrong_origin', `the verifier key is named ${verifier.name}, not the log origin ${listed.origin}`);
    const prefix = `${base}${listed.prefix.replace(/\/+$/, '')}`;
    const anchor = verifier;

    // 2. The checkpoint: signature (by the trusted key, or by a key it announced), then origin.
    const res = await httpGet(`${prefix}/checkpoint`, NOTE_MAX_BYTES);
    if (res.status !== 200) throw new VerifyError('bad_response', `GET checkpoint answered ${res.status}`);
    let text: string;
    let rotatedFrom: string | undefined;
    try {
      text = openNote(res.body, [anchor]).text;
    } catch (error) {
      const code = isParleyError(error) ? error.code : '';
      if (code === 'tlog_note_bad_signature' || (code === 'tlog_note_unverified' && tofu)) throw new VerifyError('bad_signature', 'the checkpoint is not signed by the log key');
      if (code !== 'tlog_note_unverified') throw new VerifyError('bad_checkpoint', 'the checkpoint is not a well-formed signed note');
      // Not signed by the key this monitor trusts: only an announced rotation explains that.
      let followed: ReturnType<typeof followToSigner>;
      try {
        followed = followToSigner(res.body, { origin: listed.origin, trusted: anchor, notes: await fetchKeyRotations(prefix) });
      } catch (failure) {
        // Never verified under this key before: a wrong key, not a change of key.
        if (failure instanceof VerifyError && failure.reason === 'unannounced_key_change' && previous === undefined) throw new VerifyError('bad_signature', 'the checkpoint is signed neither by the given log key nor by a key it announced');
        throw failure;
      }
      text = followed.text;
      verifier = followed.signer;
      rotatedFrom = anchor.verifierKey;
      const announcedBy = parseVerifierKey(followed.step.rotation.oldKey);
      check({ name: 'key', ok: true, detail: `key rotated (announced by ${keyId(announcedBy)}): the checkpoint is signed by ${keyId(verifier)}; trust carries over${pinned ? ' (pinned)' : ' (still NOT verified)'}` });
      // This monitor may have followed the rotation before: compare with the newest state.
      const followedBefore = state.logs[verifier.verifierKey];
      if (followedBefore !== undefined && (previous === undefined || followedBefore.treeSize >= previous.treeSize)) previous = followedBefore;
    }
    if (rotatedFrom === undefined && listed.verifierKeys !== undefined && listed.verifierKeys.some((k) => k !== anchor.verifierKey)) {
      // A rotation in progress: the server names a next key. Say whether it is announced.
      const notes = await fetchKeyRotations(prefix);
      const chain = followKeyRotations(notes, { origin: listed.origin, trusted: [anchor.verifierKey] });
      const next = listed.verifierKeys.filter((k) => k !== anchor.verifierKey);
      check(
        next.every((k) => chain.keys.includes(k))
          ? { name: 'key', ok: true, detail: `key rotation in progress: the next key ${next.join(', ')} is announced by the trusted key` }
          : { name: 'key', ok: true, warning: true, detail: `the server lists a next key (${next.join(', ')}) that no announcement by the trusted key names` },
      );
    }
    check({ name: 'signature', ok: true, detail: `checkpoint signed by ${keyId(verifier)}` });
    try {
      cp = parseCheckpoint(text);
    } catch {
      throw new VerifyError('bad_checkpoint', 'the signed text is not a tlog-checkpoint');
    }
    if (cp.origin !== listed.origin) throw new VerifyError('wrong_origin', `the checkpoint is for origin ${cp.origin}, not ${listed.origin}`);
    check({ name: 'origin', ok: true, detail: cp.origin });

    // 3. Never backwards; same size, same root.
    const checkpoint = cp;
    if (previous !== undefined) {
      if (checkpoint.treeSize < previous.treeSize) {
        throw new VerifyError('rollback', `the log shrank from ${previous.treeSize} entries (verified ${previous.verifiedAt}) to ${checkpoint.treeSize}`);
      }
      if (checkpoint.treeSize === previous.treeSize && toBase64(checkpoint.rootHash) !== previous.rootHash) {
        throw new VerifyError('fork', `two different signed trees of size ${checkpoint.treeSize}: the log forked`);
      }
    }
    check({ name: 'size', ok: true, detail: `tree size ${checkpoint.treeSize}${previous === undefined ? ' (first verification)' : ` (previously ${previous.treeSize})`}` });

    // 4. Every tile and every entry bundle against the signed root.
    const verifiedTiles = new Set<string>();
    const fetchTile = async (tile: Tile): Promise<Uint8Array> => {
      const path = tilePath(tile.level, tile.index, tile.width);
      const r = await httpGet(`${prefix}/${path}`, tile.width * 32);
      if (r.status !== 200) throw new VerifyError('bad_tile', `the log does not serve ${path} (HTTP ${r.status}), which its checkpoint requires`);
      return r.body;
    };
    const reader = new TileHashReader(checkpoint.treeSize, checkpoint.rootHash, fetchTile, {
      onVerifiedTile: (t) => verifiedTiles.add(tilePath(t.level, t.index, t.width)),
    });
    const readHashes = async (indexes: number[]): Promise<Uint8Array[]> => {
      try {
        return await reader.readHashes(indexes);
      } catch (error) {
        if (error instanceof VerifyError) throw error;
        if (isParleyError(error) && error.code === 'tlog_bad_tile') throw new VerifyError('bad_tile', `a tile does not match the checkpoint root (${error.message})`);
        throw error;
      }
    };
    const bundles = Array.from({ length: Math.ceil(checkpoint.treeSize / TILE_WIDTH) }, (_, i) => i);
    let verifiedEntries = 0;
    await inParallel(bundles, options.concurrency ?? 8, async (b) => {
      const first = b * TILE_WIDTH;
      const width = Math.min(TILE_WIDTH, checkpoint.treeSize - first);
      const path = entryBundlePath(b, width);
      const r = await httpGet(`${prefix}/${path}`, width * (2 + 0xffff));
      if (r.status !== 200) throw new VerifyError('bad_entry_bundle', `the log does not serve ${path} (HTTP ${r.status})`);
      let entries: Uint8Array[];
      try {
        entries = decodeEntryBundle(r.body, width);
      } catch {
        throw new VerifyError('bad_entry_bundle', `${path} is not a bundle of ${width} entries`);
      }
      const hashes = await readHashes(entries.map((_, i) => storedHashIndex(0, first + i)));
      entries.forEach((entry, i) => {
        const h = leafHash(entry);
        if (!h.every((byte, j) => byte === hashes[i]![j])) throw new VerifyError('bad_entry_bundle', `entry ${first + i} in ${path} does not hash to its leaf in the tree`);
      });
      verifiedEntries += width;
      options.onProgress?.(verifiedEntries, checkpoint.treeSize);
    });
    const expected = tilesForTreeSize(checkpoint.treeSize).map((t) => tilePath(t.level, t.index, t.width));
    const missing = expected.filter((p) => !verifiedTiles.has(p));
    if (missing.length > 0) throw new VerifyError('bad_tile', `tiles not verified: ${missing.slice(0, 3).join(', ')}`);
    check({ name: 'tiles', ok: true, detail: `${expected.length} tiles and ${bundles.length} entry bundles (${checkpoint.treeSize} entries) match the checkpoint root` });

    // 5. Consistency with the last verified checkpoint, from the authenticated tiles.
    if (previous !== undefined && previous.treeSize > 0 && previous.treeSize < checkpoint.treeSize) {
      const oldRoot = fromBase64(previous.rootHash);
      const proof = await proveTree(checkpoint.treeSize, previous.treeSize, readHashes);
      if (!verifyConsistency(previous.treeSize, checkpoint.treeSize, proof, oldRoot, checkpoint.rootHash)) {
        throw new VerifyError('fork', `the tree of size ${checkpoint.treeSize} does not extend the tree of size ${previous.treeSize} verified ${previous.verifiedAt}: the log rewrote history`);
      }
      // The server's JSON helper must tell the same story.
      const helper = await httpGet(`${base}/v1/logs/${encodeURIComponent(name)}/consistency?from=${previous.treeSize}&to=${checkpoint.treeSize}`, 1 << 16);
      let helperProof: Uint8Array[] = [];
      try {
        const body = JSON.parse(new TextDecoder().decode(helper.body)) as unknown;
        if (helper.status !== 200 || !isRecord(body) || !Array.isArray(body['proof'])) throw new Error('shape');
        helperProof = body['proof'].map((p: unknown) => fromBase64(String(p)));
      } catch {
        throw new VerifyError('bad_proof', `the server's consistency endpoint answered ${helper.status} without a proof`);
      }
      if (!verifyConsistency(previous.treeSize, checkpoint.treeSize, helperProof, oldRoot, checkpoint.rootHash)) {
        throw new VerifyError('bad_proof', "the server's consistency proof does not verify (the tiles do)");
      }
      check({ name: 'consistency', ok: true, detail: `extends the tree of size ${previous.treeSize} verified ${previous.verifiedAt}` });
    } else if (previous !== undefined) {
      check({ name: 'consistency', ok: true, detail: previous.treeSize === checkpoint.treeSize ? 'same tree as last time' : 'nothing to compare (last tree was empty)' });
    }

    // 6. Remember this checkpoint, under its key, with the URL it was verified at.
    const key = verifier.verifierKey;
    if (rotatedFrom !== undefined) {
      // The key rotated: this URL is now watched under the new key (the old entry stays, as evidence).
      for (const s of Object.values(state.logs)) if (s.origin === checkpoint.origin && s.verifierKey !== key && s.urls?.includes(here)) state.logs[s.verifierKey] = { ...s, urls: (s.urls ?? []).filter((u) => u !== here) };
    }
    if (givenKey !== undefined) {
      // --key re-pinned this URL: the other keys of this origin are no longer expected here.
      for (const s of seenHere) if (s.verifierKey !== key) state.logs[s.verifierKey] = { ...s, urls: (s.urls ?? []).filter((u) => u !== here) };
    }
    const followedFrom = rotatedFrom ?? (previous?.verifierKey === key ? previous.rotatedFrom : undefined);
    state.logs[key] = {
      ...(followedFrom === undefined ? {} : { rotatedFrom: followedFrom }),
      origin: checkpoint.origin,
      urls: [...(previous?.urls ?? []).filter((u) => u !== here), here].slice(-MAX_URLS),
      pinned,
      verifierKey: verifier.verifierKey,
      treeSize: checkpoint.treeSize,
      rootHash: toBase64(checkpoint.rootHash),
      checkpoint: new TextDecoder().decode(res.body),
      verifiedAt: new Date().toISOString(),
    };
    await writeStateFile(statePath, state);
    check({ name: 'state', ok: true, detail: `checkpoint stored in ${statePath}` });
    return result();
  } catch (error) {
    if (error instanceof VerifyError) {
      checks.push({ name: error.reason, ok: false, detail: error.message });
      options.onCheck?.(checks[checks.length - 1]!);
      return result(error);
    }
    throw error;
  }
}

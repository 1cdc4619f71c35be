/**
 * Following the whole key log, as a business sender must (tiles and entry bundles,
 * checked against the verified tree), so that nothing a lookup leaves out stays hidden.
 */
import { equalBytes, fromBase64, toBase64, toBase64Url } from '@parley/core';
import { decodeKeyLogEntry, type DeviceKeyState } from '@parley/core/keylog';
import { TileHashReader, decodeEntryBundle, entryBundlePath, leafHash, storedHashIndex, tilePath, TILE_WIDTH } from '@parley/core/tlog';
import type { ApiClient } from './api-client.js';
import type { KeyStore } from './key-store.js';
import { KeyTransparencyError, type KeyLogVerifier, type VerifiedIdentity } from './key-transparency.js';
import { getJson, putJson } from './records.js';

const FOLLOW_RECORD = 'keylog/follow';

interface FollowState {
  size: number;
  rootHash: string;
  /** label (base64url) → logged entries (index, base64 entry). */
  labels: Record<string, [number, string][]>;
}

/**
 * Follows the whole key log, as a business sender must: reads the entry
 * bundles between the last followed size and the newest verified checkpoint,
 * checks each entry against the tree's verified tiles, and keeps every entry by
 * label. Nothing a lookup leaves out (a revocation, an extra device) stays
 * hidden from a follower.
 *
 * @example
 * const follower = new KeyLogFollower(api, store, verifier)
 * const devices = await follower.devicesOf(await verifier.lookup('acme:c-1001'))
 */
export class KeyLogFollower {
  private state: FollowState | undefined;

  constructor(
    private readonly api: ApiClient,
    private readonly store: KeyStore,
    private readonly verifier: KeyLogVerifier,
  ) {}

  private async load(): Promise<FollowState> {
    this.state ??= (await getJson<FollowState>(this.store, FOLLOW_RECORD)) ?? { size: 0, rootHash: '', labels: {} };
    return this.state;
  }

  /**
   * Catches up to the newest checkpoint; returns how many entries were read.
   *
   * @example
   * const read = await follower.sync()
   */
  async sync(checkpointNote?: string): Promise<number> {
    const state = await this.load();
    const note = checkpointNote ?? new TextDecoder().decode(await this.api.fetchLogResource(this.verifier.anchors.prefix, 'checkpoint'));
    const checkpoint = await this.verifier.verifyCheckpoint(note);
    if (checkpoint.size <= state.size) return 0;
    const reader = new TileHashReader(checkpoint.size, checkpoint.rootHash, (tile) =>
      this.api.fetchLogResource(this.verifier.anchors.prefix, tilePath(tile.level, tile.index, tile.width)),
    );
    let read = 0;
    for (let start = Math.floor(state.size / TILE_WIDTH) * TILE_WIDTH; start < checkpoint.size; start += TILE_WIDTH) {
      const bundleIndex = start / TILE_WIDTH;
      const width = Math.min(TILE_WIDTH, checkpoint.size - start);
      const bundle = decodeEntryBundle(
        await this.api.fetchLogResource(this.verifier.anchors.prefix, entryBundlePath(bundleIndex, width)),
        width,
      );
      const indexes = bundle.map((_, i) => start + i);
      const hashes = await reader.readHashes(indexes.map((n) => storedHashIndex(0, n)));
      bundle.forEach((entry, i) => {
        const index = start + i;
        if (!equalBytes(leafHash(entry), hashes[i]!)) {
          throw new KeyTransparencyError('key_log_bad_proof', 'an entry bundle does not match the signed tree', { index });
        }
        if (index < state.size) return;
        const decoded = decodeKeyLogEntry(entry);
        (state.labels[decoded.label] ??= []).push([index, toBase64(entry)]);
        read++;
      });
    }
    state.size = checkpoint.size;
    state.rootHash = toBase64(checkpoint.rootHash);
    await this.store.write([putJson(FOLLOW_RECORD, state)]);
    return read;
  }

  /**
   * The identity's devices from the followed log, caught up to the lookup's
   * checkpoint (the label comes from the verified lookup). The lookup must show
   * exactly what the followed log holds: a hidden revocation or a hidden device
   * is `key_log_lookup_mismatch`.
   *
   * @example
   * const devices = await follower.devicesOf(await verifier.lookup('acme:c-1001'))
   */
  async devicesOf(verified: VerifiedIdentity): Promise<Map<string, DeviceKeyState>> {
    await this.sync(verified.checkpoint.note);
    const state = await this.load();
    const label = toBase64Url(verified.label);
    const logged = (state.labels[label] ?? [])
      .filter(([index]) => index < verified.checkpoint.size)
      .map(([index, entry]) => ({ index, entry: decodeKeyLogEntry(fromBase64(entry)) }));
    const devices = await this.verifier.replay(label, logged);
    const same = (a: DeviceKeyState | undefined, b: DeviceKeyState | undefined) =>
      a !== undefined && b !== undefined && a.status === b.status && equalBytes(a.signatureKey, b.signatureKey) && equalBytes(a.identityKey, b.identityKey);
    for (const deviceId of new Set([...devices.keys(), ...verified.devices.keys()])) {
      if (!same(devices.get(deviceId), verified.devices.get(deviceId))) {
        throw new KeyTransparencyError('key_log_lookup_mismatch', 'a lookup disagrees with the followed key log', {
          deviceId,
          followed: devices.get(deviceId)?.status ?? 'absent',
          lookup: verified.devices.get(deviceId)?.status ?? 'absent',
        });
      }
    }
    return devices;
  }
}

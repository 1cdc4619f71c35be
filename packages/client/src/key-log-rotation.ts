/**
 * Following a rotation of the key-log key (docs/log-key-rotation.md): the announcements a
 * log publishes at `<prefix>/key-rotations`, each signed by the old key and the new key,
 * chain the key a device trusts to the key that signs a checkpoint now. Used by
 * `KeyLogVerifier` (key-transparency.ts); browser-safe.
 */
import { isParleyError } from '@parley/core';
import { followKeyRotations, openKeyRotation, openNote, parseKeyRotation, parseVerifierKey, splitKeyRotations, type Ed25519NoteVerifier, type KeyRotation } from '@parley/core/tlog';
import type { ApiClient } from './api-client.js';
import { ApiError } from './errors.js';
import type { KeyDirectoryAnchors } from './key-transparency.js';
import { KeyTransparencyError } from './key-transparency.js';

/** The log's announcements; none from an older server (no such resource) or a body nothing can be followed in. */
async function fetchAnnouncements(api: ApiClient, anchors: KeyDirectoryAnchors): Promise<string[]> {
  try {
    return splitKeyRotations(new TextDecoder().decode(await api.fetchLogResource(anchors.prefix, 'key-rotations')));
  } catch (error) {
    const absent = (error instanceof ApiError && error.status === 404) || (isParleyError(error) && error.code === 'tlog_rotation_malformed');
    if (!absent) throw error;
    return [];
  }
}

/**
 * The keys, in order, that lead from `trusted` to a key that signs `note` through valid
 * announcements (each new key with the tree size its announcement started at). Throws
 * `key_log_bad_signature` with `details.reason` `unannounced_key_change` when no announced
 * key signs it. Never trusts a key the trusted key did not announce.
 *
 * @example
 * const path = await announcedPath(api, anchors, pinnedVerifier, checkpointNote)
 */
export async function announcedPath(
  api: ApiClient,
  anchors: KeyDirectoryAnchors,
  trusted: Ed25519NoteVerifier,
  note: string,
): Promise<{ verifierKey: string; fromIndex: number }[]> {
  const notes = await fetchAnnouncements(api, anchors);
  const { steps } = followKeyRotations(notes, { origin: anchors.origin, trusted: [trusted.verifierKey] });
  const byNewKey = new Map<string, KeyRotation>(steps.map((s) => [s.rotation.newKey, s.rotation]));
  for (const step of [...steps].reverse()) {
    try {
      openNote(note, [parseVerifierKey(step.rotation.newKey)]);
    } catch {
      continue;
    }
    const path: { verifierKey: string; fromIndex: number }[] = [];
    for (let key = step.rotation.newKey; key !== trusted.verifierKey; ) {
      const rotation = byNewKey.get(key)!;
      path.unshift({ verifierKey: rotation.newKey, fromIndex: rotation.startSize });
      key = rotation.oldKey;
    }
    return path;
  }
  throw new KeyTransparencyError('key_log_bad_signature', 'the checkpoint is signed by a key the trusted log key did not announce', {
    reason: 'unannounced_key_change',
  });
}

/**
 * The keys that preceded `pinned` (a device enrolled after a rotation pins the new key):
 * every announcement whose new key is `pinned` (or a key found this way) and that carries
 * valid signatures by both of its keys names a predecessor. The pinned key's own signature
 * vouches for each, so their attestations of earlier entries are accepted.
 *
 * @example
 * const older = await announcedPredecessors(api, anchors, pinnedVerifier)
 */
export async function announcedPredecessors(api: ApiClient, anchors: KeyDirectoryAnchors, pinned: Ed25519NoteVerifier): Promise<string[]> {
  const notes = await fetchAnnouncements(api, anchors);
  const known = new Set([pinned.verifierKey]);
  const found: string[] = [];
  for (let changed = true; changed; ) {
    changed = false;
    for (const note of notes) {
      let rotation: KeyRotation;
      try {
        const claimed = parseKeyRotation(note.slice(0, note.lastIndexOf('\n\n') + 1));
        if (!known.has(claimed.newKey) || known.has(claimed.oldKey)) continue;
        // Signed by the claimed old key AND by the (known) new key.
        rotation = openKeyRotation(note, { origin: anchors.origin, trusted: [claimed.oldKey] });
      } catch {
        continue;
      }
      known.add(rotation.oldKey);
      found.push(rotation.oldKey);
      changed = true;
    }
  }
  return found;
}

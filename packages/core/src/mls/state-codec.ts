/**
 * Persisting group state: whole, or in two parts (the ratchet tree, which changes only
 * with the epoch, and the rest). Encoded state is secret: it holds the epoch secrets and
 * the signature key. Decoding re-attaches Parley's client configuration, which is not stored.
 */
import {
  decodeGroupState,
  decodeGroupStateWithoutTree,
  decodeRatchetTree,
  encodeGroupState,
  encodeGroupStateWithoutTree,
  encodeRatchetTree,
} from './ts-mls.js';
import { CryptoError } from '../errors.js';
import type { AuthenticateMember } from './credential.js';
import { clientConfigFor, MlsGroup } from './group.js';

/**
 * Serializes group state (secret: contains the epoch secrets and signature key).
 *
 * @example
 * await store.put(group.conversationId, encodeGroup(group));
 */
export function encodeGroup(group: MlsGroup): Uint8Array {
  return encodeGroupState(group.state);
}

/**
 * Serializes group state in two parts: the ratchet tree, which changes only with
 * the epoch, and the rest (secret tree, key schedule…), which changes with every
 * message. Persisting the tree once per epoch keeps per-message writes small in
 * large groups.
 *
 * @example
 * const { tree, rest } = encodeGroupParts(group, group.epoch !== savedEpoch);
 */
export function encodeGroupParts(group: MlsGroup, withTree = true): { tree: Uint8Array | undefined; rest: Uint8Array } {
  return { tree: withTree ? encodeRatchetTree(group.state.ratchetTree) : undefined, rest: encodeGroupStateWithoutTree(group.state) };
}

/**
 * Restores group state from `encodeGroupParts` output. Throws `invalid_group_state` for
 * anything that does not decode exactly.
 *
 * @example
 * const group = decodeGroupParts(saved.tree, saved.rest, authenticate);
 */
export function decodeGroupParts(tree: Uint8Array, rest: Uint8Array, authenticate: AuthenticateMember): MlsGroup {
  try {
    const t = decodeRatchetTree(tree, 0);
    if (t === undefined || t[1] !== tree.length) throw new Error('tree');
    const decoded = decodeGroupStateWithoutTree(t[0])(rest, 0);
    if (decoded === undefined || decoded[1] !== rest.length) throw new Error('state');
    return new MlsGroup({ ...decoded[0], clientConfig: clientConfigFor(authenticate) });
  } catch (cause) {
    throw new CryptoError('invalid_group_state', 'stored group state is malformed', { cause });
  }
}

/**
 * Restores group state from `encodeGroup` output. Throws `invalid_group_state` for
 * anything that does not decode exactly.
 *
 * @example
 * const group = decodeGroup(await store.get(conversationId), authenticate);
 */
export function decodeGroup(bytes: Uint8Array, authenticate: AuthenticateMember): MlsGroup {
  let decoded;
  try {
    decoded = decodeGroupState(bytes, 0);
  } catch (cause) {
    throw new CryptoError('invalid_group_state', 'stored group state is malformed', { cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new CryptoError('invalid_group_state', 'stored group state is malformed');
  }
  return new MlsGroup({ ...decoded[0], clientConfig: clientConfigFor(authenticate) });
}

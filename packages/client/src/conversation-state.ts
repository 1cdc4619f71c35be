/**
 * One conversation as this device holds it: the MLS group, its metadata and its
 * duplicate-suppression window, and how each is persisted. The ratchet tree is
 * written only when the epoch changes; the rest of the group state with every
 * message (see `encodeGroupParts`).
 */
import { parseConversationId, type ConversationId } from '@parley/core';
import { decodeGroupParts, encodeGroupParts, type AuthenticateMember, type MlsGroup } from '@parley/core/mls';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import { RECORDS, getJson, putJson, type ConversationMeta } from './records.js';
import { SeenWindow } from './seen-window.js';

export class ConversationState {
  private constructor(
    public group: MlsGroup,
    public meta: ConversationMeta,
    readonly seen: SeenWindow,
    /** Epoch whose ratchet tree is in the store (undefined: none yet). */
    private storedTreeEpoch: bigint | undefined,
  ) {}

  get id(): ConversationId {
    return this.meta.conversationId;
  }

  static async load(store: KeyStore, id: string, authenticate: AuthenticateMember): Promise<ConversationState | undefined> {
    const meta = await getJson<ConversationMeta>(store, RECORDS.conversationMeta(id));
    const tree = await store.get(RECORDS.conversationTree(id));
    const rest = await store.get(RECORDS.conversationState(id));
    if (!meta || !tree || !rest) return undefined;
    const group = decodeGroupParts(tree, rest, authenticate);
    return new ConversationState(group, meta, await SeenWindow.load(store, RECORDS.conversationSeenPrefix(id)), group.epoch);
  }

  /** A conversation not yet in the store; persist it with `stateOps` + `metaOps`. */
  static fresh(group: MlsGroup, createdAt: Date): ConversationState {
    const conversationId = parseConversationId(group.conversationId);
    const meta: ConversationMeta = { v: 2, conversationId, createdAt: createdAt.toISOString(), active: true };
    return new ConversationState(group, meta, SeenWindow.empty(RECORDS.conversationSeenPrefix(conversationId)), undefined);
  }

  /** Store operations that make `group` the persisted state. */
  stateOps(group: MlsGroup): KeyStoreOp[] {
    const withTree = this.storedTreeEpoch !== group.epoch;
    const { tree, rest } = encodeGroupParts(group, withTree);
    const ops: KeyStoreOp[] = [{ op: 'put', name: RECORDS.conversationState(this.id), value: rest }];
    if (tree) ops.push({ op: 'put', name: RECORDS.conversationTree(this.id), value: tree });
    return ops;
  }

  /** After the `stateOps(group)` write succeeded. */
  adopt(group: MlsGroup): void {
    this.group = group;
    this.storedTreeEpoch = group.epoch;
  }

  /**
   * Takes the group back from the store after an MLS operation whose result was
   * not adopted (its write failed, or the server refused the commit). ts-mls
   * zeroes the secrets an operation consumed in the group it was given (a
   * sending ratchet secret, a receiving one, the epoch's init secret), so that
   * group must not be used again: a second encryption would derive its key from
   * zeros, and a commit that won the epoch could not be applied. The store holds
   * the last adopted state. Best effort: if the store cannot be read, nothing changes.
   */
  async restore(store: KeyStore, authenticate: AuthenticateMember): Promise<void> {
    try {
      const tree = await store.get(RECORDS.conversationTree(this.id));
      const rest = await store.get(RECORDS.conversationState(this.id));
      if (!tree || !rest) return;
      this.adopt(decodeGroupParts(tree, rest, authenticate));
    } catch {
      // The operation's own error is the one to report.
    }
  }

  metaOps(meta: ConversationMeta = this.meta): KeyStoreOp[] {
    return [putJson(RECORDS.conversationMeta(this.id), meta)];
  }
}

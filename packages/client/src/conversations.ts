/**
 * The conversations a device holds, and the one lock per conversation under
 * which their state changes: sending, committing, receiving and resyncing a
 * conversation run one at a time, in call order. Nothing else keeps a
 * conversation's state, so whoever holds the lock sees the latest epoch.
 */
import type { ConversationId } from '@parley/core';
import type { AuthenticateMember, MemberRef } from '@parley/core/mls';
import { ConversationState } from './conversation-state.js';
import { ConversationError } from './errors.js';
import type { KeyStore } from './key-store.js';
import { KeyedMutex } from './mutex.js';
import { RECORDS } from './records.js';

const META_RE = /^conv\/([^/]+)\/meta$/;

/**
 * One conversation as `Device.listConversations` lists it.
 *
 * @example
 * const active = device.listConversations().filter((c: ConversationSummary) => c.active)
 */
export interface ConversationSummary {
  conversationId: ConversationId;
  /** MLS epoch (decimal). */
  epoch: string;
  /** False after this device was removed. */
  active: boolean;
  members: MemberRef[];
  /** The MLS cipher suite (`MLS_256_XWING_…`: post-quantum; docs/post-quantum.md). */
  suite: string;
}

function summaryOf(c: ConversationState): ConversationSummary {
  return { conversationId: c.meta.conversationId, epoch: c.group.epoch.toString(), active: c.meta.active, members: c.group.members().map((m) => m.member), suite: c.group.suite };
}

/** @internal The device's conversations and their locks; not part of the SDK's API. */
export class ConversationRegistry {
  readonly #states = new Map<string, ConversationState>();
  readonly #locks = new KeyedMutex();

  /** Restores every conversation persisted in `store` (a half-written one is skipped). */
  async load(store: KeyStore, authenticate: AuthenticateMember): Promise<void> {
    for (const name of await store.list(RECORDS.conversationPrefix)) {
      const match = META_RE.exec(name);
      if (!match) continue;
      const conversation = await ConversationState.load(store, match[1]!, authenticate);
      if (conversation) this.add(conversation);
    }
  }

  /** The conversation, if this device holds it. */
  get(conversationId: string): ConversationState | undefined {
    return this.#states.get(conversationId);
  }

  /** The conversation; `unknown_conversation` if this device does not hold it. */
  require(conversationId: string): ConversationState {
    const state = this.#states.get(conversationId);
    if (!state) throw new ConversationError('unknown_conversation', 'no such conversation on this device', { conversationId });
    return state;
  }

  /** Adds a conversation, replacing an earlier state of the same one (a re-added device). */
  add(state: ConversationState): void {
    this.#states.set(state.id, state);
  }

  /** Every conversation, in the order they were added (a live view: one added meanwhile is included). */
  all(): IterableIterator<ConversationState> {
    return this.#states.values();
  }

  /** What `Device.listConversations` shows of each conversation. */
  summaries(): ConversationSummary[] {
    return [...this.#states.values()].map(summaryOf);
  }

  /** What `Device.conversation` shows of one conversation (undefined: not on this device). */
  summary(conversationId: string): ConversationSummary | undefined {
    const state = this.#states.get(conversationId);
    return state === undefined ? undefined : summaryOf(state);
  }

  /** Runs `fn` holding the conversation's lock. */
  run<T>(conversationId: string, fn: () => Promise<T>): Promise<T> {
    return this.#locks.run(conversationId, fn);
  }

  /**
   * Runs `fn` holding the conversation's lock, with the conversation looked up
   * under it: `unknown_conversation` if this device does not hold it,
   * `not_a_member` if this device was removed from it.
   */
  runActive<T>(conversationId: string, fn: (state: ConversationState) => Promise<T>): Promise<T> {
    return this.#locks.run(conversationId, () => {
      const state = this.require(conversationId);
      if (!state.meta.active) throw new ConversationError('not_a_member', 'this device was removed from the conversation');
      return fn(state);
    });
  }
}

/** What a device keeps for its app besides conversations: tags naming conversations, and message history. */
import { parseConversationId, type ConversationId } from '@parley/core';
import type { KeyStore } from './key-store.js';
import { RECORDS, getJson, putJson } from './records.js';

interface ConversationTagV1 {
  conversationId: ConversationId;
}

/** @internal The conversation an app-chosen tag points to. */
export async function conversationTag(store: KeyStore, tag: string): Promise<ConversationId | undefined> {
  return (await getJson<ConversationTagV1>(store, RECORDS.conversationTag(tag)))?.conversationId;
}

/** @internal Points a tag at a conversation (`invalid_conversation_id` if the id cannot be one). */
export async function setConversationTag(store: KeyStore, tag: string, conversationId: string): Promise<void> {
  const record: ConversationTagV1 = { conversationId: parseConversationId(conversationId) };
  await store.write([putJson(RECORDS.conversationTag(tag), record)]);
}

/** @internal The last `limit` stored messages of a conversation, oldest first. */
export async function readHistory(store: KeyStore, conversationId: string, limit: number): Promise<unknown[]> {
  const names = await store.list(RECORDS.messagePrefix(conversationId));
  const out: unknown[] = [];
  for (const name of names.slice(-limit)) out.push(await getJson(store, name));
  return out;
}

/**
 * Moving a live conversation to another suite (docs/post-quantum.md): to X-Wing once every
 * device in it supports it, or back to the classic suite when a device without X-Wing joins a
 * conversation whose rule only prefers post-quantum. A new group on the suite with the same
 * identities (their devices' KeyPackages of that suite, checked like any claim), then a notice
 * sent in the OLD group naming the new one. MLS authenticates the notice (only a member can send
 * it, and receivers know which member did): it is the authenticated link between the groups.
 * The old group is not ended: messages already in flight in it are delivered and read as
 * before, and a reply a customer's device sends there still reaches every member. New messages
 * go to the new group. (RFC 9420 §11.2 ReInit would suspend the old group at once and strand
 * those in-flight messages; the link keeps them.)
 */
import type { ConversationId } from '@parley/core';
import { CLASSIC_SUITE, XWING_SUITE, type MemberRef, type SuiteName } from '@parley/core/mls';
import type { ConversationRegistry } from './conversations.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import { chooseSuite, type Membership } from './membership.js';
import type { MlsSelf } from './mls-self.js';
import { sendMessage, type SendContext } from './send-message.js';

/** @internal What moving a conversation needs from its device. */
export interface UpgradeContext {
  readonly mls: MlsSelf;
  readonly conversations: ConversationRegistry;
  readonly membership: Pick<Membership, 'activeDevices' | 'createConversation'>;
  readonly sending: SendContext;
  readonly hub: EventHub<DeviceEvent>;
}

/**
 * @internal Whether a successor notice names a group this device is in, on the suite it states,
 * with the notice's sender among its members: any member of the old group can send a notice,
 * but only one that leads where its sender is makes a `conversation-upgraded` event. (The new
 * group's Welcome is submitted before the notice, so it is processed first.)
 */
export function successorHolds(conversations: ConversationRegistry, successor: { conversationId: string; suite: string }, sender: MemberRef): boolean {
  const next = conversations.get(successor.conversationId);
  return next !== undefined && next.group.suite === successor.suite && next.group.members().some((m) => m.member.deviceId === sender.deviceId);
}

/** The class of the notice that links the old group to the new one. */
export const UPGRADE_CLASS = 'conversation-upgrade';

/**
 * @internal Moves `conversationId` to the suite its devices call for under `preferred` (X-Wing
 * when every active device of its members and of this identity supports it, else classic);
 * returns the new conversation's id, or undefined when the suite is already right. With
 * `upgradeOnly`, never moves to the classic suite.
 */
export async function moveConversation(ctx: UpgradeContext, conversationId: string, upgradeOnly = false): Promise<ConversationId | undefined> {
  const state = ctx.conversations.require(conversationId);
  if (!state.meta.active) return undefined;
  const self = ctx.mls.member.identityId;
  const others = [...new Set(state.group.members().map((m) => m.member.identityId as string))].filter((id) => id !== self);
  // Cached lookups: the Sender reconciled the members a moment ago, and the new group's
  // creation below looks them up fresh anyway (one fresh lookup per send, not three).
  const devices = await ctx.membership.activeDevices([self, ...others], false);
  const suite: SuiteName = chooseSuite(devices, [...ctx.mls.suites.keys()], 'preferred');
  if (suite === state.group.suite || (upgradeOnly && suite === CLASSIC_SUITE)) return undefined;
  const next = await ctx.membership.createConversation(others, suite === XWING_SUITE ? 'required' : 'off');
  await sendMessage(ctx.sending, conversationId, '', { class: UPGRADE_CLASS, successor: { conversationId: next, suite } });
  ctx.hub.emit({ type: 'conversation-upgraded', from: state.id, to: next, suite });
  return next;
}

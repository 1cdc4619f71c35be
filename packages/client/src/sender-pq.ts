/**
 * The Sender's post-quantum policy per message class (docs/post-quantum.md). `pq`:
 * - `preferred` (the default) and `off`: the customer's conversation, which is on X-Wing when
 *   every device of the customer supports it and on the classic suite otherwise (it moves when
 *   that changes: an app update, a new old device);
 * - `required`: only devices with X-Wing get the message, in an X-Wing conversation (the
 *   customer's one, or a second one of just those devices); each device without X-Wing gets the
 *   class's `otherwise`: `block` (nothing; the result names it) or `invite-to-app` (a notice with
 *   nothing of the message, asking to update the app, in a conversation of just those devices).
 *   When no device of the customer has X-Wing and `otherwise` is `block`, nothing is sent at all:
 *   `SuiteError` `post_quantum_unavailable`. Never a silent downgrade.
 */
import type { ConversationId, IdentityId } from '@parley/core';
import { XWING_SUITE } from '@parley/core/mls';
import type { Device } from './device.js';
import { SuiteError } from './errors.js';
import { deviceSupports, type PostQuantumMode } from './membership.js';

/**
 * One class's rule.
 *
 * @example
 * sender.setPostQuantumPolicy({ statement: { pq: 'required', otherwise: 'invite-to-app' }, otp: { pq: 'preferred' } })
 */
export interface PostQuantumRule {
  readonly pq: PostQuantumMode;
  /** For `required`: what a device of the customer without X-Wing gets (default `block`). */
  readonly otherwise?: 'block' | 'invite-to-app';
}

/** The notice a `required` class with `invite-to-app` sends to devices without X-Wing (no content of the message). */
export const UPDATE_APP_NOTICE = 'A secure message is waiting for you. Update the app to read it.';
export const UPDATE_APP_CLASS = 'update-app';

/** @internal Where a message under a rule goes. */
export interface CustomerTarget {
  /** The conversation the message itself goes to; undefined: no device may have it. */
  readonly conversationId: ConversationId | undefined;
  /** Devices of the customer that do not get it (no X-Wing under `required`). */
  readonly withheldFrom: readonly string[];
  /** The conversation of those devices, for the update notice (`invite-to-app`). */
  readonly inviteConversationId?: ConversationId;
}


/** The conversation tagged `tag` if this device still has it active. */
async function tagged(device: Device, tag: string): Promise<ConversationId | undefined> {
  const id = await device.conversationTag(tag);
  return id !== undefined && device.conversation(id)?.active === true ? id : undefined;
}

/**
 * @internal The customer's conversation (tag `customer/<id>`): created on the suite its devices
 * allow, reconciled, and moved when that suite changes.
 */
async function mainConversation(device: Device, customerId: string, identityId: IdentityId): Promise<ConversationId> {
  const tag = `customer/${customerId}`;
  let conversationId = await tagged(device, tag);
  if (conversationId === undefined) {
    conversationId = await device.createConversation([identityId], { pq: 'preferred' });
    await device.setConversationTag(tag, conversationId);
    return conversationId;
  }
  await device.reconcileIdentity(conversationId, identityId);
  const next = await device.upgradeConversation(conversationId, { upgradeOnly: false });
  if (next === undefined) return conversationId;
  await device.setConversationTag(tag, next);
  return next;
}

/**
 * @internal A conversation of just some devices of the customer (tag `customer/<id>/<kind>`),
 * made again when its devices are no longer exactly `wanted`.
 */
async function narrowConversation(device: Device, customerId: string, identityId: IdentityId, kind: 'pq' | 'update', wanted: readonly string[]): Promise<ConversationId> {
  const tag = `customer/${customerId}/${kind}`;
  const current = await tagged(device, tag);
  const members = current === undefined ? [] : device.members(current).filter((m) => m.identityId === identityId).map((m) => m.deviceId as string);
  if (current !== undefined && members.length === wanted.length && wanted.every((id) => members.includes(id))) return current;
  const conversationId = await device.createConversation([identityId], { pq: kind === 'pq' ? 'required' : 'off', only: (d) => wanted.includes(d.deviceId) });
  await device.setConversationTag(tag, conversationId);
  return conversationId;
}

/** @internal Where a message to `customerId` under `rule` goes (see the module comment). */
export async function customerTarget(device: Device, customerId: string, identityId: IdentityId, rule: PostQuantumRule): Promise<CustomerTarget> {
  const main = await mainConversation(device, customerId, identityId);
  if (rule.pq !== 'required' || device.conversation(main)?.suite === XWING_SUITE) return { conversationId: main, withheldFrom: [] };
  const devices = await device.activeDevices([identityId]);
  const capable = devices.filter((d) => deviceSupports(d, XWING_SUITE)).map((d) => d.deviceId as string);
  const lacking = devices.filter((d) => !deviceSupports(d, XWING_SUITE)).map((d) => d.deviceId as string);
  if (capable.length === 0 && rule.otherwise !== 'invite-to-app') {
    throw new SuiteError('post_quantum_unavailable', 'this class must be post-quantum and no device of the customer supports it', { suite: XWING_SUITE, devices: lacking });
  }
  const conversationId = capable.length === 0 ? undefined : await narrowConversation(device, customerId, identityId, 'pq', capable);
  const inviteConversationId = rule.otherwise === 'invite-to-app' ? await narrowConversation(device, customerId, identityId, 'update', lacking) : undefined;
  return { conversationId, withheldFrom: lacking, ...(inviteConversationId ? { inviteConversationId } : {}) };
}

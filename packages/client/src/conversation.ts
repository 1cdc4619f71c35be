/**
 * A handle on one conversation (one MLS group, RFC 9420) of a device: send,
 * membership, history. All state lives in the Device; this is a view.
 */
import { parseConversationId, type ConversationId } from '@parley/core';
import type { MemberRef } from '@parley/core/mls';
import type { Device } from './device.js';
import type { SendOptions, SendResult } from './device-options.js';

/**
 * A view of one conversation of a device.
 *
 * @example
 * const conversation = new Conversation(device, await device.createConversation([customerId]))
 * await conversation.send('hello', { class: 'support' })
 */
export class Conversation {
  /** base64url MLS group id. */
  readonly id: ConversationId;

  /** `invalid_conversation_id` if `id` cannot be a conversation id. */
  constructor(
    private readonly device: Device,
    id: string,
  ) {
    this.id = parseConversationId(id);
  }

  /** Current MLS epoch. */
  get epoch(): bigint {
    return this.device.epoch(this.id);
  }

  /**
   * Members by device.
   *
   * @example
   * for (const { identityId, deviceId } of conversation.members()) console.log(identityId, deviceId)
   */
  members(): MemberRef[] {
    return this.device.members(this.id);
  }

  /**
   * Encrypts and sends a text message (see `Device.send`).
   *
   * @example
   * const { messageId } = await conversation.send('Your replacement card is on its way', { class: 'support' })
   */
  send(text: string, options?: SendOptions): Promise<SendResult> {
    return this.device.send(this.id, text, options);
  }

  /**
   * Adds every active device of the given identities (one commit).
   *
   * @example
   * await conversation.addMembers(['acme:agent-2'])
   */
  addMembers(identityIds: readonly string[]): Promise<void> {
    return this.device.addMembers(this.id, identityIds);
  }

  /**
   * Removes every device of the given identities (one commit).
   *
   * @example
   * await conversation.removeMembers(['acme:agent-2'])
   */
  removeMembers(identityIds: readonly string[]): Promise<void> {
    return this.device.removeMembers(this.id, identityIds);
  }

  /**
   * Removes devices by id (one commit).
   *
   * @example
   * await conversation.removeDevices([lostPhoneDeviceId])
   */
  removeDevices(deviceIds: readonly string[]): Promise<void> {
    return this.device.removeDevices(this.id, deviceIds);
  }

  /**
   * An update commit with fresh keys (post-compromise security).
   *
   * @example
   * await conversation.updateKeys()
   */
  updateKeys(): Promise<void> {
    return this.device.updateKeys(this.id);
  }

  /**
   * Locally stored messages, oldest first (default limit 100).
   *
   * @example
   * const recent = await conversation.history(20)
   */
  history(limit?: number): Promise<unknown[]> {
    return this.device.history(this.id, limit);
  }
}

/**
 * A handle on one conversation (one MLS group, RFC 9420) of a device: send,
 * membership, history. All state lives in the Device; this is a view.
 */
import type { MemberRef } from '@parley/core/mls';
import type { Device, SendOptions, SendResult } from './device.js';

export class Conversation {
  constructor(
    private readonly device: Device,
    /** base64url MLS group id. */
    readonly id: string,
  ) {}

  /** Current MLS epoch. */
  get epoch(): bigint {
    return this.device.epoch(this.id);
  }

  /** Members by device. */
  members(): MemberRef[] {
    return this.device.members(this.id);
  }

  send(text: string, options?: SendOptions): Promise<SendResult> {
    return this.device.send(this.id, text, options);
  }

  addMembers(identityIds: readonly string[]): Promise<void> {
    return this.device.addMembers(this.id, identityIds);
  }

  removeMembers(identityIds: readonly string[]): Promise<void> {
    return this.device.removeMembers(this.id, identityIds);
  }

  removeDevices(deviceIds: readonly string[]): Promise<void> {
    return this.device.removeDevices(this.id, deviceIds);
  }

  /** An update commit with fresh keys (post-compromise security). */
  updateKeys(): Promise<void> {
    return this.device.updateKeys(this.id);
  }

  history(limit?: number): Promise<unknown[]> {
    return this.device.history(this.id, limit);
  }
}

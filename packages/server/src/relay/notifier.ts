/**
 * "Device X has mail" notices, raised after a write commits. The in-process
 * notifier (embedded default, one node) hands envelopes straight to this node's
 * WebSocket connections; the cross-node notifier (`NatsNotifier`, nats-notifier.ts)
 * plugs in behind the same interface. A lost notice only delays delivery until the
 * next fetch or reconnect: the database is the truth.
 */
import type { Envelope, SingleServerFrame } from '@parley/core';

/**
 * The WebSocket close code for a device that was revoked: the SDK opens a new session next
 * (not the cached one), and the server's refusal carries the notice it verifies.
 */
export const DEVICE_REVOKED_CLOSE = 4004;

export interface MailNotifier {
  /** New envelope for these recipient devices (already durable). */
  notifyEnvelope(recipients: readonly string[], envelope: Envelope): void;
  /**
   * These stored envelopes may be pending for these devices without their notice having gone
   * out (a repeated submission whose first attempt failed after its commit): their
   * connections read their mailboxes from before the ids, and find them if still pending.
   */
  notifyPending(recipients: readonly string[], envelopeIds: readonly string[]): void;
  /** A control frame for one device (e.g. KeyPackage stock is low). */
  notifyControl(deviceId: string, frame: SingleServerFrame): void;
  /** The device acknowledged these envelopes (over HTTP): its sockets may send more. */
  notifyAcked(deviceId: string, ids: readonly string[]): void;
  /** The device was revoked: close its sockets. */
  notifyRevoked(deviceId: string): void;
}

/** Where notices for locally connected devices go. */
export interface LocalDelivery {
  deliver(deviceId: string, envelopes: readonly Envelope[]): void;
  /**
   * Mail is waiting for the device (stored by another node): its connections read
   * their mailboxes from the database, from before the lowest of these envelope ids.
   * An empty list means "read from where you are".
   */
  wake(deviceId: string, envelopeIds: readonly string[]): void;
  control(deviceId: string, frame: SingleServerFrame): void;
  acknowledged(deviceId: string, ids: readonly string[]): void;
  disconnect(deviceId: string, code: number, reason: string): void;
}

export class InProcessNotifier implements MailNotifier {
  constructor(private readonly local: LocalDelivery) {}

  notifyEnvelope(recipients: readonly string[], envelope: Envelope): void {
    for (const deviceId of recipients) this.local.deliver(deviceId, [envelope]);
  }

  notifyPending(recipients: readonly string[], envelopeIds: readonly string[]): void {
    for (const deviceId of recipients) this.local.wake(deviceId, envelopeIds);
  }

  notifyControl(deviceId: string, frame: SingleServerFrame): void {
    this.local.control(deviceId, frame);
  }

  notifyAcked(deviceId: string, ids: readonly string[]): void {
    this.local.acknowledged(deviceId, ids);
  }

  notifyRevoked(deviceId: string): void {
    this.local.disconnect(deviceId, DEVICE_REVOKED_CLOSE, 'device revoked');
  }
}

/**
 * What the demo scenario reports while it runs: its steps (a failed one stops the
 * scenario), the transcript of messages with the devices that decrypted them, and each
 * business message's delivery path and routing decisions.
 */
import { Sender, type Device, type DeviceEvent, type SendResult } from '@parley/client';
import type { AttachmentRef, RouteViewResponse } from '@parley/core';
import { CliError } from '../errors.js';
import type { ScenarioMessage, ScenarioResult, ScenarioStep } from './scenario-types.js';

/**
 * A step of the scenario failed (already recorded as a failed step).
 *
 * @example
 * throw new ScenarioFailure('the server lists no audit log');
 */
export class ScenarioFailure extends CliError {
  readonly code = 'scenario_failed';
  constructor(step: string, detail?: string) {
    super(`${step}${detail ? `: ${detail}` : ''}`);
  }
}

interface Delivery {
  text: string;
  attachments: readonly AttachmentRef[];
  deviceIds: Set<string>;
  waiters: (() => void)[];
}

/**
 * The scenario's steps and messages as they happen, and which devices received what.
 *
 * @example
 * const t = new Transcript({ timeoutMs: 20_000, onStep: console.log });
 * t.watch(device);
 * await t.record(sent, sender.device, 'Example Bank ↔ Alice', 'alert', [phone], 'payment alert');
 */
export class Transcript {
  readonly steps: ScenarioStep[] = [];
  readonly messages: ScenarioMessage[] = [];
  /** Device id → what the transcript calls it. */
  readonly labels = new Map<string, string>();
  /** The node each device enrolled on (several nodes only). */
  readonly nodeOf = new Map<string, string>();
  private readonly deliveries = new Map<string, Delivery>();

  constructor(private readonly o: { readonly timeoutMs: number; readonly onStep?: ((step: ScenarioStep) => void) | undefined }) {}

  /** Records a step; a failed one throws {@link ScenarioFailure} and ends the scenario. */
  step(name: string, ok: boolean, detail?: string): void {
    const s: ScenarioStep = detail === undefined ? { name, ok } : { name, ok, detail };
    this.steps.push(s);
    this.o.onStep?.(s);
    if (!ok) throw new ScenarioFailure(name, detail);
  }

  /** Records the error that aborted the scenario (anything but a failed step) as its last step. */
  aborted(error: unknown): void {
    if (error instanceof ScenarioFailure) return;
    const detail = error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
    this.steps.push({ name: 'scenario aborted', ok: false, detail });
    this.o.onStep?.({ name: 'scenario aborted', ok: false, detail });
  }

  private delivery(messageId: string): Delivery {
    let d = this.deliveries.get(messageId);
    if (!d) this.deliveries.set(messageId, (d = { text: '', attachments: [], deviceIds: new Set(), waiters: [] }));
    return d;
  }

  /** Notes every message `device` decrypts. */
  watch(device: Device): void {
    device.subscribe((event: DeviceEvent) => {
      if (event.type !== 'message') return;
      const d = this.delivery(event.messageId);
      d.text = event.text;
      d.attachments = event.attachments ?? [];
      d.deviceIds.add(device.deviceId);
      d.waiters.splice(0).forEach((w) => w());
    });
  }

  /** Waits (up to the delivery timeout) until every expected device decrypted the message. */
  async waitDelivered(messageId: string, expected: readonly string[]): Promise<boolean> {
    const deadline = Date.now() + this.o.timeoutMs;
    const d = this.delivery(messageId);
    while (!expected.every((id) => d.deviceIds.has(id))) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        d.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  /**
   * Waits for a sent message to reach the expected devices, adds it to the transcript (with
   * its delivery path, for a business sender's message) and records the step.
   */
  async record(sent: SendResult, from: Device, conversationLabel: string, cls: string, expected: Device[], what: string): Promise<void> {
    const ok = await this.waitDelivered(sent.messageId, expected.map((d) => d.deviceId));
    const d = this.delivery(sent.messageId);
    const deliveredTo = [...d.deviceIds];
    const routed = from.kind === 'sender' ? await finishedRoute(Sender.fromDevice(from), sent.messageId, this.o.timeoutMs) : undefined;
    const labels = this.labels;
    this.messages.push({
      path: routed?.path ?? 'app',
      route: routed ? summarizeRoute(routed) : 'member of the conversation: delivered over the app relay',
      id: sent.messageId,
      conversation: sent.conversationId,
      conversationLabel,
      from: from.identityId,
      fromLabel: labels.get(from.deviceId) ?? from.identityId,
      class: cls,
      text: d.text,
      deliveredTo,
      expectedTo: expected.map((e) => e.deviceId),
      deliveredToLabels: deliveredTo.map((id) => labels.get(id) ?? id),
      epoch: sent.epoch,
      suite: from.conversation(sent.conversationId)?.suite ?? '-',
      storedBytes: sent.storedBytes,
      ...(d.attachments.length > 0 ? { attachments: d.attachments.map((a) => ({ name: a.name ?? '-', mime: a.mime, size: a.size, cipherSize: a.cipherSize, sha256: a.sha256, decryptedBy: [] })) } : {}),
    });
    this.step(
      `${what} (${labels.get(from.deviceId)} → ${expected.map((e) => labels.get(e.deviceId)).join(', ')})`,
      ok,
      ok ? undefined : `delivered to ${deliveredTo.length} of ${expected.length} devices within ${this.o.timeoutMs} ms`,
    );
  }

  /**
   * The devices download and decrypt every attachment of a recorded message (each chunk and the
   * ciphertext's hash checked by the SDK) and compare it with what was sent; true when all match.
   */
  async decryptAttachments(messageId: string, devices: readonly Device[], sent: readonly Uint8Array[]): Promise<boolean> {
    const m = this.messages.find((x) => x.id === messageId);
    const refs = this.delivery(messageId).attachments;
    if (!m?.attachments || refs.length !== sent.length) return false;
    for (const device of devices) {
      for (const [i, ref] of refs.entries()) {
        const bytes = await device.attachments.downloadBytes(ref);
        if (Buffer.compare(Buffer.from(bytes), Buffer.from(sent[i]!)) !== 0) return false;
        m.attachments[i]!.decryptedBy.push(this.labels.get(device.deviceId) ?? device.deviceId);
      }
    }
    return true;
  }

  /** A device caught up on messages it missed: they now list it as delivered to and expected at. */
  caughtUp(messageIds: readonly string[], deviceId: string): void {
    for (const m of this.messages) {
      if (!messageIds.includes(m.id)) continue;
      const d = this.delivery(m.id);
      m.deliveredTo.splice(0, m.deliveredTo.length, ...d.deviceIds);
      m.deliveredToLabels.splice(0, m.deliveredToLabels.length, ...[...d.deviceIds].map((id) => this.labels.get(id) ?? id));
      m.expectedTo.push(deviceId);
    }
  }

  /** The devices as the result lists them (with their node when there are several). */
  describe(devices: readonly Device[]): ScenarioResult['devices'] {
    return devices.map((d) => {
      const server = this.nodeOf.get(d.deviceId);
      return { label: this.labels.get(d.deviceId) ?? d.deviceId, deviceId: d.deviceId, identityId: d.identityId, ...(server ? { server } : {}) };
    });
  }
}

/**
 * Waits until a route is no longer active (the ack that finishes it is asynchronous).
 *
 * @example
 * const view = await finishedRoute(sender, sent.messageId, 20_000);
 */
export async function finishedRoute(sender: Sender, messageId: string, timeoutMs: number): Promise<RouteViewResponse> {
  let view = await sender.route(messageId);
  for (const deadline = Date.now() + timeoutMs; view.state === 'active' && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
    view = await sender.route(messageId);
  }
  return view;
}

/**
 * The routing decisions of a message in one line: channels tried and what happened.
 *
 * @example
 * summarizeRoute(view); // 'app waiting → fcm sent → app delivered'
 */
export function summarizeRoute(view: RouteViewResponse): string {
  const shown = new Set(['waiting', 'sent', 'skipped', 'failed', 'retry', 'token-dropped', 'delivered', 'invited', 'blocked', 'web-link-sent', 'exhausted', 'revoked']);
  return view.events
    .filter((e) => shown.has(e.decision))
    .map((e) => `${e.channel ?? e.step} ${e.decision}${e.reason && e.decision !== 'waiting' ? ` (${e.reason})` : ''}`)
    .join(' → ');
}

/**
 * A transcript entry for a message that left the app (web link, invitation, block).
 *
 * @example
 * transcript.messages.push(webMessage(web.messageId, businessId, 'Example Bank → Erin (web link)', 'otp', text, route));
 */
export function webMessage(id: string, businessId: string, label: string, cls: string, text: string, route: RouteViewResponse): ScenarioMessage {
  return {
    id,
    conversation: '',
    conversationLabel: label,
    from: `${businessId}:notifications`,
    fromLabel: 'Example Bank',
    class: cls,
    text,
    deliveredTo: [],
    expectedTo: [],
    deliveredToLabels: route.path === 'sms-token-web' ? ['a web browser (one-time link)'] : [],
    epoch: '-',
    suite: '-',
    storedBytes: 0,
    path: route.path ?? route.state,
    route: summarizeRoute(route),
  };
}

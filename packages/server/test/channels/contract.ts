/**
 * The one contract every delivery channel passes against its provider emulator.
 * Each adapter's test file calls `describeChannelContract` with a harness that starts
 * the emulator, builds the production adapter pointed at it and can make the far end
 * misbehave. What the contract pins down:
 *
 * - capabilities: a reachable recipient is reported reachable with a positive TTL;
 * - send: each carried item kind is accepted, gets a provider id and reaches the
 *   emulator once; an item kind the channel does not carry is refused (`unsupported_item`);
 * - status: a delivery the far end reports arrives as a `delivered` status event
 *   (through the signed webhook or the provider connection);
 * - failures map to stable reasons: a dead address → `unregistered` or `not_capable`,
 *   a provider outage → a retryable error (`unavailable` / `timeout`);
 * - health follows the provider: ok while up, not ok while down;
 * - no plaintext: nothing the emulator received contains the plaintext marker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelError, type Channel, type OutboundItem, type Recipient, type StatusEvent } from '../../src/channels/channel.js';

export const PLAINTEXT_MARKER = 'PLAINTEXT-MARKER-7d1c0e';

export interface ContractHarness {
  readonly channel: Channel;
  /** A recipient the emulator can reach. */
  readonly reachable: Recipient;
  /** A recipient whose address is dead or incapable (unregistered token, no RCS …). */
  readonly dead: Recipient;
  /** One valid item per kind the channel carries. */
  readonly items: readonly OutboundItem[];
  /** How many messages the emulator accepted for this recipient so far. */
  acceptedCount(recipient: Recipient): number;
  /** Makes the far end report the message delivered (webhook, deliver_sm …). */
  reportDelivered(providerMessageId: string): Promise<void>;
  /** Makes the provider fail every request until `restore` (503, dropped connection …). */
  breakProvider(): Promise<void>;
  restoreProvider(): Promise<void>;
  /** Every byte the emulator received. */
  receivedBytes(): Buffer;
  close(): Promise<void>;
}

export function describeChannelContract(label: string, start: () => Promise<ContractHarness>): void {
  describe(`channel contract: ${label}`, () => {
    let h: ContractHarness;
    const events: StatusEvent[] = [];
    let serial = 0;
    const envelope = (recipient: Recipient, item: OutboundItem) => ({
      deliveryId: `delivery-${label}-${++serial}`,
      messageId: `message-${serial}`,
      recipient,
      item,
    });

    beforeAll(async () => {
      h = await start();
      h.channel.onStatus((e) => events.push(e));
    });
    afterAll(async () => {
      await h?.channel.close();
      await h?.close();
    });

    it('reports a reachable recipient as reachable, with a positive TTL', async () => {
      const caps = await h.channel.capabilities(h.reachable);
      expect(caps.reachable).toBe(true);
      expect(caps.ttlMs).toBeGreaterThan(0);
    });

    it('accepts every item kind it carries, once each, with a provider id', async () => {
      expect(h.items.length).toBeGreaterThan(0);
      for (const item of h.items) {
        expect(h.channel.carries).toContain(item.kind);
        const before = h.acceptedCount(h.reachable);
        const result = await h.channel.send(envelope(h.reachable, item));
        expect(result.providerMessageId).toMatch(/\S/);
        expect(h.acceptedCount(h.reachable)).toBe(before + 1);
      }
    });

    it('refuses an item kind it does not carry', async () => {
      const all: OutboundItem[] = [
        { kind: 'wake', collapseId: 'c1' },
        { kind: 'ciphertext', bytes: new Uint8Array([1, 2, 3]), contentType: 'message/mls' },
        { kind: 'link', text: 'Example Bank: you have a secure message https://x.test/r/abc', url: 'https://x.test/r/abc', brand: 'Example Bank' },
      ];
      for (const item of all.filter((i) => !h.channel.carries.includes(i.kind))) {
        await expect(h.channel.send(envelope(h.reachable, item))).rejects.toMatchObject({ reason: 'unsupported_item' });
      }
    });

    it('turns the far end’s delivery report into a delivered status event', async () => {
      const { providerMessageId } = await h.channel.send(envelope(h.reachable, h.items[0]!));
      await h.reportDelivered(providerMessageId);
      await expect.poll(() => events.some((e) => e.providerMessageId === providerMessageId && e.status === 'delivered'), { timeout: 5000 }).toBe(true);
      const event = events.find((e) => e.providerMessageId === providerMessageId && e.status === 'delivered')!;
      expect(event.channel).toBe(h.channel.name);
    });

    it('maps a dead address to unregistered or not_capable', async () => {
      const error = await h.channel.send(envelope(h.dead, h.items[0]!)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ChannelError);
      expect(['unregistered', 'not_capable']).toContain((error as ChannelError).reason);
      expect((error as ChannelError).retryable).toBe(false);
    });

    it('maps a provider outage to a retryable error and follows it in health', async () => {
      expect((await h.channel.health()).ok).toBe(true);
      await h.breakProvider();
      try {
        const error = await h.channel.send(envelope(h.reachable, h.items[0]!)).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ChannelError);
        expect((error as ChannelError).retryable).toBe(true);
        expect((await h.channel.health()).ok).toBe(false);
      } finally {
        await h.restoreProvider();
      }
      await expect.poll(async () => (await h.channel.health()).ok, { timeout: 5000 }).toBe(true);
    });

    it('never hands the provider the plaintext marker', () => {
      expect(h.receivedBytes().length).toBeGreaterThan(0);
      expect(h.receivedBytes().includes(Buffer.from(PLAINTEXT_MARKER))).toBe(false);
    });
  });
}

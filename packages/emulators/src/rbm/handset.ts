/**
 * The RBM emulator's far end: what each phone can do (no RCS, RCS, RCS with a Parley
 * client) and the agent messages sent to it, from accepted (pending) to delivered, read,
 * revoked by the agent or expired by the platform. A simulated Parley RCS client reads
 * the files delivered to its phone (`ciphertextFiles`) and subscribes to deliveries.
 */
import type { RbmCiphertextFile, RbmHandsetMessage, RbmPhoneCapability } from './types.js';

type DeliveredListener = (message: RbmHandsetMessage) => void;

/**
 * Phones and the messages on their way to them.
 *
 * @example
 * const handsets = new RbmHandsets({ '+15550100': 'parley' });
 * handsets.accept(message);
 * handsets.deliver(message.messageId); // listeners see it
 */
export class RbmHandsets {
  private readonly phones = new Map<string, RbmPhoneCapability>();
  private readonly messages = new Map<string, RbmHandsetMessage>();
  private readonly acceptedPerPhone = new Map<string, number>();
  private readonly listeners = new Set<DeliveredListener>();

  constructor(phones: Readonly<Record<string, RbmPhoneCapability>> = {}) {
    for (const [phone, capability] of Object.entries(phones)) this.phones.set(phone, capability);
  }

  setPhone(phone: string, capability: RbmPhoneCapability): void {
    this.phones.set(phone, capability);
  }

  /** What the phone can do; unknown phones have no RCS. */
  capability(phone: string): RbmPhoneCapability {
    return this.phones.get(phone) ?? 'none';
  }

  has(messageId: string): boolean {
    return this.messages.has(messageId);
  }

  /** A message the API accepted (pending). */
  accept(message: RbmHandsetMessage): void {
    this.messages.set(message.messageId, message);
    this.acceptedPerPhone.set(message.phone, (this.acceptedPerPhone.get(message.phone) ?? 0) + 1);
  }

  message(messageId: string): RbmHandsetMessage | undefined {
    return this.messages.get(messageId);
  }

  /** The message; throws for an id never accepted. */
  require(messageId: string): RbmHandsetMessage {
    const m = this.messages.get(messageId);
    if (!m) throw new Error('unknown message');
    return m;
  }

  acceptedCount(phone: string): number {
    return this.acceptedPerPhone.get(phone) ?? 0;
  }

  /** Messages delivered to the phone, oldest first. */
  delivered(phone: string): readonly RbmHandsetMessage[] {
    return [...this.messages.values()].filter((m) => m.phone === phone && (m.state === 'delivered' || m.state === 'read'));
  }

  /** What a Parley RCS client on this phone would download: the files of delivered messages. */
  ciphertextFiles(phone: string): readonly RbmCiphertextFile[] {
    return this.delivered(phone).flatMap((m) => (m.file ? [{ messageId: m.messageId, contentType: m.file.contentType, bytes: m.file.bytes }] : []));
  }

  onDelivered(listener: DeliveredListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Puts a pending message on the handset and tells the listeners. */
  deliver(messageId: string): RbmHandsetMessage {
    const m = this.require(messageId);
    if (m.state !== 'pending') throw new Error(`message is ${m.state}`);
    m.state = 'delivered';
    for (const l of this.listeners) {
      try {
        l(m);
      } catch {
        // a listener's failure does not stop delivery
      }
    }
    return m;
  }

  /** The user read a delivered message. */
  read(messageId: string): RbmHandsetMessage {
    const m = this.require(messageId);
    if (m.state !== 'delivered' && m.state !== 'read') throw new Error(`message is ${m.state}`);
    m.state = 'read';
    return m;
  }

  /** The platform expired a pending message (its TTL ran out). */
  expire(messageId: string): RbmHandsetMessage {
    const m = this.require(messageId);
    if (m.state !== 'pending') throw new Error(`message is ${m.state}`);
    m.state = 'expired';
    return m;
  }

  /** The agent revoked a message: true while it was pending on that phone for that agent. */
  revoke(phone: string, agentId: string, messageId: string): boolean {
    const m = this.messages.get(messageId);
    if (!m || m.phone !== phone || m.agentId !== agentId || m.state !== 'pending') return false;
    m.state = 'revoked';
    return true;
  }
}

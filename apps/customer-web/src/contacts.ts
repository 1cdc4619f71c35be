/**
 * Who a message is from. The MLS layer authenticated the sending device against the
 * verified key-transparency log (a message from a device the log does not show as
 * approved is never delivered to the app). The business's display name is the `name` the
 * bank put in that identity's signed enrollment token, as the directory records it; the
 * customer's own check of the bank's keys (safety number or QR) is the verification state.
 */
import type { Device, VerificationState } from '@parley/client';

/**
 * What the inbox shows about a sender.
 *
 * @example
 * const bank = await contacts.describe(message.sender.identityId)
 */
export interface Contact {
  readonly identityId: string;
  /** `sender`, `agent`, `bot` or `customer`, as the verified key log records it. */
  readonly kind: string;
  /** The business name (`Example Bank`), or the identity id when the directory has no name. */
  readonly name: string;
  readonly verification: VerificationState;
}

/**
 * Looks up senders once (the names do not change), and their verification state each time.
 *
 * @example
 * const contacts = new Contacts(device)
 */
export class Contacts {
  private readonly identities = new Map<string, Promise<{ kind: string; name: string }>>();

  constructor(private readonly device: Device) {}

  /**
   * The contact behind an identity id.
   *
   * @example
   * (await contacts.describe(id)).name // 'Example Bank'
   */
  async describe(identityId: string): Promise<Contact> {
    let identity = this.identities.get(identityId);
    if (!identity) {
      // The kind comes from the verified key log (the bank's attested entries); the name from the directory.
      identity = Promise.all([this.device.keys.devicesOf(identityId, false), this.device.api.identityDevices(identityId)]).then(([logged, r]) => ({
        kind: logged[0]?.kind ?? 'unknown',
        name: r.displayName ?? identityId,
      }));
      identity.catch(() => this.identities.delete(identityId));
      this.identities.set(identityId, identity);
    }
    const [{ kind, name }, verification] = await Promise.all([identity, this.device.keys.verificationState(identityId)]);
    return { identityId, kind, name, verification };
  }

  /**
   * The identities this device talks to (every member of its conversations but itself), businesses first.
   *
   * @example
   * for (const c of await contacts.list()) render(c)
   */
  async list(): Promise<Contact[]> {
    const ids = new Set<string>();
    for (const c of this.device.listConversations()) {
      if (!c.active) continue;
      for (const m of c.members) if (m.identityId !== this.device.identityId) ids.add(m.identityId);
    }
    const all = await Promise.all([...ids].map((id) => this.describe(id)));
    return all.sort((a, b) => Number(b.kind === 'sender') - Number(a.kind === 'sender') || a.name.localeCompare(b.name));
  }
}

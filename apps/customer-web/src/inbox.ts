/**
 * The inbox: every message this device decrypted, newest first, each with who sent it
 * ("Encrypted · Verified: Example Bank"), its class (a one-time code is shown big, with a
 * copy button), its files (attachments.ts) and its time. A message shown on a visible page
 * gets a signed `read` receipt. Messages that could not be decrypted appear as such, never
 * silently dropped.
 */
import { CLASSIC_SUITE, isPostQuantum, type Device, type DeviceEvent, type ReceivedMessage, type UndecryptableReason } from '@parley/client';
import { renderAttachments } from './attachments.js';
import type { Contact, Contacts } from './contacts.js';
import { addBanner, byId, copyButton, el, errorCode, formatTime } from './view.js';

const CLASS_LABELS: Readonly<Record<string, string>> = {
  otp: 'One-time code',
  alert: 'Alert',
  support: 'Support',
  statement: 'Statement',
  chat: 'Message',
};

const UNDECRYPTABLE_TEXT: Readonly<Record<UndecryptableReason, string>> = {
  'unknown-conversation': 'it belongs to a conversation this device is not in',
  'missed-epoch': 'this device missed the keys it was encrypted with',
  'decrypt-failed': 'it did not decrypt',
  'invalid-content': 'its content is malformed',
  'invalid-welcome': 'the invitation to the conversation was invalid',
  'rejected-commit': 'a change to the conversation was rejected',
};

/** Messages read in this browser (ids only), so a reload does not sign the same receipt again. */
const READ_KEY = 'parley-customer-web/read';
/** Conversations whose history came from a backup (ids only): shown before the bank re-adds this device. */
const RESTORED_KEY = 'parley-customer-web/restored-conversations';

/**
 * The one-time code inside an OTP text: the first run of 4 to 8 digits.
 *
 * @example
 * otpCode('Example Bank: your code is 482913.') // '482913'
 */
export function otpCode(text: string): string | undefined {
  return /(?<!\d)(\d{4,8})(?!\d)/.exec(text)?.[1];
}

/** Puts a message card into `#inbox`, newest first: before the first card received earlier. */
function place(item: HTMLElement, receivedAt: string): void {
  const inbox = byId('inbox');
  const later = [...inbox.children].find((c) => ((c as HTMLElement).dataset['at'] ?? '') < receivedAt);
  if (later) later.before(item);
  else inbox.append(item);
}

/** A message class as a safe CSS token (`data-class`). */
function classToken(messageClass: string): string {
  return /^[a-z0-9-]{1,32}$/.test(messageClass) ? messageClass : 'other';
}

/** Type guard for a stored history record of a received message (`Device.history`). */
function isReceived(record: unknown): record is ReceivedMessage & { direction: 'in' } {
  if (typeof record !== 'object' || record === null) return false;
  const r = record as Record<string, unknown>;
  return r['direction'] === 'in' && typeof r['messageId'] === 'string' && typeof r['text'] === 'string' && typeof r['class'] === 'string' && typeof r['sender'] === 'object';
}

/**
 * Who sent it, in the words the page shows: "Encrypted · Verified: <brand>" for a message from a
 * business sender (kind `sender` in the key log) whose signed audit commitment matched; a
 * warning when it did not match; the plain name otherwise.
 *
 * @example
 * senderLine(bank, message) // { text: 'Encrypted · Verified: Example Bank', kind: 'verified' }
 */
export function senderLine(contact: Contact, message: Pick<ReceivedMessage, 'audit'>): { text: string; kind: 'verified' | 'person' | 'warning' } {
  if (message.audit && !message.audit.verified) return { text: `Encrypted · Does not match ${contact.name}'s signed record`, kind: 'warning' };
  if (contact.kind === 'sender' && message.audit?.verified) return { text: `Encrypted · Verified: ${contact.name}`, kind: 'verified' };
  return { text: `Encrypted · ${contact.name} (${contact.kind})`, kind: 'person' };
}

/**
 * The inbox list in `#inbox`.
 *
 * @example
 * await new Inbox(device, new Contacts(device)).start()
 */
export class Inbox {
  private readonly shown = new Set<string>();
  private readonly read = new Set<string>(JSON.parse(localStorage.getItem(READ_KEY) ?? '[]') as string[]);
  private readonly restored = new Set<string>(JSON.parse(localStorage.getItem(RESTORED_KEY) ?? '[]') as string[]);
  private readonly unread: string[] = [];

  constructor(
    private readonly device: Device,
    private readonly contacts: Contacts,
  ) {
    document.addEventListener('visibilitychange', () => this.sendReadReceipts());
  }

  /**
   * Shows the stored history of every conversation (after a reload), then follows new events.
   *
   * @example
   * await new Inbox(device, contacts).start()
   */
  async start(): Promise<void> {
    this.device.subscribe((event) => void this.onEvent(event));
    await this.showHistory([...this.device.listConversations().map((c) => c.conversationId), ...this.restored]);
  }

  /**
   * Shows the history restored from a backup for these conversations, and keeps showing it after
   * a reload (the device is in them again once the bank's next message re-adds it).
   *
   * @example
   * await inbox.addRestored((await device.backups.restore({ recoveryKey })).conversationIds)
   */
  async addRestored(conversationIds: readonly string[]): Promise<void> {
    for (const id of conversationIds) this.restored.add(id);
    localStorage.setItem(RESTORED_KEY, JSON.stringify([...this.restored]));
    await this.showHistory(conversationIds);
  }

  /** Shows the stored messages of these conversations, each in its place by time (already shown ones once). */
  private async showHistory(conversationIds: readonly string[]): Promise<void> {
    const stored: ReceivedMessage[] = [];
    for (const id of new Set(conversationIds)) {
      for (const record of await this.device.history(id)) if (isReceived(record)) stored.push(record);
    }
    stored.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
    for (const m of stored) await this.showMessage(m);
    this.updateEmpty();
  }

  private async onEvent(event: DeviceEvent): Promise<void> {
    if (event.type === 'message') await this.showMessage(event);
    else if (event.type === 'conversation-joined') await this.showHistory([event.conversationId]);
    else if (event.type === 'undecryptable') this.showUndecryptable(event.envelopeId, event.reason);
    else if (event.type === 'commitment-mismatch') addBanner(`mismatch-${event.messageId}`, "A message did not match the bank's signed record. Do not act on it; contact your bank.", 'error');
    this.updateEmpty();
  }

  private async showMessage(message: ReceivedMessage): Promise<void> {
    if (this.shown.has(message.messageId)) return;
    this.shown.add(message.messageId);
    const contact = await this.contacts.describe(message.sender.identityId).catch(
      (): Contact => ({ identityId: message.sender.identityId, kind: 'unknown', name: message.sender.identityId, verification: 'unverified' }),
    );
    const who = senderLine(contact, message);
    const token = classToken(message.class);
    const header = el('header', {}, [
      el('span', { class: `badge ${who.kind}`, text: who.text, attrs: { 'data-role': 'sender' } }),
      el('span', { class: 'class-label', text: CLASS_LABELS[message.class] ?? message.class }),
      // Which MLS suite protected it (docs/post-quantum.md): hybrid post-quantum X-Wing, or classic.
      el('span', {
        class: 'suite-label',
        text: message.suite !== undefined && isPostQuantum(message.suite) ? 'Post-quantum' : 'Classic encryption',
        attrs: { 'data-role': 'suite', title: message.suite ?? CLASSIC_SUITE },
      }),
      el('time', { text: formatTime(message.sentAt), attrs: { datetime: message.sentAt } }),
    ]);
    const body: Node[] = [];
    const code = message.class === 'otp' ? otpCode(message.text) : undefined;
    if (code) body.push(el('div', { class: 'otp' }, [el('span', { class: 'otp-code', text: code, attrs: { 'data-role': 'otp-code' } }), copyButton(code, 'Copy code')]));
    if (message.text !== '' || !message.attachments?.length) body.push(el('p', { class: 'text', text: message.text }));
    // Files: listed at once; images decrypted and shown inline, other files on request (attachments.ts).
    if (message.attachments?.length) body.push(renderAttachments(this.device, message.attachments));
    if (contact.verification === 'changed') body.push(el('p', { class: 'warn-line', text: `${contact.name}'s keys changed since you verified them: check the safety number again.` }));
    // The signed commitment says this class is under escrow: say so plainly (no silent backdoor).
    if (message.escrow) {
      body.push(
        el('p', {
          class: 'warn-line',
          text: `${contact.name} keeps a sealed copy of this message that its officers can open together for legal reasons; every opening is recorded in the public audit log.`,
          attrs: { 'data-role': 'escrow-notice' },
        }),
      );
    }
    const footer = el('footer', { attrs: { 'data-role': 'receipt' } });
    const item = el('article', { class: 'message', attrs: { 'data-class': token, 'data-message-id': message.messageId, 'data-at': message.receivedAt } }, [header, ...body, footer]);
    place(item, message.receivedAt);
    if (message.audit?.verified) {
      if (this.read.has(message.messageId)) footer.textContent = 'Read receipt sent';
      else this.unread.push(message.messageId);
    }
    this.sendReadReceipts();
  }

  private showUndecryptable(envelopeId: string, reason: UndecryptableReason): void {
    const item = el('article', { class: 'message undecryptable', attrs: { 'data-class': 'undecryptable', 'data-envelope-id': envelopeId, 'data-at': new Date().toISOString() } }, [
      el('header', {}, [el('span', { class: 'badge warning', text: 'Could not decrypt' }), el('time', { text: formatTime(new Date().toISOString()) })]),
      el('p', { class: 'text', text: `A message arrived that this device cannot read: ${UNDECRYPTABLE_TEXT[reason]}. Ask the sender to send it again.` }),
    ]);
    byId('inbox').prepend(item);
  }

  /** Signs `read` receipts for the messages on screen while the page is visible. */
  private sendReadReceipts(): void {
    if (document.visibilityState !== 'visible') return;
    for (const messageId of this.unread.splice(0)) {
      const footer = byId('inbox').querySelector(`[data-message-id="${CSS.escape(messageId)}"] [data-role="receipt"]`);
      this.device.markRead(messageId).then(
        () => {
          this.read.add(messageId);
          localStorage.setItem(READ_KEY, JSON.stringify([...this.read]));
          if (footer) footer.textContent = 'Read receipt sent';
        },
        (error: unknown) => {
          // A message restored from a backup was received (and read) on an earlier device: this one holds no opening to sign for.
          if (footer) footer.textContent = errorCode(error) === 'not_an_audited_message' ? 'Restored from your backup' : `Read receipt not sent (${errorCode(error)})`;
        },
      );
    }
  }

  private updateEmpty(): void {
    byId('inbox-empty').hidden = byId('inbox').childElementCount > 0;
  }
}

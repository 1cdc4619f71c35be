/**
 * Writing to support: a conversation the bank's staff opened with the customer (an agent or a
 * bot is in it; the bank's notification conversation, where only its sending service writes, is
 * not offered). A message, a photo, or both: the photo is encrypted in the browser while it is
 * read, piece by piece from the picked file (never whole in memory), uploaded with a progress
 * bar, then sent in the conversation as class `support`.
 */
import type { AttachmentRef, Device } from '@parley/client';
import type { Contacts } from './contacts.js';
import { byId, el, errorCode } from './view.js';

/** The reference's media type pattern (RFC 6838 `type/subtype`, lower case). */
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/;
/** The reference's longest name. */
const MAX_NAME = 255;

/**
 * The media type an upload states for a picked file: its type without parameters, or
 * `application/octet-stream` when the browser does not know it.
 *
 * @example
 * mediaTypeOf({ type: 'image/PNG' }) // 'image/png'
 */
export function mediaTypeOf(file: Pick<File, 'type'>): string {
  const type = (file.type.split(';')[0] ?? '').trim().toLowerCase();
  return MEDIA_TYPE.test(type) ? type : 'application/octet-stream';
}

/** A picked file's name as the reference may carry it (1–255 characters), or none. */
function nameOf(file: Pick<File, 'name'>): string | undefined {
  let name = '';
  for (const ch of file.name) {
    if (name.length + ch.length > MAX_NAME) break;
    name += ch;
  }
  return name.length > 0 ? name : undefined;
}

type Outcome = 'uploading' | 'sending' | 'sent' | 'failed';

/**
 * The composer in `#reply-section`.
 *
 * @example
 * const composer = new Composer(device, contacts); composer.wire(); await composer.refresh()
 */
export class Composer {
  private sending = false;
  private refreshing: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly device: Device,
    private readonly contacts: Contacts,
  ) {}

  /**
   * Wires the form (once).
   *
   * @example
   * composer.wire()
   */
  wire(): void {
    byId('reply-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
  }

  /**
   * Lists the conversations the customer can write in (after a conversation was joined or changed).
   *
   * @example
   * device.subscribe((e) => { if (e.type === 'conversation-joined') void composer.refresh() })
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = this.list()
      .catch(() => undefined)
      .finally(() => {
        this.refreshing = undefined;
        if (this.again) {
          this.again = false;
          void this.refresh();
        }
      });
    return this.refreshing;
  }

  private async list(): Promise<void> {
    const options: HTMLOptionElement[] = [];
    for (const c of this.device.listConversations()) {
      if (!c.active) continue;
      const others = [...new Set(c.members.map((m) => m.identityId).filter((id) => id !== this.device.identityId))];
      if (others.length === 0) continue;
      const contacts = await Promise.all(others.map((id) => this.contacts.describe(id).catch(() => ({ kind: 'unknown', name: id }))));
      // Only the bank's sending service in it: notifications, not a thread to write in.
      if (contacts.every((contact) => contact.kind === 'sender')) continue;
      const label = `Support · ${contacts.map((contact) => contact.name).join(', ')} (…${c.conversationId.slice(-6)})`;
      options.push(el('option', { text: label, attrs: { value: c.conversationId } }));
    }
    const select = byId('reply-conversation') as HTMLSelectElement;
    const selected = select.value;
    select.replaceChildren(...options);
    if (options.some((o) => o.value === selected)) select.value = selected;
    // The newest conversation first by default: the device lists them in the order it joined them.
    else if (options.length > 0) select.value = options[options.length - 1]!.value;
    byId('reply-section').hidden = options.length === 0;
  }

  private async send(): Promise<void> {
    if (this.sending) return;
    const select = byId('reply-conversation') as HTMLSelectElement;
    const text = byId('reply-text') as HTMLTextAreaElement;
    const photo = byId('reply-photo') as HTMLInputElement;
    const progress = byId('reply-progress') as HTMLProgressElement;
    const conversationId = select.value;
    const file = photo.files?.[0];
    const caption = text.value.trim();
    if (!conversationId) return;
    if (!file && caption === '') {
      this.result('Write a message or attach a photo.', 'failed');
      return;
    }
    this.sending = true;
    this.setBusy(true);
    try {
      const attachments: AttachmentRef[] = [];
      if (file) {
        progress.hidden = false;
        progress.value = 0;
        this.result(`Encrypting and uploading ${file.name}… 0%`, 'uploading');
        const name = nameOf(file);
        const ref = await this.device.attachments.upload(
          { data: file, size: file.size, mime: mediaTypeOf(file), ...(name !== undefined ? { name } : {}) },
          {
            onProgress: (sent, total) => {
              const fraction = total > 0 ? sent / total : 1;
              progress.value = fraction;
              this.result(`Encrypting and uploading ${file.name}… ${Math.floor(fraction * 100)}%`, 'uploading');
            },
          },
        );
        attachments.push(ref);
      }
      this.result('Sending…', 'sending');
      await this.device.send(conversationId, caption, { class: 'support', ...(attachments.length > 0 ? { attachments } : {}) });
      this.result(file ? `Sent, with ${file.name}.` : 'Sent.', 'sent');
      text.value = '';
      photo.value = '';
    } catch (error) {
      this.result(`Not sent (${errorCode(error)}). Try again.`, 'failed');
    } finally {
      progress.hidden = true;
      this.sending = false;
      this.setBusy(false);
    }
  }

  private setBusy(busy: boolean): void {
    for (const control of byId('reply-form').querySelectorAll<HTMLInputElement | HTMLButtonElement | HTMLSelectElement | HTMLTextAreaElement>('input, button, select, textarea')) {
      control.disabled = busy;
    }
  }

  private result(text: string, outcome: Outcome): void {
    const result = byId('reply-result');
    result.textContent = text;
    result.dataset['outcome'] = outcome;
  }
}

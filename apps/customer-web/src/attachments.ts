/**
 * Files in received messages (docs/attachments.md). Each attachment is listed with its name, type
 * and size. A PNG, JPEG or WebP image is decrypted at once and shown inline; any other file is
 * decrypted when the customer asks for it and saved under its name. Decryption streams: the SDK
 * yields verified plaintext pieces, which are gathered into Blobs a few MiB at a time (a browser
 * may keep Blob data on disk), never into one large array. A file that does not check out
 * (changed, cut short, not the hash the sender signed) shows its error code and nothing of its
 * content: the object URL is made only once the whole file verified.
 */
import type { AttachmentRef, Device } from '@parley/client';
import { el, errorCode } from './view.js';

/** Shown inline (`<img>`). Not SVG: an image that is a document. */
const INLINE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/webp']);
/** Images up to this size are decrypted as soon as their message is shown; larger ones on request. */
const INLINE_AUTO_MAX_BYTES = 20 * 1024 * 1024;
/** Plaintext held in memory before the pieces are folded into a Blob. */
const FOLD_BYTES = 4 * 1024 * 1024;
/**
 * Types a decrypted file keeps. A blob: URL opened in a tab runs in the app's origin, so anything
 * else (HTML, SVG, XML…) is saved as `application/octet-stream`.
 */
const SAFE_TYPES: ReadonlySet<string> = new Set([...INLINE_TYPES, 'application/pdf']);

/** What an error code means to the customer (SDK `AttachmentError` and blob API codes). */
const ERROR_TEXT: Readonly<Record<string, string>> = {
  attachment_tampered: 'the file was changed after it was sent',
  attachment_truncated: 'the file arrived incomplete',
  attachment_hash_mismatch: 'the file is not the one the sender sent',
  attachment_size_mismatch: 'the file is not the size the sender stated',
  no_blob: 'the file is no longer available to this browser',
  blob_incomplete: 'the sender has not finished uploading the file',
};

/**
 * A byte count for people.
 *
 * @example
 * formatBytes(300_000) // '293 KB'
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * The name a file is shown and saved under: the sender's name without control characters or
 * path separators (it is never a path), else one made from the blob id.
 *
 * @example
 * fileName({ name: '../statement.pdf', blobId: 'AAAAAAAAAAAAAAAAAAAAAA' }) // '.._statement.pdf'
 */
export function fileName(ref: Pick<AttachmentRef, 'name' | 'blobId'>): string {
  const name = (ref.name ?? '').replace(/[\u0000-\u001f\u007f/\\]/g, '_').trim();
  return name || `attachment-${ref.blobId.slice(0, 8)}`;
}

/**
 * Decrypts an attachment into a Blob, at most {@link FOLD_BYTES} of plaintext in memory at a time.
 * Throws the SDK's error (`AttachmentError` with its code) when the file does not verify; nothing
 * decrypted before the failure is returned.
 *
 * @example
 * const blob = await decryptToBlob(device, ref, (done) => bar.value = done / ref.size)
 */
export async function decryptToBlob(device: Device, ref: AttachmentRef, onProgress?: (doneBytes: number) => void): Promise<Blob> {
  const parts: Blob[] = [];
  // The SDK's pieces are views of ordinary ArrayBuffers (never shared memory): valid Blob parts.
  let pending: Uint8Array<ArrayBuffer>[] = [];
  let pendingBytes = 0;
  let done = 0;
  for await (const piece of device.attachments.download(ref)) {
    pending.push(piece as Uint8Array<ArrayBuffer>);
    pendingBytes += piece.length;
    done += piece.length;
    if (pendingBytes >= FOLD_BYTES) {
      parts.push(new Blob(pending));
      pending = [];
      pendingBytes = 0;
    }
    onProgress?.(done);
  }
  return new Blob([...parts, ...pending], { type: SAFE_TYPES.has(ref.mime) ? ref.mime : 'application/octet-stream' });
}

/**
 * One attachment's row: what it is, and the image or the saved file once it decrypted. Holds at
 * most one object URL, revoked when a new one replaces it.
 */
class AttachmentRow {
  readonly element: HTMLElement;
  private readonly body = el('div', { class: 'attachment-body' });
  private readonly actions = el('div', { class: 'attachment-actions' });
  private readonly status = el('p', { class: 'attachment-status', attrs: { 'data-role': 'attachment-status', 'aria-live': 'polite' } });
  private url: string | undefined;
  private busy = false;

  constructor(
    private readonly device: Device,
    private readonly ref: AttachmentRef,
  ) {
    const name = fileName(ref);
    this.element = el('div', { class: 'attachment', attrs: { 'data-role': 'attachment', 'data-blob-id': ref.blobId, 'data-mime': ref.mime, 'data-state': 'idle' } }, [
      el('div', { class: 'attachment-meta' }, [
        el('span', { class: 'attachment-name', text: name, attrs: { 'data-role': 'attachment-name' } }),
        el('span', { class: 'attachment-info', text: `${ref.mime} · ${formatBytes(ref.size)}`, attrs: { 'data-role': 'attachment-info' } }),
      ]),
      this.body,
      this.actions,
      this.status,
    ]);
    if (this.inline && ref.size <= INLINE_AUTO_MAX_BYTES) void this.open();
    else this.showButton(this.inline ? 'Show image' : 'Download');
  }

  private get inline(): boolean {
    return INLINE_TYPES.has(this.ref.mime);
  }

  private showButton(label: string): void {
    const button = el('button', { class: 'link', text: label, attrs: { type: 'button', 'data-role': 'attachment-download' } });
    button.addEventListener('click', () => void this.open());
    this.actions.replaceChildren(button);
  }

  /** Decrypts the file; shows the image, or offers the file under its name (and starts saving it when asked to). */
  private async open(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const requested = this.actions.childElementCount > 0;
    this.setState('loading', `Decrypting… 0%`);
    this.actions.replaceChildren();
    try {
      const blob = await decryptToBlob(this.device, this.ref, (done) => {
        this.status.textContent = `Decrypting… ${this.ref.size > 0 ? Math.floor((done / this.ref.size) * 100) : 100}%`;
      });
      const url = this.replaceUrl(blob);
      const name = fileName(this.ref);
      const link = el('a', { text: this.inline ? 'Download' : `Save ${name}`, attrs: { href: url, download: name, 'data-role': 'attachment-link' } });
      if (this.inline) {
        this.body.replaceChildren(el('img', { class: 'attachment-image', attrs: { src: url, alt: name, 'data-role': 'attachment-image' } }));
      }
      this.actions.replaceChildren(link);
      this.setState('ready', '');
      // The customer asked for the file: save it now (the link stays, to save it again).
      if (requested && !this.inline) link.click();
    } catch (error) {
      const code = errorCode(error);
      this.replaceUrl(undefined);
      this.body.replaceChildren();
      this.setState('error', `Could not open ${fileName(this.ref)} (${code}): ${ERROR_TEXT[code] ?? 'it could not be downloaded'}. Nothing of it is shown.`);
      this.status.dataset['role'] = 'attachment-error';
      this.status.dataset['code'] = code;
      this.showButton('Try again');
    } finally {
      this.busy = false;
    }
  }

  private setState(state: 'loading' | 'ready' | 'error', text: string): void {
    this.element.dataset['state'] = state;
    this.status.textContent = text;
    this.status.dataset['role'] = 'attachment-status';
    delete this.status.dataset['code'];
  }

  private replaceUrl(blob: Blob): string;
  private replaceUrl(blob: undefined): undefined;
  private replaceUrl(blob: Blob | undefined): string | undefined {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = blob ? URL.createObjectURL(blob) : undefined;
    return this.url;
  }
}

/**
 * The attachments of a message, as a list to put in its card.
 *
 * @example
 * if (message.attachments?.length) card.append(renderAttachments(device, message.attachments))
 */
export function renderAttachments(device: Device, refs: readonly AttachmentRef[]): HTMLElement {
  return el(
    'div',
    { class: 'attachments', attrs: { 'data-role': 'attachments' } },
    refs.map((ref) => new AttachmentRow(device, ref).element),
  );
}

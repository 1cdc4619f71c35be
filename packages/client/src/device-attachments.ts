/**
 * `device.attachments`: encrypted files (docs/attachments.md). Upload one before sending —
 * the file is encrypted on this device under a fresh key while it is read, and only
 * ciphertext reaches the server — then pass the reference to `send(…, { attachments })`.
 * A received message's `attachments` are fetched and decrypted with `download`, every chunk
 * and the whole ciphertext's hash checked on the way (`AttachmentError` on tampering).
 */
import type { AttachmentRef, EncryptedBlobRef } from '@parley/core';
import type { StreamCrypto } from '@parley/core/media';
import type { ApiClient } from './api-client.js';
import {
  downloadAttachment,
  downloadAttachmentBytes,
  uploadAttachment,
  type AttachmentInput,
  type TransferOptions,
  type UploadAttachmentOptions,
} from './attachments.js';

/** Small files: what `downloadBytes` holds in memory at most unless told otherwise (16 MiB). */
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * A device's encrypted attachments.
 *
 * @example
 * const ref = await phone.attachments.upload({ data: photo, size: photo.length, mime: 'image/jpeg', name: 'receipt.jpg' })
 * await phone.send(conversationId, 'the receipt', { class: 'support', attachments: [ref] })
 */
export class DeviceAttachments {
  /** @internal */
  constructor(
    private readonly api: ApiClient,
    private readonly crypto: StreamCrypto | undefined,
  ) {}

  /**
   * Encrypts and uploads a file (resumable, in segments of at most 4 MiB); the reference goes in a message.
   *
   * @example
   * const ref = await agent.attachments.upload({ data: pdf, size: pdf.length, mime: 'application/pdf', name: 'contract.pdf' })
   */
  upload(input: AttachmentInput, options: UploadAttachmentOptions = {}): Promise<AttachmentRef> {
    return uploadAttachment(this.api, input, this.withCrypto(options));
  }

  /**
   * The decrypted file, piece by piece, as it arrives (resumed by range after a dropped
   * connection). A piece is released only once its chunk authenticated; the last one only once
   * the whole ciphertext's SHA-256 matched the reference.
   *
   * @example
   * for await (const piece of phone.attachments.download(ref)) await file.write(piece)
   */
  download(ref: EncryptedBlobRef, options: TransferOptions = {}): AsyncIterable<Uint8Array> {
    return downloadAttachment(this.api, ref, this.withCrypto(options));
  }

  /**
   * A small file, whole (refused above `maxBytes`, default 16 MiB: stream larger ones with `download`).
   *
   * @example
   * const thumbnail = ref.thumbnail ? await phone.attachments.downloadBytes(ref.thumbnail) : undefined
   */
  downloadBytes(ref: EncryptedBlobRef, maxBytes = DEFAULT_MAX_BYTES, options: TransferOptions = {}): Promise<Uint8Array> {
    return downloadAttachmentBytes(this.api, ref, maxBytes, this.withCrypto(options));
  }

  private withCrypto<T extends TransferOptions>(options: T): T {
    return options.crypto !== undefined || this.crypto === undefined ? options : { ...options, crypto: this.crypto };
  }
}

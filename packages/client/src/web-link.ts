/**
 * The web-link fallback as the sender runs it (`Sender.sendToWeb`): the text is sealed
 * here with a fresh AES-256-GCM key (core/src/web/web-message.js, the format the retrieval
 * page runs), only the ciphertext and the signed commitment go to Parley, and when the
 * policy allows a web link Parley answers with the link's URL and the SMS template. The
 * link `<url>#<key>` is composed here and handed to the host's `deliver` (its own SMS
 * provider): the key never reaches a Parley node. The outcome is reported back
 * (`POST /v1/web-messages/:id/handoff`) and the key bytes are zeroed.
 *
 * Audit: like an app business message, the device signs a hiding commitment (conversation
 * `web_<messageId>`, recipient the customer's identity) and persists it with its opening
 * and text BEFORE anything is sent, so `exportEvidence(messageId, { reveal: true })` works;
 * a repeat with the same message id (a crash before the SMS) reuses that commitment.
 *
 * Attachments (`options.attachments`, uploaded with `device.attachments.upload`): their
 * references, keys included, are sealed as a second part under the SAME link key (a fresh
 * IV and its own AAD: `sealWebMessageWithKey(…, WEB_ATTACHMENTS_AAD)`) and only that manifest and the blob ids go to Parley; the
 * commitment lists their ciphertext SHA-256s like an app message's. Thumbnails are not
 * sent by link (the page shows the file itself).
 */
import { MESSAGE_ID_PATTERN, fromBase64, randomBytes, toBase64, toBase64Url, type AttachmentRef, type DlpOutcome } from '@parley/core';
import { WEB_ATTACHMENTS_AAD, sealWebMessage, sealWebMessageWithKey } from '@parley/core/web-message';
import type { ApiClient } from './api-client.js';
import type { CommittedMessage } from './audit-sender.js';
import { sealForEscrow, type EscrowTarget } from './escrow-policy.js';
import { AuditError, InvalidArgumentError } from './errors.js';
import type { KeyStore } from './key-store.js';
import { RECORDS, getJson, putJson, type AuditedMessageV1 } from './records.js';
import { checkAttachments } from './send-message.js';

const MESSAGE_ID = new RegExp(MESSAGE_ID_PATTERN);

/**
 * The SMS `Sender.sendToWeb` asks its `deliver` function to send through the business's
 * own SMS provider. `url` is the whole link, key fragment included; `text` already carries it.
 *
 * @example
 * const deliver = async (sms: WebLinkSms): Promise<WebLinkHandoff> => ({ ok: true, provider: 'twilio', providerMessageId: (await twilio.messages.create({ to: sms.to, from, body: sms.text })).sid })
 */
export interface WebLinkSms {
  readonly to: string;
  readonly text: string;
  readonly url: string;
  readonly messageId: string;
}

/**
 * What `deliver` reports: the provider took the SMS (its name, `^[a-z0-9-]{1,32}$`, and its
 * message id), or it did not (`reason`, `^[a-z0-9_]{1,64}$`).
 *
 * @example
 * const failed: WebLinkHandoff = { ok: false, reason: 'not_capable' }
 */
export type WebLinkHandoff = { readonly ok: true; readonly provider: string; readonly providerMessageId?: string } | { readonly ok: false; readonly reason: string };

/**
 * Options of `Sender.sendToWeb`.
 *
 * @example
 * const options: SenderWebOptions = { class: 'alert', messageId: 'alert-2024-11-05-0001', deliver }
 */
export interface SenderWebOptions {
  /** Message class: its policy's `otherwise` decides (web link, invitation, block, consent). */
  readonly class: string;
  /** The message's id (`MESSAGE_ID_PATTERN`); the same id again before the hand-off issues a fresh link. Default: random. */
  readonly messageId?: string;
  /** Sign a commitment for the audit log (default true). */
  readonly audit?: boolean;
  /** Sends the SMS through the business's own provider; called only when a web link is due. A throw is reported as `deliver_failed` and rethrown. */
  readonly deliver: (sms: WebLinkSms) => Promise<WebLinkHandoff>;
  /** Files sent with the link (`sender.device.attachments.upload`, at most 10); the page decrypts them in the browser (32 MiB of ciphertext at most each). */
  readonly attachments?: readonly AttachmentRef[];
  /** @internal The class is under escrow (`Sender.sendToWeb` learns it from the verified policy). */
  readonly escrow?: EscrowTarget;
}

/**
 * What `Sender.sendToWeb` reports: the route's state (`path: 'pending'` while a web link
 * waits for the customer) and, for an audited message, its commitment's audit-log index.
 *
 * @example
 * const { messageId, state, path, audit } = await sender.sendToWeb('c-1001', '+15550100123', 'Your code is 123456', { class: 'otp', deliver })
 */
export interface SenderWebResult {
  readonly messageId: string;
  readonly path: string;
  readonly state: string;
  /** When the link expires (web links). */
  readonly expiresAt?: string;
  readonly audit?: { readonly index: number };
}

/** @internal What the web-link send needs from its device. */
export interface WebLinkContext {
  readonly api: Pick<ApiClient, 'webMessage' | 'webHandoff'>;
  readonly store: KeyStore;
  now(): Date;
  signCommitment(message: CommittedMessage): Promise<AuditedMessageV1>;
}

/** @internal The web-link send (`Sender.sendToWeb`); `recipient` is the customer's identity id. */
export async function sendWebLink(
  ctx: WebLinkContext,
  recipient: string,
  customerId: string,
  phone: string,
  content: string,
  options: SenderWebOptions & { readonly dlp?: readonly DlpOutcome[] },
): Promise<SenderWebResult> {
  const messageId = options.messageId ?? toBase64Url(randomBytes(16));
  if (!MESSAGE_ID.test(messageId)) throw new InvalidArgumentError('messageId', `must match ${MESSAGE_ID_PATTERN}`);
  // The page fetches and decrypts the files themselves: thumbnails stay out of the manifest.
  const attachments = checkAttachments(options.attachments)?.map(({ thumbnail: _thumbnail, ...ref }) => ref);
  const audited =
    options.audit === false
      ? undefined
      : await commitmentFor(ctx, {
          messageId,
          conversationId: `web_${messageId}`,
          recipient,
          class: options.class,
          text: content,
          createdAt: ctx.now(),
          ...(options.escrow ? { escrowKeyId: options.escrow.keyId } : {}),
          ...(options.dlp !== undefined && options.dlp.length > 0 ? { dlp: options.dlp } : {}),
          ...(attachments ? { attachments: attachments.map((a) => a.sha256) } : {}),
        });
  // A class under escrow: the opening and text sealed to the escrow key, bound to this commitment.
  const escrowBlob = audited && options.escrow ? await sealForEscrow(options.escrow, audited.commitment, fromBase64(audited.opening), content) : undefined;
  // The format's one definition (core/src/web/web-message.js): the retrieval page runs the same file.
  const { ciphertext, key } = await sealWebMessage(content);
  try {
    const manifest = attachments ? await sealWebMessageWithKey(JSON.stringify(attachments), key, WEB_ATTACHMENTS_AAD) : undefined;
    const { delivery, ...state } = await ctx.api.webMessage({
      messageId,
      customerId,
      phone,
      class: options.class,
      ciphertext: toBase64(ciphertext),
      ...(audited ? { commitment: { body: audited.commitment, signature: audited.signature } } : {}),
      ...(escrowBlob ? { escrow: toBase64(escrowBlob) } : {}),
      ...(attachments && manifest ? { attachments: { manifest: toBase64(manifest), blobs: attachments.map((a) => a.blobId) } } : {}),
    });
    if (!delivery) return state;
    const link = `${delivery.url}#${toBase64Url(key)}`;
    const text = delivery.template.includes('{link}') ? delivery.template.replaceAll('{link}', link) : `${delivery.template} ${link}`;
    let handoff: WebLinkHandoff;
    try {
      handoff = await options.deliver({ to: phone, text, url: link, messageId });
    } catch (error) {
      // The route fails now rather than waiting for the link to expire; the host's error wins.
      await ctx.api.webHandoff(messageId, { ok: false, reason: 'deliver_failed' }).catch(() => undefined);
      throw error;
    }
    const reported = await ctx.api.webHandoff(
      messageId,
      handoff.ok
        ? { ok: true, provider: handoff.provider, ...(handoff.providerMessageId !== undefined ? { providerMessageId: handoff.providerMessageId } : {}) }
        : { ok: false, reason: handoff.reason },
    );
    return { ...state, state: reported.state, path: reported.path };
  } finally {
    // The key's bytes (the link string itself is immutable and left to the garbage collector).
    key.fill(0);
  }
}

/** The commitment of this web message: the one persisted by an earlier attempt with this id, else a new one, persisted before it is used. */
async function commitmentFor(ctx: WebLinkContext, message: CommittedMessage): Promise<AuditedMessageV1> {
  const earlier = await getJson<AuditedMessageV1>(ctx.store, RECORDS.audited(message.messageId));
  if (earlier) {
    const same =
      earlier.direction === 'out' &&
      earlier.conversationId === message.conversationId &&
      earlier.commitment.recipient === message.recipient &&
      earlier.commitment.class === message.class &&
      earlier.commitment.escrow?.keyId === message.escrowKeyId &&
      (earlier.commitment.attachments ?? []).join() === (message.attachments ?? []).join() &&
      earlier.text === message.text;
    if (!same) throw new AuditError(`message ${message.messageId} already has another audited message on this device`);
    return earlier;
  }
  const audited = await ctx.signCommitment(message);
  await ctx.store.write([putJson(RECORDS.audited(message.messageId), audited)]);
  return audited;
}

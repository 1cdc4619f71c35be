/**
 * Wire inspection for the delivery service: what can be read from an MLSMessage
 * (RFC 9420 §6) without any key. This is the part of `mls/` the server needs; it meets
 * ts-mls only through its public message decoder.
 */
import { decodeMlsMessage, type MLSMessage } from './ts-mls.js';
import type { CoreErrorCode } from '../error-codes.js';
import { InvalidInputError } from '../errors.js';

/**
 * The kind of an MLSMessage, by its wire format (RFC 9420 §6).
 *
 * @example
 * const kind: WireKind = inspectMessage(bytes).kind; // 'private' for application data
 */
export type WireKind = 'private' | 'public' | 'welcome' | 'group_info' | 'key_package';

/**
 * The clear framing of an MLSMessage.
 *
 * @example
 * const { kind, groupId, epoch, contentType }: WireInfo = inspectMessage(bytes);
 */
export interface WireInfo {
  readonly kind: WireKind;
  /** Group id, for private and public messages and GroupInfo. */
  readonly groupId?: Uint8Array;
  readonly epoch?: bigint;
  readonly contentType?: 'application' | 'proposal' | 'commit';
  /** For public messages: `member`, `external`, `new_member_commit` … */
  readonly senderType?: string;
}

/**
 * @internal Decodes exactly one MLSMessage filling all of `bytes`; anything else throws
 * `InvalidInputError` with `code` (`invalid_mls_message`, `invalid_key_package`).
 */
export function decodeMessage(bytes: Uint8Array, code: CoreErrorCode, what: string): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (cause) {
    throw new InvalidInputError(`${what} is not a valid MLS message`, { code, cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new InvalidInputError(`${what} is not a valid MLS message`, { code });
  }
  return decoded[0];
}

/**
 * Reads the clear framing of an MLSMessage (RFC 9420 §6): wire format, group id,
 * epoch and content type. Throws `invalid_mls_message` for anything else.
 *
 * @example
 * const info = inspectMessage(fromBase64(request.message));
 * if (info.kind === 'private' && info.contentType === 'commit') orderByEpoch(info.epoch!);
 */
export function inspectMessage(bytes: Uint8Array): WireInfo {
  return readPrivateMessageHeader(bytes) ?? wireInfoOf(decodeMessage(bytes, 'invalid_mls_message', 'message'));
}

/**
 * Fast path for the relay's hot loop: the clear framing of an MLSMessage that is
 * a PrivateMessage (RFC 9420 §6.3.1), read without copying its ciphertext:
 * version (uint16 = mls10), wire_format (uint16 = 2), group_id<V>, epoch
 * (uint64), content_type (uint8: 1 application, 2 proposal, 3 commit),
 * authenticated_data<V>, encrypted_sender_data<V>, ciphertext<V>, and nothing
 * after. Vector lengths are RFC 9420 §2.1.2 variable-size integers. Returns
 * undefined for anything else (the full decoder then decides).
 */
function readPrivateMessageHeader(bytes: Uint8Array): WireInfo | undefined {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 1 || bytes[2] !== 0 || bytes[3] !== 2) return undefined;
  let offset = 4;
  const vector = (): [number, number] | undefined => {
    if (offset >= bytes.length) return undefined;
    const first = bytes[offset]!;
    const prefix = first >> 6;
    if (prefix === 3) return undefined;
    const size = 1 << prefix;
    if (offset + size > bytes.length) return undefined;
    let length = first & 0x3f;
    for (let i = 1; i < size; i++) length = length * 256 + bytes[offset + i]!;
    // Minimal encoding is required (RFC 9420 §2.1.2).
    if ((size === 2 && length < 64) || (size === 4 && length < 16384)) return undefined;
    const start = offset + size;
    if (start + length > bytes.length) return undefined;
    offset = start + length;
    return [start, length];
  };
  const groupId = vector();
  if (!groupId || offset + 9 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 8);
  const epoch = view.getBigUint64(0);
  const contentType = bytes[offset + 8];
  offset += 9;
  if (contentType !== 1 && contentType !== 2 && contentType !== 3) return undefined;
  if (!vector() || !vector() || !vector() || offset !== bytes.length) return undefined;
  return {
    kind: 'private',
    groupId: bytes.subarray(groupId[0], groupId[0] + groupId[1]),
    epoch,
    contentType: contentType === 1 ? 'application' : contentType === 2 ? 'proposal' : 'commit',
  };
}

/** @internal The clear framing of a decoded message. */
export function wireInfoOf(message: MLSMessage): WireInfo {
  switch (message.wireformat) {
    case 'mls_private_message':
      return {
        kind: 'private',
        groupId: message.privateMessage.groupId,
        epoch: message.privateMessage.epoch,
        contentType: message.privateMessage.contentType,
      };
    case 'mls_public_message':
      return {
        kind: 'public',
        groupId: message.publicMessage.content.groupId,
        epoch: message.publicMessage.content.epoch,
        contentType: message.publicMessage.content.contentType,
        senderType: message.publicMessage.content.sender.senderType,
      };
    case 'mls_welcome':
      return { kind: 'welcome' };
    case 'mls_group_info':
      return {
        kind: 'group_info',
        groupId: message.groupInfo.groupContext.groupId,
        epoch: message.groupInfo.groupContext.epoch,
      };
    case 'mls_key_package':
      return { kind: 'key_package' };
  }
}

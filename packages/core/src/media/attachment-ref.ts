/**
 * What a message carries of an attachment: a reference, never the file. The file is
 * encrypted on the sender's device with a fresh random key (stream-aead.ts), uploaded as
 * ciphertext to the server's blob store, and only this reference — blob id, key, ciphertext
 * hash, sizes, media type — travels inside the MLS message, so only the conversation's
 * members can read it. Business messages commit to the ciphertext hashes (commitment.ts).
 */
import { Type, type Static } from '../typebox.js';

/** A blob id: 128 random bits, base64url (chosen by the server at upload). */
export const BLOB_ID_PATTERN = '^[A-Za-z0-9_-]{22}$';
/** Attachments per message. */
export const MAX_ATTACHMENTS = 10;
/** A MIME type (RFC 6838 `type/subtype`, parameters dropped). */
export const MEDIA_TYPE_PATTERN = '^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$';

const Key32 = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'base64url of a 32-byte AES-256 key' });
const Hash32 = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'base64url SHA-256 of the ciphertext' });
const Size = Type.Integer({ minimum: 0, maximum: 2 ** 40 });

/** One encrypted blob: where it is, its key, and what its ciphertext hashes to. */
export const EncryptedBlobRefSchema = Type.Object(
  {
    blobId: Type.String({ pattern: BLOB_ID_PATTERN }),
    key: Key32,
    /** SHA-256 of the whole ciphertext as stored (the receiver checks it while decrypting). */
    sha256: Hash32,
    /** Plaintext bytes. */
    size: Size,
    /** Ciphertext bytes (plaintext plus 16 bytes per chunk). */
    cipherSize: Size,
    mime: Type.String({ pattern: MEDIA_TYPE_PATTERN }),
  },
  { additionalProperties: false },
);
/**
 * One encrypted blob: where it is, its key, and what its ciphertext hashes to.
 *
 * @example
 * for await (const piece of phone.attachments.download(ref.thumbnail!)) preview.push(piece)
 */
export type EncryptedBlobRef = Static<typeof EncryptedBlobRefSchema>;

export const AttachmentRefSchema = Type.Object(
  {
    ...EncryptedBlobRefSchema.properties,
    /** The file name the sender gave (shown to the user; never used as a path). */
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    /** A small preview, encrypted and stored the same way under its own key. */
    thumbnail: Type.Optional(EncryptedBlobRefSchema),
  },
  { additionalProperties: false },
);
/**
 * A file as a message carries it (`message` events' `attachments`, `SendOptions.attachments`).
 *
 * @example
 * const ref: AttachmentRef = await phone.attachments.upload({ data: photo, size: photo.length, mime: 'image/jpeg' })
 */
export type AttachmentRef = Static<typeof AttachmentRefSchema>;

/** Additional authenticated data of a web message (`parley/v1/web-message`). */
export declare const WEB_MESSAGE_AAD: 'parley/v1/web-message';
/** Additional authenticated data of a web message's attachments manifest (`parley/v1/web-attachments`). */
export declare const WEB_ATTACHMENTS_AAD: 'parley/v1/web-attachments';
/** Bytes of the AES-GCM nonce that leads the ciphertext (12). */
export declare const WEB_MESSAGE_IV_BYTES: 12;
/** Bytes of the AES-256 key (32). */
export declare const WEB_MESSAGE_KEY_BYTES: 32;
/**
 * Seals `text` with AES-256-GCM under a fresh random key: IV ‖ ciphertext ‖ tag.
 *
 * @example
 * const { ciphertext, key } = await sealWebMessage('Your code is 123456');
 */
export declare function sealWebMessage(text: string): Promise<{ ciphertext: Uint8Array; key: Uint8Array }>;
/**
 * Seals `text` under a given 32-byte key (another part of the same web message, such as its
 * attachments' manifest): a fresh random IV per seal.
 *
 * @example
 * const manifest = await sealWebMessageWithKey(JSON.stringify(refs), key, WEB_ATTACHMENTS_AAD);
 */
export declare function sealWebMessageWithKey(text: string, key: Uint8Array, aadLabel?: string): Promise<Uint8Array>;
/**
 * Opens a sealed web message (or another part, by its `aadLabel`); rejects when the key or the
 * part is wrong or a byte was changed.
 *
 * @example
 * const text = await openWebMessage(ciphertext, key);
 */
export declare function openWebMessage(ciphertext: Uint8Array, key: Uint8Array, aadLabel?: string): Promise<string>;

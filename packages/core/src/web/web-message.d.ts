/** Additional authenticated data of a web message (`parley/v1/web-message`). */
export declare const WEB_MESSAGE_AAD: 'parley/v1/web-message';
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
 * Opens a sealed web message; rejects when the key is wrong or a byte was changed.
 *
 * @example
 * const text = await openWebMessage(ciphertext, key);
 */
export declare function openWebMessage(ciphertext: Uint8Array, key: Uint8Array): Promise<string>;

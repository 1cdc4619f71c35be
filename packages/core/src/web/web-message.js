// The web message format (customers without the app): the text sealed with AES-256-GCM
// (NIST SP 800-38D, through WebCrypto) under a fresh 256-bit key, with a fixed context
// string as additional data. The key travels only in the retrieval link's URL fragment.
//
//   ciphertext = IV (12 bytes) ‖ AES-256-GCM(key, IV, text, AAD) ‖ tag (16 bytes)
//
// This one file is the format's only definition: the Sender's SDK imports it, and the
// server serves it unchanged to the retrieval page (/assets/web-message.js), which
// imports it too. It is plain JavaScript (typed by web-message.d.ts) so that a browser
// can run it as is, and it uses nothing but WebCrypto and TextEncoder/TextDecoder.

/** Additional authenticated data: binds the ciphertext to this purpose. */
export const WEB_MESSAGE_AAD = 'parley/v1/web-message';
/** Bytes of the AES-GCM nonce that leads the ciphertext. */
export const WEB_MESSAGE_IV_BYTES = 12;
/** Bytes of the AES-256 key. */
export const WEB_MESSAGE_KEY_BYTES = 32;

const aad = () => new TextEncoder().encode(WEB_MESSAGE_AAD);

/**
 * Seals `text` under a fresh random key.
 * @param {string} text
 * @returns {Promise<{ ciphertext: Uint8Array, key: Uint8Array }>}
 */
export async function sealWebMessage(text) {
  const subtle = globalThis.crypto.subtle;
  const key = globalThis.crypto.getRandomValues(new Uint8Array(WEB_MESSAGE_KEY_BYTES));
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(WEB_MESSAGE_IV_BYTES));
  const cryptoKey = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt']);
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad() }, cryptoKey, new TextEncoder().encode(text)));
  const ciphertext = new Uint8Array(iv.length + sealed.length);
  ciphertext.set(iv);
  ciphertext.set(sealed, iv.length);
  return { ciphertext, key };
}

/**
 * Opens a sealed web message; rejects when the key is wrong or a byte was changed.
 * @param {Uint8Array} ciphertext
 * @param {Uint8Array} key
 * @returns {Promise<string>}
 */
export async function openWebMessage(ciphertext, key) {
  if (key.length !== WEB_MESSAGE_KEY_BYTES) throw new Error('the key must be 32 bytes');
  if (ciphertext.length < WEB_MESSAGE_IV_BYTES + 16) throw new Error('the ciphertext is too short');
  const cryptoKey = await globalThis.crypto.subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['decrypt']);
  const plain = await globalThis.crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: ciphertext.slice(0, WEB_MESSAGE_IV_BYTES), additionalData: aad() },
    cryptoKey,
    ciphertext.slice(WEB_MESSAGE_IV_BYTES),
  );
  return new TextDecoder('utf-8', { fatal: true }).decode(plain);
}

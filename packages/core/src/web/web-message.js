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

/**
 * Additional authenticated data of a web message's attachments manifest (the second part under
 * the same key): a server cannot pass the manifest off as the text, or the text as the manifest.
 */
export const WEB_ATTACHMENTS_AAD = 'parley/v1/web-attachments';

const encodeAad = (label) => new TextEncoder().encode(label);

/**
 * Seals `text` under a fresh random key.
 * @param {string} text
 * @returns {Promise<{ ciphertext: Uint8Array, key: Uint8Array }>}
 */
export async function sealWebMessage(text) {
  const key = globalThis.crypto.getRandomValues(new Uint8Array(WEB_MESSAGE_KEY_BYTES));
  return { ciphertext: await sealWebMessageWithKey(text, key), key };
}

/**
 * Seals `text` under a given key (a second part of one web message, e.g. its attachments'
 * manifest, under the link's key, with that part's own `aadLabel`): a fresh random 96-bit IV
 * per seal, so one key seals a few parts safely (NIST SP 800-38D §8.3 bounds random IVs at 2^32
 * seals per key).
 * @param {string} text
 * @param {Uint8Array} key
 * @param {string} [aadLabel]
 * @returns {Promise<Uint8Array>}
 */
export async function sealWebMessageWithKey(text, key, aadLabel = WEB_MESSAGE_AAD) {
  if (key.length !== WEB_MESSAGE_KEY_BYTES) throw new Error('the key must be 32 bytes');
  const subtle = globalThis.crypto.subtle;
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(WEB_MESSAGE_IV_BYTES));
  const cryptoKey = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['encrypt']);
  const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: encodeAad(aadLabel) }, cryptoKey, new TextEncoder().encode(text)));
  const ciphertext = new Uint8Array(iv.length + sealed.length);
  ciphertext.set(iv);
  ciphertext.set(sealed, iv.length);
  return ciphertext;
}

/**
 * Opens a sealed web message (or another part, by its `aadLabel`); rejects when the key or the
 * part is wrong or a byte was changed.
 * @param {Uint8Array} ciphertext
 * @param {Uint8Array} key
 * @param {string} [aadLabel]
 * @returns {Promise<string>}
 */
export async function openWebMessage(ciphertext, key, aadLabel = WEB_MESSAGE_AAD) {
  if (key.length !== WEB_MESSAGE_KEY_BYTES) throw new Error('the key must be 32 bytes');
  if (ciphertext.length < WEB_MESSAGE_IV_BYTES + 16) throw new Error('the ciphertext is too short');
  const cryptoKey = await globalThis.crypto.subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['decrypt']);
  const plain = await globalThis.crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: ciphertext.slice(0, WEB_MESSAGE_IV_BYTES), additionalData: encodeAad(aadLabel) },
    cryptoKey,
    ciphertext.slice(WEB_MESSAGE_IV_BYTES),
  );
  return new TextDecoder('utf-8', { fatal: true }).decode(plain);
}

import { toBase64 } from '@parley/core';

/**
 * The submitted base64 if it is already standard padded base64 (RFC 4648 §4), else a
 * re-encoding of the decoded bytes: what the relay stores and hands out is always the
 * standard form, and the common case costs no re-encoding.
 *
 * @example
 * canonicalBase64('AQID', new Uint8Array([1, 2, 3])) // 'AQID'
 * canonicalBase64('AQI', new Uint8Array([1, 2]))     // 'AQI='
 */
export function canonicalBase64(text: string, bytes: Uint8Array): string {
  return text.length % 4 === 0 && !/[-_]/.test(text) ? text : toBase64(bytes);
}

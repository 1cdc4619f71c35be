/**
 * Strict RFC 4648 §4 base64 (standard alphabet, `=` padding required), as the C2SP
 * signed-note and tlog-checkpoint specs mandate. The project's `fromBase64` also accepts
 * base64url and missing padding; these formats do not, so the text is checked first.
 *
 * Internal to `tlog/`; not exported from the package.
 */
import { fromBase64 } from '../bytes.js';

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes canonical padded standard base64, or returns undefined.
 *
 * @example
 * decodeStdBase64('aGk=') // Uint8Array [104, 105]; decodeStdBase64('aGk') → undefined
 */
export function decodeStdBase64(text: string): Uint8Array | undefined {
  if (!STD_BASE64.test(text)) return undefined;
  try {
    // fromBase64 rejects non-zero trailing bits, so only the canonical encoding passes.
    return fromBase64(text);
  } catch {
    return undefined;
  }
}

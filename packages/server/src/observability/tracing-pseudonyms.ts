/**
 * Identifiers in spans are pseudonyms only: HMAC-SHA256 under the server's trace pseudonym
 * key (HKDF from server.key, `trace-pseudonym-key`), labelled by kind, truncated to 16 hex
 * digits. The nodes of a deployment share the key, so one message, device or business has
 * the same pseudonym in every node's spans; without the key a pseudonym cannot be tied back
 * to the identifier, and it differs from the routing pseudonyms (another key).
 */
import { createHmac } from 'node:crypto';

/** What a pseudonym stands for (part of the HMAC input: equal raw ids of different kinds differ). */
export type PseudonymKind = 'message' | 'device' | 'business';

/**
 * @example
 * const pseudonyms = new TracePseudonyms(secrets.derive('trace-pseudonym-key'));
 * pseudonyms.of('device', deviceId) // '3f9a0c1d22e4b5a6'
 */
export class TracePseudonyms {
  constructor(private readonly key: Uint8Array) {}

  of(kind: PseudonymKind, raw: string): string {
    return createHmac('sha256', this.key).update(`parley/v1/trace/${kind}\n${raw}`, 'utf8').digest('hex').slice(0, 16);
  }
}

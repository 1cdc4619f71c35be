/**
 * The key-wrapping seam: a `KeyWrapper` wraps and unwraps secret keys (the gateway's data
 * key, the server's VRF key) under a key the operator controls — a key file, or an AES key
 * inside a PKCS#11 token (`Pkcs11KeyWrapper`) — so those keys never sit unwrapped at rest.
 */

/**
 * Wraps and unwraps secret keys under a key the operator controls. `context` names what is
 * wrapped (authenticated with it): unwrapping under another context fails.
 *
 * @example
 * const wrapped = await wrapper.wrap(dataKey, 'gateway/data-key')
 * const again = await wrapper.unwrap(wrapped, 'gateway/data-key')
 */
export interface KeyWrapper {
  /** Names the wrapping key (kept next to what it wrapped: the wrong key is recognised before any decryption). */
  readonly id: string;
  wrap(key: Uint8Array, context: string): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array, context: string): Promise<Uint8Array>;
}

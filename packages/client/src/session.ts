/**
 * Session tokens for a device: answers a one-time server challenge with a
 * signature by the device identity key, caches the token until shortly before
 * it expires. No password or long-lived shared secret is ever involved.
 */
import { fromBase64, signSessionProof, toBase64, type Ed25519Signer } from '@parley/core';
import type { ApiClient } from './api-client.js';

export class SessionManager {
  private token: string | undefined;
  private expiresAt = 0;
  private inflight: Promise<string> | undefined;

  constructor(
    private readonly api: ApiClient,
    private readonly deviceId: string,
    private readonly identity: Ed25519Signer,
    private readonly now: () => number = Date.now,
    /** Sees every refusal of a new session first (a revoked device ends there: revocation.ts); rethrows what it does not handle. */
    private readonly onRefused: (error: unknown) => Promise<never> = (error) => Promise.reject(error),
  ) {}

  /** A valid token; `refresh` forces a new session. */
  get(refresh = false): Promise<string> {
    if (!refresh && this.token && this.expiresAt - this.now() > 60_000) return Promise.resolve(this.token);
    this.inflight ??= this.open().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async open(): Promise<string> {
    const { challenge } = await this.api.challenge(this.deviceId);
    const signature = await signSessionProof(this.identity, { deviceId: this.deviceId, challenge: fromBase64(challenge, 'challenge') });
    const session = await this.api
      .openSession({ deviceId: this.deviceId, challenge, signature: toBase64(signature) })
      .catch((error: unknown) => this.onRefused(error));
    this.token = session.token;
    this.expiresAt = Date.parse(session.expiresAt);
    return session.token;
  }
}

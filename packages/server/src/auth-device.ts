/**
 * The authenticated device a request comes from: what a session token (http/sessions.ts)
 * proves and what the relay, the audit service, routing and the directory act for.
 */

/**
 * @example
 * const me: AuthDevice = { deviceId: 'd-…', identityId: 'example-bank:c-1001', businessId: 'example-bank' };
 */
export interface AuthDevice {
  readonly deviceId: string;
  readonly identityId: string;
  readonly businessId: string;
}

/** The error of social recovery (`device.recovery`, docs/social-recovery.md). */
import { ClientError, type ClientErrorCode } from './errors.js';

/**
 * Codes of `RecoveryError`.
 *
 * @example
 * if (e instanceof RecoveryError && e.code === 'recovery_not_enough_shares') showProgress(e.details)
 */
export type RecoveryErrorCode = Extract<ClientErrorCode, `recovery_${string}`>;

/**
 * Social recovery failed on the device:
 * - `recovery_threshold_invalid`: not 2 ≤ threshold ≤ holders ≤ 10;
 * - `recovery_holder_invalid`: a holder named twice, this device itself, or a device that would hold two shares;
 * - `recovery_holder_unavailable`: a holder has no approved device with a published holder key (or cannot be seen);
 * - `recovery_holder_unverified`: a holder key is not signed by its device's identity key as the verified key log shows it
 *   (a key the server substituted), or names a device the log does not show approved;
 * - `recovery_set_unverified`: the recovery set is not signed by a device of this identity in the verified key log;
 * - `recovery_requester_unverified`: a request is not signed by an approved device of the owner identity, or has expired;
 * - `recovery_request_unknown`: this device holds no state of that request (not started here, or already completed);
 * - `recovery_not_enough_shares`: fewer than `threshold` shares were released (`details`: released, threshold);
 * - `recovery_share_invalid`: enough shares were released, but too few of them open and match the owner's manifest.
 *
 * @example
 * try { await newPhone.recovery.complete(requestId) } catch (e) { if (e instanceof RecoveryError && e.code === 'recovery_not_enough_shares') waitForMoreHolders() }
 */
export class RecoveryError extends ClientError {
  declare readonly code: RecoveryErrorCode;

  constructor(code: RecoveryErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
    this.name = 'RecoveryError';
  }
}

/**
 * The bundle verifier's check runner and what every check shares: a failing check throws a
 * {@link CheckFailure} with its code, and {@link check} turns the outcome into a report line.
 * Internal to `audit/`; not exported from the package.
 */
import { fromBase64 } from '../../bytes.js';
import { isParleyError } from '../../errors.js';
import type { Checkpoint } from '../../tlog/checkpoint.js';
import type { VerifiedSignature } from '../../tlog/note.js';
import type { EvidenceBundle } from '../bundle.js';
import type { EvidenceCheck, EvidenceFailureCode } from '../evidence-report.js';
import type { LogKeys } from './rotations.js';

/** A failed check, thrown inside a check and turned into its report line. */
export class CheckFailure {
  constructor(
    readonly code: EvidenceFailureCode,
    readonly detail: string,
  ) {}
}

/** Fails the running check with `code`. */
export function fail(code: EvidenceFailureCode, detail: string): never {
  throw new CheckFailure(code, detail);
}

/** A one-line description of an unexpected error for a report line (its code and message, never secrets). */
export function describe(error: unknown): string {
  if (isParleyError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs one check. The function returns the success detail or throws a {@link CheckFailure};
 * any other exception (malformed bytes deep inside a primitive) fails the check with
 * `fallback`.
 */
export function check(name: string, fallback: EvidenceFailureCode, fn: () => string): EvidenceCheck {
  try {
    return { name, ok: true, detail: fn() };
  } catch (error) {
    if (error instanceof CheckFailure) return { name, ok: false, code: error.code, detail: error.detail };
    return { name, ok: false, code: fallback, detail: describe(error) };
  }
}

/** Decodes base64, failing the running check with `code` when it is not. */
export function decode64(text: string, code: EvidenceFailureCode, what: string): Uint8Array {
  try {
    return fromBase64(text, what);
  } catch {
    return fail(code, `${what} is not valid base64`);
  }
}

/** A checkpoint whose signature verified with a key of the log's chain, the chain, and the keys that signed it. */
export interface OpenedCheckpoint extends Checkpoint {
  readonly keys: LogKeys;
  readonly signedBy: readonly VerifiedSignature[];
}

/** What the checks of one bundle share: the bundle and what the first checks established. */
export interface Context {
  readonly bundle: EvidenceBundle;
  readonly auditCheckpoint: OpenedCheckpoint | undefined;
  readonly keyLogCheckpoint: OpenedCheckpoint | undefined;
  readonly vrfKey: Uint8Array | undefined;
  readonly vrfPinned: boolean;
}

/**
 * A message's evidence bundle (as `parley audit`, the gateway or the demo write it) verified in
 * the browser: every check of @parley/core's offline verifier against the log keys the server
 * publishes, then the commitment's audit-log entry checked against the log as it is now
 * (inclusion in the latest checkpoint, consistency from the bundle's checkpoint).
 */
import { verifyEvidenceBundle, type EvidenceReport } from '@parley/core/audit';
import { verifyLog, type LogTrust, type VerifyOutcome } from './tlog-verify.js';

/** The bundle's own checks and the live log checks. */
export interface EvidenceOutcome {
  readonly ok: boolean;
  readonly report: EvidenceReport;
  readonly live: VerifyOutcome | null;
}

/**
 * Parses and verifies `json` (an evidence bundle) with the keys of the `audit` and `keys` logs.
 *
 * @example
 * const outcome = await verifyEvidence(text, auditLog, keyLog); console.log(outcome.ok)
 */
export async function verifyEvidence(json: string, auditLog: LogTrust, keyLog: LogTrust): Promise<EvidenceOutcome> {
  let bundle: unknown;
  try {
    bundle = JSON.parse(json);
  } catch {
    bundle = null;
  }
  const auditLogKey = auditLog.verifierKeys[0] ?? '';
  const keyLogKey = keyLog.verifierKeys[0] ?? '';
  const report = verifyEvidenceBundle(bundle, { auditLogKey, keyLogKey });
  const parsed = bundle as { auditCheckpoint?: unknown; audit?: { index?: unknown } } | null;
  const live =
    report.message !== null && parsed !== null && typeof parsed.auditCheckpoint === 'string' && typeof parsed.audit?.index === 'number'
      ? await verifyLog(auditLog, { note: parsed.auditCheckpoint, label: "the bundle's checkpoint" }, parsed.audit.index)
      : null;
  return { ok: report.ok && live !== null && live.ok, report, live };
}

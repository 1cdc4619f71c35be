/**
 * The demo's audit-evidence part: an auditor pins the logs' verifier keys and the
 * directory's VRF key up front; at the end the bank exports the payment alert's evidence
 * bundle, the auditor verifies it offline, and Alice's phone reveals the opening, which
 * proves the alert's exact text and no other.
 */
import type { Device, Sender } from '@parley/client';
import { fromBase64 } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceReport, type EvidenceTrust } from '@parley/core/audit';
import { writePrivateFile } from '../private-files.js';
import type { ScenarioEvidence } from './scenario-types.js';
import { ScenarioFailure, type Transcript } from './transcript.js';

/**
 * The trust an auditor pins: both logs' verifier keys (`GET /v1/logs`) and the VRF key (`GET /v1/keys`).
 *
 * @example
 * const trust = await pinTrust(serverUrl);
 */
export async function pinTrust(serverUrl: string): Promise<EvidenceTrust> {
  const logs = (await (await fetch(`${serverUrl}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
  const keys = (await (await fetch(`${serverUrl}/v1/keys`)).json()) as { vrfPublicKey: string };
  const key = (name: string) => {
    const log = logs.logs.find((l) => l.name === name);
    if (!log) throw new ScenarioFailure(`the server lists no ${name} log`);
    return log.verifierKey;
  };
  return { auditLogKey: key('audit'), keyLogKey: key('keys'), vrfPublicKey: keys.vrfPublicKey };
}

function failedChecks(report: EvidenceReport): string {
  return report.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${c.code}`)
    .join('; ');
}

/** What the evidence part works with. */
export interface EvidenceContext {
  readonly transcript: Transcript;
  readonly sender: Sender;
  /** Alice's phone: it reads the alert and reveals the opening. */
  readonly phone: Device;
  /** The payment alert and its exact text. */
  readonly alert: { readonly messageId: string; readonly text: string };
  readonly trust: EvidenceTrust;
  readonly timeoutMs: number;
  /** Where the revealed bundle is written (0600). */
  readonly path: string;
}

/**
 * Alice reads the alert (a signed receipt), the bank exports its evidence (3 receipts), an
 * auditor verifies it offline, and the revealed opening proves the text (a forged amount
 * fails). Each outcome is a step; the revealed bundle is written to `path`.
 *
 * @example
 * const evidence = await proveAlert({ transcript, sender, phone, alert: { messageId, text }, trust, timeoutMs, path });
 */
export async function proveAlert(c: EvidenceContext): Promise<ScenarioEvidence> {
  const { transcript, sender, phone, alert, trust, timeoutMs, path } = c;
  const step = (name: string, ok: boolean, detail?: string) => transcript.step(name, ok, detail);
  await phone.markRead(alert.messageId);
  step("Alice's phone reads the payment alert: it signs a read receipt into the audit log", true);
  const expectedReceipts = 3; // delivered on the phone and on the tablet, read on the phone
  let bundle = await sender.device.exportEvidence(alert.messageId);
  for (const deadline = Date.now() + timeoutMs; bundle.receipts.length < expectedReceipts && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 100));
    bundle = await sender.device.exportEvidence(alert.messageId);
  }
  step(
    `Example Bank exports the payment alert's evidence bundle (${bundle.receipts.length} signed receipts)`,
    bundle.receipts.length === expectedReceipts && bundle.opening === undefined,
  );
  const report = verifyEvidenceBundle(bundle, trust);
  step('an auditor verifies the bundle offline with only the logs\' keys', report.ok, report.ok ? undefined : failedChecks(report));
  const revealedBundle = await phone.exportEvidence(alert.messageId, { reveal: true });
  const opening = fromBase64(revealedBundle.opening ?? '');
  // The bundle carries Alice's opening and plaintext: the verifier checks them against the commitment.
  const revealed = verifyEvidenceBundle(revealedBundle, trust);
  const forged = verifyEvidenceBundle(revealedBundle, trust, { plaintext: alert.text.replace('1,250.00', '12,500.00'), opening });
  const forgedTextRejected = !forged.ok && forged.checks.some((x) => x.code === 'plaintext_mismatch');
  step("Alice reveals the opening: it proves the alert's exact text, and no other", revealed.ok && forgedTextRejected);
  const serialized = `${JSON.stringify(revealedBundle, null, 2)}\n`;
  await writePrivateFile(path, serialized); // holds Alice's plaintext: 0600
  return {
    messageId: alert.messageId,
    path,
    bytes: Buffer.byteLength(JSON.stringify(bundle)),
    trust,
    report,
    revealed,
    forgedTextRejected,
  };
}

/**
 * Parts 2 and 3 of the audit benchmark: for messages with 0, 1 and 3 receipts, the time
 * of the SDK's `exportEvidence`, of the raw evidence endpoint and of the offline
 * `verifyEvidenceBundle`, and the bundle's size. Every bundle must verify.
 */
import { performance } from 'node:perf_hooks';
import { verifyEvidenceBundle, type EvidenceTrust } from '@parley/core/audit';
import type { Device, DeviceEvent, Sender } from '@parley/client';
import { EventLog, enroll, enrollApproved, type Business } from '@parley/test-kit/sdk';
import { quantile, summarize } from '../lib/stats.js';
import { alertText } from '../lib/workload.js';
import type { EvidenceFigure } from './types.js';

/** Matches the message event of `id`. */
const isMessage = (id: string) => (e: DeviceEvent) => e.type === 'message' && e.messageId === id;

/** Waits until the server's evidence for each message holds `count` receipts. */
async function receiptsArrive(device: Device, messageIds: readonly string[], count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const id of messageIds) {
    for (;;) {
      if ((await device.exportEvidence(id)).receipts.length >= count) break;
      if (Date.now() > deadline) throw new Error(`receipts for ${id} did not reach ${count} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** p50 (nearest rank), min, max and mean of the bundle sizes. */
function bytesSummary(values: readonly number[]): EvidenceFigure['bundleBytes'] {
  const s = [...values].sort((a, b) => a - b);
  return {
    p50: quantile(s, 0.5),
    min: s[0] ?? 0,
    max: s[s.length - 1] ?? 0,
    mean: Math.round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)),
  };
}

/** What the evidence part works with. */
export interface EvidenceContext {
  readonly url: string;
  readonly bank: Business;
  readonly sender: Sender;
  /** Devices enrolled here are added (the caller closes them). */
  readonly devices: Device[];
  /** The measured submissions' message ids (their customers are offline: no receipts). */
  readonly measuredIds: readonly string[];
  readonly evidenceMessages: number;
  readonly trust: EvidenceTrust;
  /** The sender's session (`Bearer …`) for the raw endpoint. */
  readonly authorization: string;
  readonly notes: string[];
  readonly log: (line: string) => void;
}

/**
 * Measures evidence for `evidenceMessages` messages each with 0, 1 and 3 receipts; counts
 * bundles that did not verify or held the wrong receipts as failures (with a note).
 *
 * @example
 * const { evidence, failures } = await runEvidence({ url, bank, sender, devices, measuredIds, evidenceMessages: 20, trust, authorization, notes, log });
 */
export async function runEvidence(o: EvidenceContext): Promise<{ evidence: EvidenceFigure[]; failures: number }> {
  const { url, bank, sender, devices, evidenceMessages, trust, authorization, notes, log } = o;
  const senderDevice = sender.device;
  let failures = 0;
  const measureEvidence = async (ids: readonly string[], receipts: number): Promise<EvidenceFigure> => {
    const exportMs: number[] = [];
    const endpointMs: number[] = [];
    const verifyMs: number[] = [];
    const sizes: number[] = [];
    let treeSize = 0;
    const warm = Math.min(3, ids.length);
    for (let i = 0; i < warm + ids.length; i++) {
      const id = ids[i < warm ? i : i - warm]!;
      const record = i >= warm;
      const t0 = performance.now();
      const bundle = await senderDevice.exportEvidence(id);
      const t1 = performance.now();
      const res = await fetch(`${url}/v1/audit/messages/${encodeURIComponent(id)}/evidence`, { headers: { authorization } });
      const text = await res.text();
      const t2 = performance.now();
      if (!res.ok) throw new Error(`evidence ${id}: ${res.status} ${text.slice(0, 200)}`);
      const parsed: unknown = JSON.parse(text);
      const t3 = performance.now();
      const report = verifyEvidenceBundle(parsed, trust);
      const t4 = performance.now();
      const bad = report.checks.filter((c) => !c.ok);
      if (!report.ok || bundle.receipts.length !== receipts || !report.receipts.every((r) => r.verified)) {
        failures++;
        notes.push(`evidence of ${id} (${receipts} receipts): ok=${report.ok}, ${bundle.receipts.length} receipts, failed checks ${JSON.stringify(bad.slice(0, 3))}`);
      }
      if (!record) continue;
      exportMs.push(t1 - t0);
      endpointMs.push(t2 - t1);
      verifyMs.push(t4 - t3);
      sizes.push(Buffer.byteLength(JSON.stringify(bundle)));
      treeSize = Number(bundle.auditCheckpoint.split('\n')[1]);
    }
    return {
      receipts,
      messages: ids.length,
      treeSize,
      exportMs: summarize(exportMs),
      endpointMs: summarize(endpointMs),
      verifyMs: summarize(verifyMs),
      bundleBytes: bytesSummary(sizes),
    };
  };

  const evidence: EvidenceFigure[] = [];
  // 0 receipts: measured commitments spread over the log (their customers are offline).
  const measuredIds = o.measuredIds;
  const step = Math.max(1, Math.floor(measuredIds.length / evidenceMessages));
  const zeroIds = Array.from({ length: Math.min(evidenceMessages, measuredIds.length) }, (_, i) => measuredIds[i * step]!);
  log(`evidence: ${zeroIds.length} messages without receipts`);
  evidence.push(await measureEvidence(zeroIds, 0));

  // 1 receipt: a customer with one phone (its `delivered` receipt).
  const one = await enroll(url, bank, 'ev-one', 'customer');
  devices.push(one);
  const oneLog = new EventLog(one);
  await one.connect();
  log(`evidence: sending ${evidenceMessages} messages to a one-device customer and waiting for the delivered receipts`);
  const oneIds: string[] = [];
  for (let i = 0; i < evidenceMessages; i++) oneIds.push((await sender.send('ev-one', alertText(i), { class: 'alert' })).messageId);
  for (const id of oneIds) await oneLog.waitFor(isMessage(id), 60_000);
  await receiptsArrive(senderDevice, oneIds, 1);
  evidence.push(await measureEvidence(oneIds, 1));

  // 3 receipts: a phone and a tablet (both `delivered`), and the phone's `read`.
  const phone = await enroll(url, bank, 'ev-three', 'customer');
  devices.push(phone);
  const tablet = await enrollApproved(url, bank, 'ev-three', phone);
  devices.push(tablet);
  const phoneLog = new EventLog(phone);
  const tabletLog = new EventLog(tablet);
  await Promise.all([phone.connect(), tablet.connect()]);
  log(`evidence: sending ${evidenceMessages} messages to a two-device customer, waiting for 2 delivered + 1 read receipts each`);
  const threeIds: string[] = [];
  for (let i = 0; i < evidenceMessages; i++) threeIds.push((await sender.send('ev-three', alertText(i), { class: 'alert' })).messageId);
  for (const id of threeIds) {
    await phoneLog.waitFor(isMessage(id), 60_000);
    await tabletLog.waitFor(isMessage(id), 60_000);
    await phone.markRead(id);
  }
  await receiptsArrive(senderDevice, threeIds, 3);
  evidence.push(await measureEvidence(threeIds, 3));
  for (const e of evidence) {
    log(`evidence (${e.receipts} receipts): export p50 ${e.exportMs.p50} ms, endpoint p50 ${e.endpointMs.p50} ms, verify p50 ${e.verifyMs.p50} ms, ${e.bundleBytes.p50} bytes`);
  }
  return { evidence, failures };
}

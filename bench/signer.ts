/**
 * Checkpoint signing throughput: Ed25519 signatures per second and per-signature latency
 * (p50/p99, nearest rank, in microseconds) of the key-file signer (a seed in memory,
 * node:crypto/OpenSSL) and the PKCS#11 signer on SoftHSM2 (CKM_EDDSA in the token; every
 * signature verified against the public key before it is returned, as in production), on
 * the same ~100-byte checkpoint note: sequential (one in flight) and with 8 in flight. The
 * PKCS#11 signer runs with one session (operations serialised, the server's setting) and with
 * 8 sessions (one per in-flight signature).
 *
 * Run: `npm run bench -- signer [--quick] [--messages N]` (needs softhsm2 and the pkcs11js
 * binding; skipped with a note otherwise).
 */
import { performance } from 'node:perf_hooks';
import { KeyFileSigner, Pkcs11Signer, verifyEd25519, type Ed25519Signer } from '@parley/custody';
import { softHsmStatus, startSoftHsm } from '@parley/test-kit/softhsm';
import { summarize, type Percentiles } from './lib/stats.js';

/** One signer × concurrency measurement. */
export interface SignerRun {
  /** `<signer>/<sessions>s/<in flight>`, e.g. `pkcs11-softhsm2/1s/8`. */
  readonly name: string;
  readonly signer: string;
  readonly sessions: number;
  readonly inFlight: number;
  readonly signatures: number;
  readonly signaturesPerSecond: number;
  /** Per-signature latency, microseconds. */
  readonly latencyUs: Percentiles;
}

export interface SignerBenchResult {
  readonly messageBytes: number;
  readonly measurements: SignerRun[];
  readonly skipped?: string;
  readonly notes: string[];
}

/** A checkpoint note body as the logs sign it (C2SP tlog-checkpoint: origin, size, root hash). */
const CHECKPOINT = new TextEncoder().encode('checkpoints.parley.bank.example/logs/keys\n1048576\nq6yrq6yrq6yrq6yrq6yrq6yrq6yrq6yrq6yrq6yrq6s=\n');

async function measure(name: string, signer: Ed25519Signer, sessions: number, inFlight: number, total: number): Promise<SignerRun> {
  // Warm-up (JIT, token session caches).
  for (let i = 0; i < Math.min(200, total / 10); i++) await signer.sign(CHECKPOINT);
  const latencies = new Float64Array(total);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = next++; i < total; i = next++) {
        const start = performance.now();
        const signature = await signer.sign(CHECKPOINT);
        latencies[i] = (performance.now() - start) * 1000;
        if (signature.length !== 64) throw new Error('not a 64-byte signature');
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { name: `${name}/${sessions}s/${inFlight}`, signer: name, sessions, inFlight, signatures: total, signaturesPerSecond: Math.round(total / seconds), latencyUs: summarize(latencies, 1) };
}

/**
 * @example
 * const result = await runSignerBench({ quick: true, onProgress: console.log })
 */
export async function runSignerBench(o: { quick: boolean; onProgress: (line: string) => void; signatures?: number }): Promise<SignerBenchResult> {
  const total = o.signatures ?? (o.quick ? 2_000 : 20_000);
  const notes = [
    'message: a ~100-byte checkpoint note (the bytes a log signs at each batch and heartbeat)',
    'key-file: KeyFileSigner (seed in memory, node:crypto Ed25519); PKCS#11: Pkcs11Signer on SoftHSM2 2.6 (CKM_EDDSA in the token, each signature verified with node:crypto before it is returned)',
    'latency per signature in microseconds (nearest rank); with 8 in flight it includes waiting for a free session',
    'SoftHSM2 signs in software in this process (no device, no network): a hardware HSM adds its own latency per call',
  ];
  const status = softHsmStatus();
  const runs: SignerRun[] = [];
  const { signer: fileSigner } = KeyFileSigner.generate({ description: 'bench key file' });
  for (const inFlight of [1, 8]) {
    const run = await measure('key-file', fileSigner, 0, inFlight, total);
    o.onProgress(`signer/key-file/${inFlight} in flight: ${run.signaturesPerSecond} sig/s, p50 ${run.latencyUs.p50} µs, p99 ${run.latencyUs.p99} µs`);
    runs.push(run);
  }
  if (!status.ok) {
    o.onProgress(`signer/pkcs11: ${status.note}`);
    return { messageBytes: CHECKPOINT.length, measurements: runs, skipped: status.note, notes };
  }
  const token = await startSoftHsm({ label: 'parley-bench' });
  try {
    for (const sessions of [1, 8]) {
      const signer = await Pkcs11Signer.open(token.uri('parley-bench-key'), { create: true, sessions });
      try {
        const check = await signer.sign(CHECKPOINT);
        if (!verifyEd25519(signer.publicKey, CHECKPOINT, check)) throw new Error('the token signature does not verify');
        for (const inFlight of sessions === 1 ? [1, 8] : [8]) {
          const run = await measure('pkcs11-softhsm2', signer, sessions, inFlight, total);
          o.onProgress(`signer/pkcs11 (${sessions} session${sessions > 1 ? 's' : ''})/${inFlight} in flight: ${run.signaturesPerSecond} sig/s, p50 ${run.latencyUs.p50} µs, p99 ${run.latencyUs.p99} µs`);
          runs.push(run);
        }
      } finally {
        await signer.close();
      }
    }
  } finally {
    await token.cleanup();
  }
  return { messageBytes: CHECKPOINT.length, measurements: runs, notes };
}

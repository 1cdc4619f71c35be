/**
 * The media section's client process (forked by bench/media-transfer.ts, so that its memory is
 * its own): one SDK customer device (node runtime: node:crypto for MLS and for attachments)
 * uploads generated files through `device.attachments.upload` and downloads them again through
 * `device.attachments.download` (decrypted, every chunk and the whole ciphertext's hash
 * checked by the SDK; the bytes also compared with the file here). Around each large transfer it
 * reports a phase and waits for the parent's go-ahead, so the parent can reset and read the
 * processes' memory peaks outside the timed window.
 */
import { performance } from 'node:perf_hooks';
import { exportJWK, generateKeyPair } from 'jose';
import { Device, MemoryKeyStore, issueEnrollmentToken, type AttachmentRef } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { childMain } from './lib/child.js';
import { pattern, pieces, sameBytes, type Pattern } from './media-data.js';

export interface MediaClientSpec {
  readonly serverUrl: string;
  readonly adminToken: string;
  readonly smallBytes: number;
  readonly smallRuns: number;
  readonly largeBytes: number;
  readonly largeRuns: number;
}

/** Reported before and after each large transfer (the parent answers with a go-ahead). */
export interface MediaClientPhase {
  readonly at: 'start' | 'end';
  readonly transfer: 'upload' | 'download';
  readonly run: number;
  /** This process, for /proc/<pid>/status. */
  readonly pid: number;
}

export interface MediaClientResult {
  readonly small: { readonly uploadMs: number[]; readonly downloadMs: number[] };
  readonly large: { readonly uploadMs: number[]; readonly downloadMs: number[] };
  readonly enrollMs: number;
  readonly cipherBytes: { readonly small: number; readonly large: number };
}

async function upload(device: Device, p: Pattern, size: number): Promise<{ ms: number; ref: AttachmentRef }> {
  const t0 = performance.now();
  const ref = await device.attachments.upload({ data: pieces(p, size), size, mime: 'application/octet-stream', name: 'bench.bin' });
  return { ms: performance.now() - t0, ref };
}

async function download(device: Device, p: Pattern, ref: AttachmentRef): Promise<number> {
  const t0 = performance.now();
  const bytes = await sameBytes(p, device.attachments.download(ref));
  const ms = performance.now() - t0;
  if (bytes !== ref.size) throw new Error(`downloaded ${bytes} of ${ref.size} bytes`);
  return ms;
}

/**
 * A business and two of its customers' devices (no test-kit here: it would load the server's
 * code into this process and its memory).
 */
async function enrollDevices(url: string, adminToken: string): Promise<[Device, Device]> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const res = await fetch(`${url}/v1/admin/businesses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ id: 'media-bench', name: 'Media bench', enrollmentKeys: [{ kid: 'k1', jwk: await exportJWK(publicKey) }] }),
  });
  if (res.status !== 201) throw new Error(`creating the business: ${res.status} ${await res.text()}`);
  const enroll = async (subject: string) =>
    Device.enroll({
      serverUrl: url,
      enrollmentToken: await issueEnrollmentToken(privateKey, 'k1', { businessId: 'media-bench', subject, kind: 'customer' }),
      store: new MemoryKeyStore(),
      keyPackageBatch: 2,
      ...nodeRuntime,
    });
  return [await enroll('media-small'), await enroll('media-large')];
}

async function runClient(spec: MediaClientSpec, hooks: { onProgress: (line: string) => void; onPhase: (phase: MediaClientPhase) => Promise<void> }): Promise<MediaClientResult> {
  const p = pattern();
  const t0 = performance.now();
  // Blob quotas are per identity (1 GiB by default): the large files get their own customer.
  const [smallDevice, largeDevice] = await enrollDevices(spec.serverUrl, spec.adminToken);
  const enrollMs = performance.now() - t0;
  try {
    // Warm-up: connections, JIT, the server's blob paths.
    for (let i = 0; i < 2; i++) await download(smallDevice, p, (await upload(smallDevice, p, spec.smallBytes)).ref);
    const small = { uploadMs: [] as number[], downloadMs: [] as number[] };
    let smallCipher = 0;
    for (let r = 0; r < spec.smallRuns; r++) {
      const up = await upload(smallDevice, p, spec.smallBytes);
      small.uploadMs.push(up.ms);
      small.downloadMs.push(await download(smallDevice, p, up.ref));
      smallCipher = up.ref.cipherSize;
    }
    hooks.onProgress(`small files: ${spec.smallRuns} × ${spec.smallBytes} bytes up and down`);
    const large = { uploadMs: [] as number[], downloadMs: [] as number[] };
    let largeCipher = 0;
    for (let r = 0; r < spec.largeRuns; r++) {
      await hooks.onPhase({ at: 'start', transfer: 'upload', run: r, pid: process.pid });
      const up = await upload(largeDevice, p, spec.largeBytes);
      await hooks.onPhase({ at: 'end', transfer: 'upload', run: r, pid: process.pid });
      await hooks.onPhase({ at: 'start', transfer: 'download', run: r, pid: process.pid });
      const downMs = await download(largeDevice, p, up.ref);
      await hooks.onPhase({ at: 'end', transfer: 'download', run: r, pid: process.pid });
      large.uploadMs.push(up.ms);
      large.downloadMs.push(downMs);
      largeCipher = up.ref.cipherSize;
      hooks.onProgress(`large file ${r + 1}/${spec.largeRuns}: upload ${Math.round(up.ms)} ms, download ${Math.round(downMs)} ms`);
    }
    return { small, large, enrollMs: Math.round(enrollMs), cipherBytes: { small: smallCipher, large: largeCipher } };
  } finally {
    await Promise.all([smallDevice.close(), largeDevice.close()]);
  }
}

childMain<MediaClientSpec, MediaClientResult, MediaClientPhase>({
  moduleUrl: import.meta.url,
  file: 'media-clients.ts',
  parent: 'media.ts',
  awaitGo: true,
  withStack: true,
  run: runClient,
});

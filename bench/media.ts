/**
 * Encrypted attachments (docs/attachments.md), `npm run bench -- media [--quick] [--engine …]`:
 *
 * 1. **Crypto, no server** (bench/media-crypto.ts): MB/s of the SDK's stream encryption and
 *    verified decryption over a generated 100 MB file (16 MB with `--quick`), with node:crypto
 *    (`nodeStreamCrypto`, a Node device's default through `nodeRuntime`) and with WebCrypto +
 *    `@noble/hashes` (`webStreamCrypto`, the browser's). The peers, in the same run on the same
 *    bytes: raw AES-256-GCM on node:crypto (one `createCipheriv`, 64 KiB pieces, no hash: the
 *    physical limit), SHA-256 alone, and the format written out by hand (synchronous).
 * 2. **Transfers, per engine** (bench/media-transfer.ts): a `parley serve` process (PGlite: blobs
 *    as files; PostgreSQL: `blob_chunks` rows) and a client process with one SDK device, on
 *    loopback. Upload MB/s (`device.attachments.upload`: encrypt, 4 MiB `PATCH` segments, hash
 *    check) and download MB/s (`device.attachments.download`: `GET`, decrypt, every chunk and the
 *    hash verified, bytes compared) for 1 MB (median of 10 runs, 5 with `--quick`) and 100 MB
 *    (median of 5; 16 MB × 2 with `--quick`), and the peak RSS of the server and the client
 *    process during the large transfers against the file's size.
 *
 * Run alone: `NODE_OPTIONS=--conditions=parley-source npx tsx bench/media.ts [--quick] [--engine pglite|postgres]`.
 */
import { loadavg } from 'node:os';
import { DEFAULT_POSTGRES_URL, forEachEngine, type Engine, type EngineSkip } from './lib/engines.js';
import { runStandalone } from './lib/entry.js';
import { waitForQuiet } from './lib/machine.js';
import { MB } from './media-data.js';
import { quantile } from './lib/stats.js';
import { runMediaCrypto, type CryptoFigure, type MediaCryptoResult } from './media-crypto.js';
import { runEngineTransfers, sizeLabel, type EngineMediaResult } from './media-transfer.js';

/** The machine before a part of the run: the wait for an idle machine, the load average. */
export interface MachineLoad {
  /** `waitForQuiet`: how long it waited and the busy fraction of all cores at the end (undefined with --wait-quiet 0). */
  readonly quiet: { readonly waitedMs: number; readonly busy: number } | undefined;
  readonly loadAverage: number[];
}

export interface MediaBenchResult {
  readonly quick: boolean;
  readonly sizes: { readonly smallBytes: number; readonly smallRuns: number; readonly largeBytes: number; readonly largeRuns: number; readonly cryptoBytes: number; readonly cryptoRuns: number };
  readonly crypto: MediaCryptoResult & { readonly machine: MachineLoad };
  readonly engines: (EngineMediaResult & { readonly machine: MachineLoad })[];
  readonly skipped: EngineSkip[];
  /**
   * SDK ÷ peer (MB/s over MB/s: the median of the same-round quotients), large transfers ÷ SDK
   * crypto (medians), RSS growth ÷ file size.
   */
  readonly ratios: Record<string, number>;
  readonly notes: string[];
  /** A busy machine, skipped engines: what may make the figures low or missing. */
  readonly warnings: string[];
}

const r2 = (n: number) => Math.round(n * 100) / 100;

async function machineLoad(waitQuietMs: number, onProgress: (line: string) => void, what: string): Promise<MachineLoad> {
  let quiet: MachineLoad['quiet'];
  if (waitQuietMs > 0) {
    quiet = await waitForQuiet(waitQuietMs, { log: onProgress });
    if (quiet.busy >= 0.1) onProgress(`${what}: machine still ${Math.round(quiet.busy * 100)}% busy after ${Math.round(quiet.waitedMs / 1000)} s; running anyway`);
  }
  return { quiet, loadAverage: loadavg().map(r2) };
}

function ratiosOf(crypto: MediaCryptoResult, engines: readonly EngineMediaResult[], largeLabel: string): Record<string, number> {
  const { sdk, peer } = crypto;
  // Same-round pairs (the rounds are interleaved), then the median: drift lands on both sides.
  const vs = (a: CryptoFigure, b: CryptoFigure) => r2(quantile(a.runsMbPerSecond.map((v, i) => v / (b.runsMbPerSecond[i] ?? v)), 0.5));
  const out: Record<string, number> = {
    sdkNodeEncryptVsRawGcm: vs(sdk.nodeEncrypt, peer.rawGcmEncrypt),
    sdkNodeDecryptVsRawGcm: vs(sdk.nodeDecrypt, peer.rawGcmDecrypt),
    sdkWebEncryptVsRawGcm: vs(sdk.webEncrypt, peer.rawGcmEncrypt),
    sdkWebDecryptVsRawGcm: vs(sdk.webDecrypt, peer.rawGcmDecrypt),
    sdkNodeEncryptVsFormatByHand: vs(sdk.nodeEncrypt, peer.formatByHandEncrypt),
    formatByHandVsRawGcm: vs(peer.formatByHandEncrypt, peer.rawGcmEncrypt),
    sha256VsRawGcm: vs(peer.sha256, peer.rawGcmEncrypt),
    sdkWebEncryptVsSdkNode: vs(sdk.webEncrypt, sdk.nodeEncrypt),
    sdkWebDecryptVsSdkNode: vs(sdk.webDecrypt, sdk.nodeDecrypt),
  };
  for (const e of engines) {
    const up = e.upload[largeLabel];
    const down = e.download[largeLabel];
    if (up) out[`${e.engine}Upload${largeLabel}VsSdkEncrypt`] = r2(up.mbPerSecond / sdk.nodeEncrypt.mbPerSecond);
    if (down) out[`${e.engine}Download${largeLabel}VsSdkDecrypt`] = r2(down.mbPerSecond / sdk.nodeDecrypt.mbPerSecond);
    out[`${e.engine}ServerRssGrowthVsFile`] = r2(e.peakRss.server.growthMB / e.peakRss.fileMB);
    out[`${e.engine}ClientRssGrowthVsFile`] = r2(e.peakRss.client.growthMB / e.peakRss.fileMB);
  }
  return out;
}

/**
 * @example
 * const result = await runMediaBench({ quick: true, onProgress: console.log });
 */
export async function runMediaBench(o: { quick: boolean; engines?: readonly Engine[]; databaseUrl?: string; waitQuietMs?: number; onProgress: (line: string) => void }): Promise<MediaBenchResult> {
  const sizes = o.quick
    ? { smallBytes: MB, smallRuns: 5, largeBytes: 16 * MB, largeRuns: 2, cryptoBytes: 16 * MB, cryptoRuns: 2 }
    : { smallBytes: MB, smallRuns: 10, largeBytes: 100 * MB, largeRuns: 5, cryptoBytes: 100 * MB, cryptoRuns: 5 };
  const waitQuietMs = o.waitQuietMs ?? 60_000;
  const databaseUrl = o.databaseUrl ?? DEFAULT_POSTGRES_URL;

  const cryptoMachine = await machineLoad(waitQuietMs, o.onProgress, 'media/crypto');
  o.onProgress(`media/crypto: ${sizes.cryptoRuns} rounds over ${sizes.cryptoBytes / MB} MB (SDK node and web, raw AES-GCM, SHA-256, format by hand)`);
  const crypto = await runMediaCrypto({ size: sizes.cryptoBytes, runs: sizes.cryptoRuns, onProgress: o.onProgress });

  const { results: engines, skipped } = await forEachEngine({ section: 'media', engines: o.engines, databaseUrl, progress: o.onProgress }, async (engine) => {
    const machine = await machineLoad(waitQuietMs, o.onProgress, `media/${engine}`);
    o.onProgress(`media/${engine}: ${sizes.smallRuns} × ${sizes.smallBytes / MB} MB and ${sizes.largeRuns} × ${sizes.largeBytes / MB} MB up and down`);
    const result = await runEngineTransfers({ engine, databaseUrl, ...sizes, onProgress: o.onProgress });
    const [s, l] = [sizeLabel(sizes.smallBytes), sizeLabel(sizes.largeBytes)];
    o.onProgress(
      `media/${engine}: upload ${result.upload[s]!.mbPerSecond} / ${result.upload[l]!.mbPerSecond} MB/s, download ${result.download[s]!.mbPerSecond} / ${result.download[l]!.mbPerSecond} MB/s (${s} / ${l}); peak RSS server ${result.peakRss.server.peakMB} MB (+${result.peakRss.server.growthMB}), client ${result.peakRss.client.peakMB} MB (+${result.peakRss.client.growthMB})`,
    );
    return { ...result, machine };
  });

  const largeLabel = sizeLabel(sizes.largeBytes);
  const notes = [
    'MB = 10^6 bytes; MB/s counts plaintext bytes (the ciphertext is 16 bytes per 64 KiB chunk longer: +0.024 %)',
    'medians are nearest-rank (lib/stats.ts) over the runs; every run is in runsMbPerSecond; a crypto ratio (X vs Y) is the median of the per-round quotients X ÷ Y (the rounds interleave every operation), so it may differ a little from the quotient of the two medians',
    `crypto: in this process, no server; the file is a generated stream of 64 KiB pieces (a 1 MiB random pattern, so generating costs nothing); ${sizes.cryptoRuns} interleaved rounds after a 4 MB warm-up round`,
    'crypto peers: rawGcm* is one AES-256-GCM over the whole file (one createCipheriv, fed 64 KiB pieces, no chunk framing, no hash) — the physical limit; sha256 is node:crypto SHA-256 alone; formatByHandEncrypt is parley-stream-v1 written out with node:crypto (per chunk: createCipheriv with its nonce and AAD, tag, SHA-256 of the output), synchronously',
    'SDK decrypt verifies every chunk tag and the SHA-256 of the whole ciphertext, as a device does; the web variant is what a browser runs (WebCrypto AES-GCM, one promise per chunk; SHA-256 in JavaScript by @noble/hashes)',
    `transfers: a \`parley serve\` process (PGlite: blobs as files under its data directory; PostgreSQL: rows of blob_chunks in a fresh schema) and a client process (bench/media-clients.ts, one SDK customer device, nodeRuntime: node:crypto) on loopback; upload = device.attachments.upload (encrypt while reading, 4 MiB PATCH segments, the server's hash checked); download = device.attachments.download read to the end (GET, decrypt, chunks and hash verified) and compared byte for byte with the file; two warm-up round trips of the small file first`,
    `memory: around each ${largeLabel} upload and download the parent resets each process's VmHWM (/proc/<pid>/clear_refs = 5) and samples VmRSS every 20 ms; peak = max(VmHWM, samples), growth = peak − VmRSS just before the transfer; RSS includes the V8 heap, its garbage not yet collected, and allocator slack — the file itself would add ${largeLabel}`,
    'PostgreSQL\'s own processes hold the database\'s memory (not counted in the server process); their CPU is in cpu.*.postgres',
    'cpu: cores busy during the large transfers (CPU seconds ÷ wall seconds) of the server process (with its threads, PGlite\'s worker included), the client process, PostgreSQL, this process (the sampler) and everything else (other = the rest of the machine)',
  ];
  const warnings: string[] = [];
  for (const e of engines) {
    const other = Math.max(e.cpu.upload.other, e.cpu.download.other);
    if (other > 0.15) warnings.push(`${e.engine}: other processes used up to ${other} cores during the large transfers (the machine is shared; the figures may be low)`);
    if (e.machine.quiet && e.machine.quiet.busy >= 0.1) warnings.push(`${e.engine}: machine ${Math.round(e.machine.quiet.busy * 100)}% busy before the run (waited ${Math.round(e.machine.quiet.waitedMs / 1000)} s)`);
  }
  if (cryptoMachine.quiet && cryptoMachine.quiet.busy >= 0.1) warnings.push(`crypto: machine ${Math.round(cryptoMachine.quiet.busy * 100)}% busy before the run (waited ${Math.round(cryptoMachine.quiet.waitedMs / 1000)} s)`);
  for (const s of skipped) warnings.push(`${s.engine}: skipped (${s.reason})`);
  return { quick: o.quick, sizes, crypto: { ...crypto, machine: cryptoMachine }, engines, skipped, ratios: ratiosOf(crypto, engines, largeLabel), notes, warnings };
}

runStandalone(import.meta.url, (a, progress) => runMediaBench({ quick: a.quick, engines: a.engines, onProgress: progress, ...(a.value('--wait-quiet') !== undefined ? { waitQuietMs: Number(a.value('--wait-quiet')) * 1000 } : {}) }));

/** Console report of the media section (bench/media.ts). */
import type { MediaBenchResult } from '../media.js';
import type { CryptoFigure } from '../media-crypto.js';
import { sizeLabel, type TransferCpu } from '../media-transfer.js';
import { quantile } from '../lib/stats.js';
import { ratio, table } from './format.js';

const mbs = (n: number) => n.toFixed(1);

/**
 * Crypto MB/s against raw AES-GCM, transfer MB/s per engine and size, peak RSS, CPU.
 *
 * @example
 * printMedia(await runMediaBench({ quick: true, onProgress: console.log }));
 */
export function printMedia(r: MediaBenchResult): void {
  const { sdk, peer } = r.crypto;
  const fileMB = r.crypto.fileBytes / 1e6;
  console.log(`\nEncrypted attachments: crypto over ${fileMB} MB in this process (median of ${r.crypto.runs} interleaved rounds; MB = 10^6 bytes)`);
  // As the result's ratios: the median of the same-round quotients.
  const row = (f: CryptoFigure, base: CryptoFigure) => [f.name, mbs(f.mbPerSecond), ratio(quantile(f.runsMbPerSecond.map((v, i) => v / (base.runsMbPerSecond[i] ?? v)), 0.5))];
  console.log(
    table(
      ['operation', 'MB/s', 'vs raw GCM'],
      [
        row(peer.rawGcmEncrypt, peer.rawGcmEncrypt),
        row(peer.rawGcmDecrypt, peer.rawGcmDecrypt),
        row(peer.sha256, peer.rawGcmEncrypt),
        row(peer.formatByHandEncrypt, peer.rawGcmEncrypt),
        row(sdk.nodeEncrypt, peer.rawGcmEncrypt),
        row(sdk.nodeDecrypt, peer.rawGcmDecrypt),
        row(sdk.webEncrypt, peer.rawGcmEncrypt),
        row(sdk.webDecrypt, peer.rawGcmDecrypt),
      ],
    ),
  );
  if (r.engines.length > 0) {
    const [small, large] = [sizeLabel(r.sizes.smallBytes), sizeLabel(r.sizes.largeBytes)];
    console.log(`\nTransfers through \`parley serve\` on loopback, SDK device in its own process (MB/s; ${small}: median of ${r.sizes.smallRuns}, ${large}: median of ${r.sizes.largeRuns})`);
    console.log(
      table(
        ['engine', `upload ${small}`, `upload ${large}`, `download ${small}`, `download ${large}`, `${large} up vs SDK encrypt`, `${large} down vs SDK decrypt`],
        r.engines.map((e) => [
          e.engine,
          mbs(e.upload[small]?.mbPerSecond ?? 0),
          mbs(e.upload[large]?.mbPerSecond ?? 0),
          mbs(e.download[small]?.mbPerSecond ?? 0),
          mbs(e.download[large]?.mbPerSecond ?? 0),
          ratio((e.upload[large]?.mbPerSecond ?? 0) / sdk.nodeEncrypt.mbPerSecond),
          ratio((e.download[large]?.mbPerSecond ?? 0) / sdk.nodeDecrypt.mbPerSecond),
        ]),
      ),
    );
    console.log(`\nPeak RSS during the ${large} transfers (MB; growth = peak − RSS just before the transfer)`);
    const mem = (m: MediaBenchResult['engines'][number]['peakRss']['server']) => [`${m.baselineMB}`, `${m.uploadPeakMB} / ${m.downloadPeakMB}`, `+${m.growthMB}`];
    console.log(
      table(
        ['engine', 'file', 'server before', 'server peak up / down', 'server growth', 'client before', 'client peak up / down', 'client growth'],
        r.engines.map((e) => [e.engine, `${e.peakRss.fileMB}`, ...mem(e.peakRss.server), ...mem(e.peakRss.client)]),
      ),
    );
    const cpu = (c: TransferCpu) => `${c.server} / ${c.client} / ${c.postgres} / ${c.other}`;
    console.log(`\nCores busy during the ${large} transfers: server / client / PostgreSQL / other processes`);
    console.log(table(['engine', 'upload', 'download'], r.engines.map((e) => [e.engine, cpu(e.cpu.upload), cpu(e.cpu.download)])));
  }
  for (const w of r.warnings) console.log(`note: ${w}`);
}

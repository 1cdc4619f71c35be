/**
 * Encrypted backups (docs/backup-format.md): writing and reading a backup of N messages
 * (default 10,000, ~200 bytes of JSON each, as a history item) under a recovery key and under a
 * passphrase (Argon2id at the backup defaults, RFC 9106 m = 64 MiB, t = 3, p = 4), its size, and
 * the cost of the key derivation alone; then the same end to end on a device and a server
 * (bench/backup-device.ts: full backup, increment, restore on a new device after a reset). The peer, measured in the same run: the same items as one JSON
 * document sealed with one AES-256-GCM call (node:crypto) — no chunks, no order protection, no
 * streaming — the least any encrypted backup can cost.
 *
 * Run: `npm run bench -- backup [--quick] [--messages N]`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BackupWriter, decryptBackup, deriveBackupKeys, generateRecoveryKey, type BackupItem, type BackupSecret } from '@parley/client';
import { runDeviceBackupBench } from './backup-device.js';

export interface BackupRun {
  readonly name: string;
  readonly messages: number;
  readonly bytes: number;
  readonly chunks: number;
  readonly writeMs: number;
  readonly readMs: number;
  /** Key derivation alone (Argon2id + HKDF, or HKDF), once. */
  readonly kdfMs: number;
}

export interface BackupBenchResult {
  readonly messages: number;
  readonly runs: BackupRun[];
  readonly peer: { readonly name: string; readonly bytes: number; readonly writeMs: number; readonly readMs: number };
  readonly device: Awaited<ReturnType<typeof runDeviceBackupBench>>;
  readonly ratios: Record<string, number>;
  readonly notes: string[];
}

function history(n: number): BackupItem[] {
  return Array.from({ length: n }, (_, i) => ({
    kind: 'message',
    conversationId: 'N7nEky5FQNU6nj0PsL1dVgIuE6JicJacmk9kKXqR07I',
    id: `m${i.toString().padStart(8, '0')}`,
    direction: i % 3 === 0 ? 'out' : 'in',
    at: new Date(1_790_000_000_000 + i * 60_000).toISOString(),
    text: `Example Bank: card ending 4821 charged EUR ${(i % 997) + 0.5} at Merchant ${i % 101}. Not you? Call us.`,
  }));
}

async function measure(name: string, secret: BackupSecret, items: BackupItem[]): Promise<BackupRun> {
  let t0 = performance.now();
  const writer = await BackupWriter.create(secret);
  const kdfMs = performance.now() - t0;
  t0 = performance.now();
  const lines: string[] = [];
  for await (const line of writer.encrypt(items)) lines.push(line);
  const writeMs = performance.now() - t0 + kdfMs;
  t0 = performance.now();
  let count = 0;
  for await (const item of decryptBackup(lines, secret)) if (item.kind === 'message') count++;
  const readMs = performance.now() - t0;
  if (count !== items.length) throw new Error(`restored ${count} of ${items.length}`);
  return { name, messages: items.length, bytes: lines.reduce((n, l) => n + l.length + 1, 0), chunks: lines.length, writeMs: Math.round(writeMs), readMs: Math.round(readMs), kdfMs: Math.round(kdfMs) };
}

function peer(items: BackupItem[]): BackupBenchResult['peer'] {
  const key = randomBytes(32);
  let t0 = performance.now();
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const sealed = Buffer.concat([cipher.update(JSON.stringify(items)), cipher.final()]);
  const tag = cipher.getAuthTag();
  const writeMs = performance.now() - t0;
  t0 = performance.now();
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  const back = JSON.parse(Buffer.concat([decipher.update(sealed), decipher.final()]).toString('utf8')) as unknown[];
  const readMs = performance.now() - t0;
  if (back.length !== items.length) throw new Error('peer round trip failed');
  return { name: 'one AES-256-GCM seal of the JSON (node:crypto)', bytes: sealed.length + 28, writeMs: Math.round(writeMs * 10) / 10, readMs: Math.round(readMs * 10) / 10 };
}

/**
 * @example
 * const result = await runBackupBench({ quick: true, onProgress: console.log })
 */
export async function runBackupBench(o: { quick: boolean; onProgress: (line: string) => void; messages?: number }): Promise<BackupBenchResult> {
  const n = o.messages ?? (o.quick ? 2_000 : 10_000);
  const items = history(n);
  const runs: BackupRun[] = [];
  for (const [name, secret] of [
    ['recovery key', { recoveryKey: generateRecoveryKey() }],
    ['passphrase (Argon2id m=64 MiB t=3 p=4)', { passphrase: 'correct horse battery staple' }],
  ] as const) {
    const run = await measure(name, secret, items);
    o.onProgress(`backup/${name}: ${n} messages, ${(run.bytes / 1024).toFixed(0)} KiB in ${run.chunks} chunks, write ${run.writeMs} ms (KDF ${run.kdfMs} ms), read ${run.readMs} ms`);
    runs.push(run);
  }
  // Argon2id alone, three times (the cost a guesser pays per passphrase on this machine).
  const kdf = { name: 'argon2id', m: 64 * 1024, t: 3, p: 4, salt: 'AAAAAAAAAAAAAAAAAAAAAA' } as const;
  let t0 = performance.now();
  for (let i = 0; i < 3; i++) await deriveBackupKeys({ passphrase: `guess ${i}` }, kdf);
  const argonMs = Math.round((performance.now() - t0) / 3);
  // The key stores' lighter parameters, for comparison (OWASP's first configuration).
  const light = { name: 'argon2id', m: 19 * 1024, t: 2, p: 1, salt: 'AAAAAAAAAAAAAAAAAAAAAA' } as const;
  t0 = performance.now();
  for (let i = 0; i < 3; i++) await deriveBackupKeys({ passphrase: `guess ${i}` }, light);
  const lightMs = Math.round((performance.now() - t0) / 3);
  const device = await runDeviceBackupBench({ messages: n, onProgress: o.onProgress });
  const baseline = peer(items);
  o.onProgress(`backup/peer: ${(baseline.bytes / 1024).toFixed(0)} KiB, write ${baseline.writeMs} ms, read ${baseline.readMs} ms`);
  const recovery = runs[0]!;
  return {
    messages: n,
    runs,
    peer: baseline,
    device,
    ratios: {
      sizeVsPeer: Math.round((recovery.bytes / baseline.bytes) * 100) / 100,
      writeVsPeer: Math.round((recovery.writeMs / Math.max(baseline.writeMs, 0.1)) * 10) / 10,
      readVsPeer: Math.round((recovery.readMs / Math.max(baseline.readMs, 0.1)) * 10) / 10,
      argon2idMsPerGuess: argonMs,
      argon2idKeyStoreParamsMs: lightMs,
      deviceRestoreVsStoreCopy: Math.round((device.runs[0]!.restoreMs / Math.max(device.peer.copyMs, 1)) * 10) / 10,
    },
    notes: [
      'items: history messages of ~200 bytes of JSON each; chunks of ~256 KiB (the SDK default)',
      'write includes the key derivation; read includes it too (the reader derives from the first chunk header)',
      'base64url makes each chunk ~4/3 of its JSON; the peer stores raw bytes',
      `argon2idMsPerGuess: one Argon2id derivation at the backup defaults (m=64 MiB t=3 p=4) on this machine (${argonMs} ms) — what an offline guesser pays per passphrase, on this CPU; at the key stores' m=19 MiB t=2 p=1: ${lightMs} ms`,
      'device: FileKeyStore on a device, embedded server (PGlite on disk); restore = list + fetch both parts + check + write every record; peer = the same records copied store to store',
    ],
  };
}

/**
 * In-browser verification of the server's transparency logs with @parley/core's verifier,
 * through the public log endpoints only (the console API is not trusted for proofs):
 *
 * - the latest checkpoint (`/logs/<name>/checkpoint`), its signature checked against the log's
 *   verifier keys;
 * - an entry (its bundle `/logs/<name>/tile/entries/…`) and its RFC 9162 inclusion proof
 *   (`/v1/logs/<name>/inclusion`) against that checkpoint's root;
 * - the consistency proof (`/v1/logs/<name>/consistency`) from an earlier checkpoint (the one
 *   the page loaded, and the one this browser verified last time) to the latest.
 */
import {
  TILE_WIDTH,
  decodeEntryBundle,
  entryBundlePath,
  leafHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
  type Checkpoint,
} from '@parley/core/tlog';

/** One verification step and its outcome. */
export interface VerifyStep {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** What a verification found: every step, and the entry's text when it was fetched. */
export interface VerifyOutcome {
  readonly ok: boolean;
  readonly steps: readonly VerifyStep[];
  readonly entryText?: string;
  readonly checkpoint?: { readonly size: number; readonly root: string };
}

/** The log as the console describes it (origin and verifier keys). */
export interface LogTrust {
  readonly name: string;
  readonly origin: string;
  readonly verifierKeys: readonly string[];
}

function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

class StepFailed extends Error {}

/** A failure's reason: the verifier's stable code (when it has one) and its message. */
function reasonOf(e: unknown): string {
  const code = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : null;
  const message = e instanceof Error ? e.message : String(e);
  return code !== null ? `${code}: ${message}` : message;
}

async function get(path: string): Promise<Response> {
  const res = await fetch(path, { credentials: 'same-origin' });
  if (!res.ok) throw new StepFailed(`${path} answered HTTP ${res.status}`);
  return res;
}

async function proof(path: string): Promise<Uint8Array[]> {
  const body = (await (await get(path)).json()) as { proof?: unknown };
  if (!Array.isArray(body.proof) || !body.proof.every((p) => typeof p === 'string')) throw new StepFailed('malformed proof');
  return (body.proof as string[]).map(fromBase64);
}

/**
 * Opens a signed checkpoint note with the log's keys and parses it; throws with the reason.
 *
 * @example
 * const cp = openCheckpoint(logs[0], logs[0].checkpoint)
 */
export function openCheckpoint(log: LogTrust, note: string): Checkpoint {
  const verifiers = log.verifierKeys.map(parseVerifierKey);
  const { text } = openNote(note, verifiers);
  const cp = parseCheckpoint(text);
  if (cp.origin !== log.origin) throw new StepFailed(`checkpoint origin ${cp.origin} is not the log's origin ${log.origin}`);
  return cp;
}

const LAST_SEEN_KEY = (log: LogTrust) => `parley-console:last-checkpoint:${log.origin}`;

function lastSeen(log: LogTrust): { size: number; root: string } | null {
  try {
    const raw = localStorage.getItem(LAST_SEEN_KEY(log));
    const parsed = raw === null ? null : (JSON.parse(raw) as { size?: unknown; root?: unknown });
    return parsed !== null && typeof parsed.size === 'number' && typeof parsed.root === 'string' ? { size: parsed.size, root: parsed.root } : null;
  } catch {
    return null;
  }
}

async function consistencyStep(log: LogTrust, label: string, from: { size: number; root: Uint8Array }, to: Checkpoint): Promise<VerifyStep> {
  const name = `consistency from ${label} (size ${from.size}) to ${to.treeSize}`;
  if (from.size === 0) return { name, ok: true, detail: 'the earlier tree was empty: nothing to prove' };
  if (from.size > to.treeSize) return { name, ok: false, detail: 'the log shrank: the latest checkpoint is smaller than an earlier one' };
  const path = from.size === to.treeSize ? [] : await proof(`/v1/logs/${encodeURIComponent(log.name)}/consistency?from=${from.size}&to=${to.treeSize}`);
  const ok = verifyConsistency(from.size, to.treeSize, path, from.root, to.rootHash);
  return { name, ok, detail: ok ? `append-only: ${path.length} proof hashes verified` : 'the proof does not verify: the log rewrote history' };
}

/**
 * Verifies the log's latest checkpoint, optionally entry `index` with its inclusion proof, and
 * consistency from an earlier checkpoint (`earlier`: the one the page loaded, a bundle's) and from the last one this
 * browser verified. Never throws: a failed step carries the reason.
 *
 * @example
 * const outcome = await verifyLog(log, { note: log.checkpoint, label: 'the page checkpoint' }, 3); if (!outcome.ok) console.log(outcome.steps)
 */
export async function verifyLog(log: LogTrust, earlier: { readonly note: string; readonly label: string } | null, index: number | null): Promise<VerifyOutcome> {
  const steps: VerifyStep[] = [];
  const run = async (name: string, fn: () => Promise<string>): Promise<boolean> => {
    try {
      steps.push({ name, ok: true, detail: await fn() });
      return true;
    } catch (e) {
      steps.push({ name, ok: false, detail: reasonOf(e) });
      return false;
    }
  };
  const prefix = `/logs/${encodeURIComponent(log.name)}`;
  let latest: Checkpoint | undefined;
  let entryText: string | undefined;
  const okCheckpoint = await run('latest checkpoint signed by the log key', async () => {
    latest = openCheckpoint(log, await (await get(`${prefix}/checkpoint`)).text());
    return `size ${latest.treeSize}, root ${toBase64(latest.rootHash).slice(0, 16)}…`;
  });
  if (okCheckpoint && latest !== undefined) {
    const cp = latest;
    if (index !== null) {
      await run(`entry ${index} included (RFC 9162 inclusion proof)`, async () => {
        if (!Number.isSafeInteger(index) || index < 0) throw new StepFailed('the entry number must be a non-negative integer');
        if (index >= cp.treeSize) throw new StepFailed(`entry ${index} is beyond the tree size ${cp.treeSize}`);
        const bundleIndex = Math.floor(index / TILE_WIDTH);
        const width = Math.min(TILE_WIDTH, cp.treeSize - bundleIndex * TILE_WIDTH);
        const bytes = new Uint8Array(await (await get(`${prefix}/${entryBundlePath(bundleIndex, width)}`)).arrayBuffer());
        const entry = decodeEntryBundle(bytes, width)[index % TILE_WIDTH]!;
        entryText = new TextDecoder('utf-8', { fatal: false }).decode(entry);
        const path = await proof(`/v1/logs/${encodeURIComponent(log.name)}/inclusion?index=${index}&size=${cp.treeSize}`);
        if (!verifyInclusion(leafHash(entry), index, cp.treeSize, path, cp.rootHash)) throw new StepFailed('the inclusion proof does not verify against the checkpoint root');
        return `${path.length} proof hashes lead from the entry's leaf hash to the signed root`;
      });
    }
    if (earlier !== null) {
      await run(`${earlier.label} signed by the log key, and the log consistent since`, async () => {
        const old = openCheckpoint(log, earlier.note);
        const step = await consistencyStep(log, earlier.label, { size: old.treeSize, root: old.rootHash }, cp);
        if (!step.ok) throw new StepFailed(`${step.name}: ${step.detail}`);
        return `${step.name}: ${step.detail}`;
      });
    }
    const seen = lastSeen(log);
    if (seen !== null) {
      const step = await consistencyStep(log, 'the checkpoint this browser verified last', { size: seen.size, root: fromBase64(seen.root) }, cp).catch(
        (e: unknown): VerifyStep => ({ name: 'consistency from the last verified checkpoint', ok: false, detail: reasonOf(e) }),
      );
      steps.push(step);
    }
  }
  const ok = steps.every((s) => s.ok);
  const checkpoint = latest !== undefined ? { size: latest.treeSize, root: toBase64(latest.rootHash) } : undefined;
  if (ok && checkpoint !== undefined) {
    try {
      localStorage.setItem(LAST_SEEN_KEY(log), JSON.stringify(checkpoint));
    } catch {
      // Private mode: nothing remembered.
    }
  }
  return { ok, steps, ...(entryText !== undefined ? { entryText } : {}), ...(checkpoint !== undefined ? { checkpoint } : {}) };
}

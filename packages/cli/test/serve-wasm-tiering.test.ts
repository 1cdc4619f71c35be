/**
 * Start-up of the embedded default (issue 18): V8 optimises only PostgreSQL's really hot
 * WebAssembly (server/src/storage/wasm-tiering.ts). `parley serve` runs with V8's
 * `--trace-wasm-compilation-times`, which prints one line per compiled function with its tier
 * and module; it is started, answers `/readyz`, and stops. PGlite's module is the one with the
 * most Liftoff compilations. With the raised budget, few of its functions reach TurboFan; with
 * V8's default budget given on Node's command line (which the server leaves alone), hundreds do:
 * the control shows the trace counts what the test claims.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { V8_DEFAULT_WASM_TIERING_BUDGET } from '../../server/src/storage/wasm-tiering.js';
import { readyPort } from './serve-fixture.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

let dir: string;
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Per WebAssembly module (by its address in the trace): functions compiled by each tier. */
type Tiers = Map<string, { liftoff: number; turbofan: number }>;

function tiersOf(trace: string): Tiers {
  const tiers: Tiers = new Map();
  for (const m of trace.matchAll(/^Compiled function (0x[0-9a-f]+)#\d+ using (Liftoff|TurboFan),/gm)) {
    const entry = tiers.get(m[1]!) ?? { liftoff: 0, turbofan: 0 };
    if (m[2] === 'Liftoff') entry.liftoff++;
    else entry.turbofan++;
    tiers.set(m[1]!, entry);
  }
  return tiers;
}

/** Starts `parley serve` on a fresh data directory with these node flags, waits for `/readyz`, stops it; PGlite's module's counts. */
async function startAndStop(name: string, nodeFlags: readonly string[]): Promise<{ liftoff: number; turbofan: number }> {
  let out = '';
  const child = spawn(process.execPath, [...nodeFlags, 'packages/cli/bin/parley.js', 'serve', '--port', '0', '--data-dir', join(dir, name), '--log-level', 'warn'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await readyPort(child, () => out);
  // 'close', not 'exit': the trace's last lines may still be in the pipe when the process exits.
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  const modules = [...tiersOf(out).values()].sort((a, b) => b.liftoff - a.liftoff);
  // PostgreSQL: thousands of functions compiled (lazily, by Liftoff) to open and serve.
  expect(modules[0]?.liftoff ?? 0, 'the trace lists PGlite\'s functions').toBeGreaterThan(1_000);
  return modules[0]!;
}

describe('parley serve on the embedded default: V8 optimises little of PGlite while it starts', () => {
  it('leaves PGlite on Liftoff through a start and a stop; V8\'s default budget (the operator\'s choice, kept) optimises hundreds of functions', async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-wasm-tiering-'));
    const trace = '--trace-wasm-compilation-times';
    const raised = await startAndStop('raised', [trace]);
    const control = await startAndStop('default', [trace, `--wasm-tiering-budget=${V8_DEFAULT_WASM_TIERING_BUDGET}`]);
    expect(control.turbofan, 'with V8\'s default budget').toBeGreaterThan(100);
    expect(raised.turbofan, `optimised with the raised budget (default budget: ${control.turbofan})`).toBeLessThan(40);
  }, 180_000);
});

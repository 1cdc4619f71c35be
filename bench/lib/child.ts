/**
 * Load generators in their own process, so that client work never shares the server's
 * event loop: the parent writes a spec file and forks `bench/<file>.ts <spec.json>` under
 * tsx with an IPC channel; the child reports progress lines, phases and one result.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from './entry.js';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(benchDir, '..');

/** Messages from a load-generator child to its parent. */
export type ChildMessage<R, P> =
  | { type: 'progress'; line: string }
  | { type: 'phase'; phase: P }
  | { type: 'result'; result: R }
  | { type: 'failed'; message: string };

/** The go-ahead a child waits for after reporting a phase (`awaitGo`). */
export type GoMessage = { type: 'go' };

/** What the parent may do while handling a phase. */
export interface ChildControl {
  /** Lets a child that waits after its phase (`awaitGo`) go on. */
  go(): void;
  /** Records a failure and kills the child (the run then rejects with it). */
  fail(message: string): void;
}

/**
 * Forks `bench/<file>` with the spec file and resolves with the child's result once it
 * exits. Rejects with `<failedLabel> failed: <message>` when the child reports a failure,
 * or `<processLabel> exited with code <code> without a result`.
 *
 * @example
 * const result = await runChild<ReplayResult, ReplayPhase>({ file: 'audit-clients.ts', specPath, failedLabel: 'replay', processLabel: 'replay process', onProgress: log, onPhase });
 */
export function runChild<R, P>(o: {
  file: string;
  specPath: string;
  failedLabel: string;
  processLabel: string;
  onProgress: (line: string) => void;
  onPhase: (phase: P, control: ChildControl) => void;
}): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const child = fork(join(benchDir, o.file), [o.specPath], {
      cwd: repoRoot,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: R | undefined;
    let failure: string | undefined;
    const control: ChildControl = {
      go: () => {
        const m: GoMessage = { type: 'go' };
        child.send(m);
      },
      fail: (message) => {
        failure = message;
        child.kill();
      },
    };
    child.on('message', (m: ChildMessage<R, P>) => {
      if (m.type === 'progress') o.onProgress(m.line);
      else if (m.type === 'phase') o.onPhase(m.phase, control);
      else if (m.type === 'result') result = m.result;
      else failure = m.message;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(failure !== undefined ? `${o.failedLabel} failed: ${failure}` : `${o.processLabel} exited with code ${code} without a result`));
    });
  });
}

/**
 * The child side: when `moduleUrl` is the process's entry file, reads the spec named on
 * the command line, runs `run` with hooks that report to the parent, sends the result
 * (waiting until IPC has taken it: results can be large) and disconnects. With `awaitGo`,
 * each phase waits for the parent's go-ahead. Without an IPC channel it says so on
 * stderr (exit code 2).
 *
 * @example
 * childMain<ReplaySpec, ReplayResult, ReplayPhase>({ moduleUrl: import.meta.url, file: 'audit-clients.ts', parent: 'audit.ts', run: (spec, hooks) => runReplay(spec, hooks) });
 */
export function childMain<S, R, P>(o: {
  moduleUrl: string;
  file: string;
  parent: string;
  awaitGo?: boolean;
  /** Report a failure with its stack (default: the message alone). */
  withStack?: boolean;
  run: (spec: S, hooks: { onProgress: (line: string) => void; onPhase: (phase: P) => Promise<void> }) => Promise<R>;
}): void {
  if (!isMain(o.moduleUrl)) return;
  if (!process.send) {
    console.error(`bench/${o.file} runs as a child of bench/${o.parent} (needs an IPC channel)`);
    process.exitCode = 2;
    return;
  }
  const send = (m: ChildMessage<R, P>) =>
    new Promise<void>((resolve) => {
      if (!process.send) resolve();
      else process.send(m, undefined, {}, () => resolve());
    });
  const specPath = process.argv[2];
  if (!specPath) throw new Error(`usage: ${o.file} <spec.json>`);
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as S;
  let go: (() => void) | undefined;
  if (o.awaitGo === true) {
    process.on('message', (m: GoMessage) => {
      if (m.type === 'go') go?.();
    });
  }
  o.run(spec, {
    onProgress: (line) => void send({ type: 'progress', line }),
    onPhase: (phase) => {
      if (o.awaitGo !== true) return send({ type: 'phase', phase });
      return new Promise<void>((resolve) => {
        go = resolve;
        void send({ type: 'phase', phase });
      });
    },
  })
    .then((result) => send({ type: 'result', result }))
    .catch((error: unknown) => send({ type: 'failed', message: error instanceof Error ? ((o.withStack === true ? error.stack : undefined) ?? error.message) : String(error) }))
    .finally(() => process.disconnect?.());
}

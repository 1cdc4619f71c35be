/**
 * The way the README says to run the server stops cleanly: the command is spawned as a
 * real process tree, and after SIGTERM or SIGINT to the spawned process every process of
 * its tree (npm, its shell, node, tsx's esbuild) is gone within seconds and the port is
 * closed. `npx parley serve` is checked with SIGTERM too: npm passes the signal only to
 * its `sh -c`, which dies and used to leave the server running as an orphan.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { listeningPort } from './serve-fixture.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** Exactly as the README's Configuration section writes it. */
const DOCUMENTED = 'node_modules/.bin/parley serve';

const dirs: string[] = [];
const started: number[] = [];

afterEach(() => {
  // A failed test must not leave servers behind: kill what is left of the trees it started.
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** pid → [ppid, state] of every process, from /proc. */
function processTable(): Map<number, { ppid: number; state: string }> {
  const table = new Map<number, { ppid: number; state: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command (field 2) may hold spaces and parentheses: split after the last ')'.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), { ppid: Number(ppid), state: state! });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

function tree(root: number): number[] {
  const table = processTable();
  const pids = [root];
  for (let i = 0; i < pids.length; i++) {
    for (const [pid, p] of table) if (p.ppid === pids[i] && !pids.includes(pid)) pids.push(pid);
  }
  return pids;
}

/** Still running (an exited child not yet reaped by its new parent is a zombie: not running). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startServer(command: string, args: string[]): Promise<{ child: ChildProcess; port: number; output: () => string; drained: () => Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-signals-'));
  dirs.push(dataDir);
  const child = spawn(command, [...args, '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child.pid!);
  let out = '';
  // Closed once both pipes are drained: a process tree can be gone while its last lines are still in the pipe.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const port = await listeningPort(child, () => out);
  const drained = () => Promise.race([closed, new Promise<void>((resolve) => setTimeout(resolve, 10_000))]);
  return { child, port, output: () => out, drained };
}

/**
 * Signals the spawned process only; resolves with the processes of its tree still running
 * after `ms`. (Once none is left, none holds the port: whether the port answers afterwards
 * says nothing, since a server of another test running in parallel may be given it.)
 */
async function stopWith(child: ChildProcess, port: number, signal: NodeJS.Signals, ms = 15_000): Promise<{ before: number[]; left: number[] }> {
  const before = tree(child.pid!);
  started.push(...before.slice(1));
  expect(await portOpen(port)).toBe(true);
  child.kill(signal);
  const deadline = Date.now() + ms;
  let left = before.filter(running);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = before.filter(running);
  }
  return { before, left };
}

describe.skipIf(process.platform !== 'linux')('stopping `parley serve` with a signal', () => {
  it('the README documents the command this file runs', async () => {
    expect(await readFile(join(REPO, 'README.md'), 'utf8')).toContain(DOCUMENTED);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(`${DOCUMENTED}: %s stops every process of the tree (none is left to hold the port)`, async (signal) => {
    const [bin, ...args] = DOCUMENTED.split(' ');
    const s = await startServer(join(REPO, bin!), args);
    const r = await stopWith(s.child, s.port, signal);
    expect(r.left, `still running: ${r.left.join(', ')} of ${r.before.join(', ')}\n${s.output()}`).toEqual([]);
    await s.drained();
    expect(s.output()).toContain(`parley: ${signal} received, draining and stopping`);
    expect(s.output()).toContain('parley stopped');
  }, 120_000);

  it('npx parley serve: SIGTERM to npx also stops the server behind npm’s shell', async () => {
    const s = await startServer('npx', ['parley', 'serve']);
    const r = await stopWith(s.child, s.port, 'SIGTERM');
    // npm, sh -c, node and esbuild: the server is a grandchild of the process signalled.
    expect(r.before.length).toBeGreaterThanOrEqual(3);
    expect(r.left, `still running: ${r.left.join(', ')} of ${r.before.join(', ')}\n${s.output()}`).toEqual([]);
    await s.drained();
    expect(s.output()).toContain('parley: SIGTERM received, draining and stopping');
  }, 120_000);
});

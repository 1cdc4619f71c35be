/**
 * Broker instances for the cluster benchmark: a private nats-server or mosquitto per run
 * (fresh process: a clean memory baseline, no other user's traffic), or the machine's.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { sleep } from '../lib/async.js';
import { pidsByComm } from '../lib/machine.js';

/**
 * A run tag: `<prefix><time><random>` in base 36 (NATS prefixes, subjects, streams).
 *
 * @example
 * tag('pb'); // 'pbm3x1k21a2b'
 */
export function tag(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
}

/** A running broker and how to stop it. */
export interface Broker {
  readonly url: string;
  readonly pid: number;
  /** The process name in /proc (CPU and memory are read there). */
  readonly comm: string;
  /** Started by this benchmark (false: the machine's shared instance, given by URL). */
  readonly private: boolean;
  stop(): Promise<void>;
}

/**
 * A free TCP port on 127.0.0.1.
 *
 * @example
 * const port = await freePort();
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * A private nats-server or mosquitto on a free port (fresh process: a clean memory
 * baseline, and no other user's traffic), with the same options as the machine's
 * instance; or the machine's instance when `sharedUrl` is given.
 *
 * @example
 * const nats = await startBroker('nats', tmp, undefined);
 */
export async function startBroker(kind: 'nats' | 'mqtt', tmp: string, sharedUrl: string | undefined): Promise<Broker> {
  const comm = kind === 'nats' ? 'nats-server' : 'mosquitto';
  if (sharedUrl) {
    const pid = (await pidsByComm(comm))[0];
    if (pid === undefined) throw new Error(`--${kind}-url given but no ${comm} process on this machine (memory and CPU are read from /proc)`);
    return { url: sharedUrl, pid, comm, private: false, stop: async () => {} };
  }
  const port = await freePort();
  const dir = await mkdtemp(join(tmp, `${comm}-`));
  let args: string[];
  if (kind === 'nats') {
    args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir];
  } else {
    const conf = join(dir, 'mosquitto.conf');
    // The machine's configuration, minus the periodic snapshot (persistence) and the log file.
    await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\nmax_connections -1\n`);
    args = ['-c', conf];
  }
  const child = spawn(kind === 'nats' ? '/usr/sbin/nats-server' : '/usr/sbin/mosquitto', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('error', (e) => (err += String(e)));
  const deadline = Date.now() + 10_000;
  while (!(await reachable(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${comm} did not start on port ${port}: ${err}`);
    await sleep(50);
  }
  return {
    url: `${kind === 'nats' ? 'nats' : 'mqtt'}://127.0.0.1:${port}`,
    pid: child.pid!,
    comm,
    private: true,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]))) child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

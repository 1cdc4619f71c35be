/** A `parley gateway` instance in its own process (so a test can `kill -9` it). */
import { spawn, type ChildProcess } from 'node:child_process';

export const BIN = new URL('../../cli/bin/parley.js', import.meta.url).pathname;

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns `parley gateway` and resolves once it listens.
 *
 * @example
 * const a = await spawnGateway(['--database-url', url, '--database-schema', schema, '--key-file', keyFile, '--port', '0'])
 */
export async function spawnGateway(args: readonly string[], env: Record<string, string> = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [BIN, 'gateway', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${out}`)), 60_000);
    const onData = () => {
      const m = /parley gateway listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited ${code}: ${out}`));
    });
  });
  return { url, child, output: () => out, kill };
}

/** A `parley gateway` instance in its own process (so a test can `kill -9` it). */
import { spawnListening, type ListeningProcess } from '@parley/test-kit/process';

export const BIN = new URL('../../cli/bin/parley.js', import.meta.url).pathname;

export type GatewayProcess = ListeningProcess;

/**
 * Spawns `parley gateway` and resolves once it listens.
 *
 * @example
 * const a = await spawnGateway(['--database-url', url, '--database-schema', schema, '--key-file', keyFile, '--port', '0'])
 */
export function spawnGateway(args: readonly string[], env: Record<string, string> = {}): Promise<GatewayProcess> {
  return spawnListening([BIN, 'gateway', ...args], { what: 'parley gateway', env });
}

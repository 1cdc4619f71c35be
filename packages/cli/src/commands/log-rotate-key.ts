/**
 * `parley log rotate-key --key-dir DIR --log keys|audit [--finish] [--json]`: the operator's
 * offline step of a transparency-log key rotation (docs/log-key-rotation.md).
 *
 * Without `--finish`: creates the next key `tlog-<log>.next.key` (0600) once. Every node
 * that (re)starts with it signs checkpoints with both keys (the current key first) and
 * publishes the announcement, signed by both, at `/logs/<log>/key-rotations`.
 * With `--finish`: the next key becomes current; the old key file is kept as
 * `tlog-<log>.retired-<key id>.key`. Nodes share the key directory and pick each step up
 * when they (re)start: restart every node after each step.
 */
import { isParleyError } from '@parley/core';
import { finishKeyRotation, startKeyRotation } from '@parley/server';
import { parseFlags } from '../args.js';
import { EXIT, UsageError, jsonResult, reportError, type ExitCode } from '../errors.js';

/**
 * Usage line of `parley log rotate-key`.
 *
 * @example
 * io.out(ROTATE_KEY_USAGE);
 */
export const ROTATE_KEY_USAGE = `  parley log rotate-key --key-dir DIR --log keys|audit [--finish] [--json]`;

/**
 * `parley log rotate-key …`; returns the exit code (1 when a key file refuses, 2 on usage).
 *
 * @example
 * process.exitCode = await runRotateKey(['--key-dir', '/var/lib/parley/keys', '--log', 'audit'], io);
 */
export async function runRotateKey(argv: readonly string[], io: { out(line: string): void; err(line: string): void }): Promise<ExitCode> {
  const flags = parseFlags(argv, {
    'key-dir': { type: 'string' },
    log: { type: 'string' },
    finish: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  const dir = flags['key-dir'];
  if (!dir) throw new UsageError(`--key-dir is required\n${ROTATE_KEY_USAGE}`);
  const log = flags.log;
  if (log !== 'keys' && log !== 'audit') throw new UsageError(`--log must be keys or audit\n${ROTATE_KEY_USAGE}`);
  const json = flags.json === true;
  try {
    if (flags.finish === true) {
      const done = await finishKeyRotation(dir, log);
      if (json) io.out(jsonResult({ log, finished: true, ...done }));
      else {
        io.out(`log ${log}: the next key is now current: ${done.current}`);
        io.out(`the old key ${done.previous} is kept in ${done.retired}`);
        io.out('restart every node: from then on checkpoints are signed by the new key alone');
      }
    } else {
      const started = await startKeyRotation(dir, log);
      if (json) io.out(jsonResult({ log, finished: false, ...started }));
      else {
        io.out(started.created ? `log ${log}: next key created: ${started.next}` : `log ${log}: a rotation is already in progress; next key: ${started.next}`);
        io.out(`current key: ${started.current}`);
        io.out(`restart every node: checkpoints then carry both signatures and /logs/${log}/key-rotations announces the next key; then run with --finish and restart again`);
      }
    }
    return EXIT.ok;
  } catch (error) {
    if (isParleyError(error)) return reportError(error, { json, ...io, prefix: 'parley log rotate-key' });
    throw error;
  }
}

/**
 * `parley log list | verify`: the command line (flags, output lines, exit codes) of the
 * transparency-log monitor. What `verify` checks, and how it keeps its trust per origin and
 * verifier key, is described in log-verify.ts; the state file is log-state.ts.
 */
import { TILE_WIDTH } from '@parley/core/tlog';
import { parseFlags, parseServerUrl } from '../args.js';
import { EXIT, UsageError, jsonResult, reportError, type ExitCode } from '../errors.js';
import { VerifyError } from './log-http.js';
import { fetchLogList, type ListedLog } from './log-list.js';
import { verifyLog } from './log-verify.js';
import { ROTATE_KEY_USAGE, runRotateKey } from './log-rotate-key.js';

export { defaultStateFile, stateEntries, stateUrl, type LogState } from './log-state.js';
export type { VerifyFailureReason } from './log-http.js';
export { fetchLogList, type ListedLog } from './log-list.js';
export { verifyLog, type VerifyCheck, type VerifyOptions, type VerifyResult } from './log-verify.js';

/** Where `parley log` writes its lines (stdout and stderr by default; tests capture them). */
export interface LogIo {
  out(line: string): void;
  err(line: string): void;
}

const processIo: LogIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * Usage lines of `parley log`, with what verify and rotate-key do.
 *
 * @example
 * io.out(`Usage:\n${LOG_USAGE}`);
 */
export const LOG_USAGE = `  parley log list   --url URL [--json]
  parley log verify --url URL [--log keys] [--key VERIFIER_KEY] [--state FILE] [--json]
${ROTATE_KEY_USAGE.trimStart()}

verify checks the log's signed checkpoint, every tile and entry bundle against it, and its
consistency with the checkpoint verified last time (state: ~/.parley/log-state.json, one
entry per log origin and verifier key, with the URLs it was verified at).
Pass --key (the log's verifier key, obtained out of band): without it the key is the one
the server lists, and the result says it is NOT verified ('!', "pinned": false).
A checkpoint signed by a key verify does not trust yet is accepted only when an announcement
at <prefix>/key-rotations, signed by a trusted key and the new key, names it ("key rotated");
otherwise the check fails with unannounced_key_change.

rotate-key (offline, on the key directory the nodes share) creates the log's next key; every
node restarted with it signs checkpoints with both keys and announces the next key. --finish
makes it current and keeps the old key file as tlog-<log>.retired-<id>.key; restart again.`;

const USAGE = `Usage:\n${LOG_USAGE}`;

/** `--url` (or PARLEY_URL): required, an http(s) URL. */
function serverUrlOf(flag: string | undefined): string {
  const url = flag ?? process.env['PARLEY_URL'];
  if (!url) throw new UsageError(`--url is required\n\n${USAGE}`);
  return parseServerUrl(url, flag === undefined ? 'PARLEY_URL' : '--url');
}

/** `parley log list`: one line per log (name, origin, prefix, verifier key), or JSON. */
async function runList(argv: readonly string[], io: LogIo): Promise<ExitCode> {
  const flags = parseFlags(argv, { url: { type: 'string' }, json: { type: 'boolean', default: false } });
  const url = serverUrlOf(flags.url);
  let logs: ListedLog[];
  try {
    logs = await fetchLogList(url);
  } catch (error) {
    if (error instanceof VerifyError) {
      // The named reason (unreachable, bad_response) is the error's code.
      return reportError({ code: error.reason, message: error.message }, { json: flags.json === true, ...io, prefix: 'parley log list' });
    }
    throw error;
  }
  if (flags.json === true) io.out(jsonResult({ logs }));
  else for (const l of logs) io.out(`${l.name}\t${l.origin}\t${l.prefix}\t${l.verifierKey}`);
  return EXIT.ok;
}

/** `parley log verify`: a line per check as it is made (✓, ! or ✗), then the verdict; or one JSON result. */
async function runVerify(argv: readonly string[], io: LogIo): Promise<ExitCode> {
  const flags = parseFlags(argv, {
    url: { type: 'string' },
    log: { type: 'string', default: 'keys' },
    key: { type: 'string' },
    state: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const url = serverUrlOf(flags.url);
  const json = flags.json === true;
  let lastProgress = 0;
  const result = await verifyLog({
    url,
    log: flags.log ?? 'keys',
    ...(flags.key === undefined ? {} : { key: flags.key }),
    ...(flags.state === undefined ? {} : { stateFile: flags.state }),
    onCheck: (c) => {
      if (!json) io.out(`${!c.ok ? '✗' : c.warning === true ? '!' : '✓'} ${c.name}: ${c.detail}`);
    },
    onProgress: (done, total) => {
      // Long logs: a line per second on stderr.
      if (total > 10 * TILE_WIDTH && (Date.now() - lastProgress > 1000 || done === total)) {
        lastProgress = Date.now();
        io.err(`… ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} entries verified`);
      }
    },
  });
  // On failure, the named reason is also the error's code (the fields of the result stay as they are).
  if (json) io.out(JSON.stringify(result.failure ? { ...result, error: { code: result.failure.reason, message: result.failure.message } } : result));
  else if (result.ok) io.out(`OK: log ${result.log} (${result.origin}) verified at size ${result.treeSize}, root ${result.rootHash}${result.pinned ? '' : '; its verifier key is NOT verified (trust on first use)'}`);
  else io.out(`FAILED (${result.failure!.reason}): ${result.failure!.message}`);
  if (result.ok && !result.pinned && !json) io.err('warning: the verifier key was taken from the server (trust on first use); pass --key with a key obtained out of band');
  return result.ok ? EXIT.ok : EXIT.failure;
}

/**
 * `parley log …`; returns the exit code.
 *
 * @example
 * process.exitCode = await runLog(['verify', '--url', 'http://127.0.0.1:8080']);
 */
export async function runLog(argv: readonly string[], io: LogIo = processIo): Promise<ExitCode> {
  const [sub, ...rest] = argv;
  if (sub === 'list') return runList(rest, io);
  if (sub === 'verify') return runVerify(rest, io);
  if (sub === 'rotate-key') return runRotateKey(rest, io);
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (sub === undefined) throw new UsageError(`a subcommand is required\n\n${USAGE}`);
  throw new UsageError(`unknown subcommand 'log ${sub}'\n\n${USAGE}`);
}

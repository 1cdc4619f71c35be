/**
 * The CLI's own errors and its exit codes. Every error the CLI raises itself carries one
 * of the {@link CliErrorCode}s; errors from the SDK, the server and core keep their own
 * `ParleyError` codes. `main` prints `parley: [code] message` on stderr (with `--json`:
 * `{"ok":false,"error":{"code","message"}}` on stdout) and maps the error to an exit code:
 * 2 for a usage error, 1 for anything else (docs/cli.md).
 */

/**
 * Exit codes of `parley`: 0 success, 1 failure (a check failed, a step failed, an error),
 * 2 usage (bad command line or configuration).
 *
 * @example
 * return report.ok ? EXIT.ok : EXIT.failure;
 */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * One of `parley`'s exit codes.
 *
 * @example
 * const code: ExitCode = await main(process.argv.slice(2));
 */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The codes of the errors the CLI raises itself:
 * - `usage`: a bad command line or configuration (flags, files, environment); exit 2;
 * - `insecure_file`: a secret file or private directory that other users can read or enter; exit 1;
 * - `bad_state_file`: a monitor state file that cannot be used (reported as the check `bad_state`);
 * - `log_check_failed`: a transparency log failed a check (reported as the check's named reason, `fork`, `rollback`, …);
 * - `scenario_failed`: a step of the demo scenario failed (reported as a failed step);
 * - `escrow_check_failed`: what the server returned for an escrow request, approval or opening does not check out (key id, request, approvals, commitment).
 *
 * @example
 * if (isCliError(error) && error.code === 'usage') return EXIT.usage;
 */
export type CliErrorCode = 'usage' | 'insecure_file' | 'bad_state_file' | 'log_check_failed' | 'scenario_failed' | 'escrow_check_failed';

/**
 * Base of the CLI's own errors: a literal `code`, and the `cause` kept.
 *
 * @example
 * class MyError extends CliError { readonly code = 'usage' as const; }
 */
export abstract class CliError extends Error {
  abstract readonly code: CliErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A bad command line or configuration: `parley` prints it and exits 2.
 *
 * @example
 * if (!flags.url) throw new UsageError('--url is required');
 */
export class UsageError extends CliError {
  readonly code = 'usage';
}

/**
 * Whether `error` is one of the CLI's own errors.
 *
 * @example
 * if (isCliError(error)) console.error(error.code);
 */
export function isCliError(error: unknown): error is CliError {
  return error instanceof CliError;
}

/**
 * The exit code for an error that ended a command: 2 for a usage error, 1 otherwise.
 *
 * @example
 * return exitCodeFor(error);
 */
export function exitCodeFor(error: unknown): ExitCode {
  return error instanceof UsageError ? EXIT.usage : EXIT.failure;
}

/**
 * The machine-readable code of an error: its own string `code` (the CLI's, or a
 * ParleyError's — the server's code for a refused request), else `internal_error`.
 *
 * @example
 * errorCodeOf(new UsageError('--url is required')) // 'usage'
 */
export function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && code.length > 0 ? code : 'internal_error';
}

/** The message of an error (its `message`, else its string form). */
function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : String(error);
}

/**
 * What every `--json` failure prints: `{ ok: false, error: { code, message } }` (one object on stdout).
 *
 * @example
 * process.stdout.write(`${JSON.stringify(errorJson(new UsageError('--url is required')))}\n`);
 */
export interface JsonFailure {
  readonly ok: false;
  readonly error: { readonly code: string; readonly message: string };
}

/**
 * The `--json` form of an error that ended a command.
 *
 * @example
 * errorJson(new UsageError('--url is required')) // { ok: false, error: { code: 'usage', message: '--url is required' } }
 */
export function errorJson(error: unknown): JsonFailure {
  return { ok: false, error: { code: errorCodeOf(error), message: error instanceof UsageError ? withoutUsage(error.message) : messageOf(error) } };
}

/** A usage error's message without the usage text appended to it for people (`--help` prints that). */
function withoutUsage(message: string): string {
  const lines = message.split('\n');
  const end = lines.findIndex((l) => /^(Usage:|\s*parley )/.test(l));
  const own = (end < 0 ? lines : lines.slice(0, end)).join('\n').trim();
  return own === '' ? 'bad command line: --help shows the usage' : own;
}

/**
 * One `--json` result line: `ok` first (true unless `value` says otherwise), then the
 * command's own fields, unchanged.
 *
 * @example
 * io.out(jsonResult({ logs })); // {"ok":true,"logs":[…]}
 */
export function jsonResult(value: object, ok = true): string {
  return JSON.stringify({ ok, ...value });
}

/**
 * Whether the command line asks for JSON output (`--json` before any `--`).
 *
 * @example
 * wantsJson(['log', 'list', '--url', url, '--json']) // true
 */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * Reports an error that ended a command and returns its exit code: with `json`, one
 * {@link errorJson} object on `out` (stdout); otherwise `<prefix>: [code] message` on `err`.
 *
 * @example
 * return reportError(error, { json: wantsJson(argv), out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) });
 */
export function reportError(error: unknown, io: { json: boolean; out(line: string): void; err(line: string): void; prefix?: string }): ExitCode {
  if (io.json) io.out(JSON.stringify(errorJson(error)));
  else io.err(`${io.prefix ?? 'parley'}: ${describeError(error)}`);
  return exitCodeFor(error);
}

/**
 * The line `parley` prints for an error that ended a command: `[code] message` when the
 * error carries a string code (the CLI's own, or a ParleyError's), else the message.
 *
 * @example
 * process.stderr.write(`parley: ${describeError(error)}\n`);
 */
export function describeError(error: unknown): string {
  const e = error as { code?: unknown } | null | undefined;
  return `${typeof e?.code === 'string' ? `[${e.code}] ` : ''}${messageOf(error)}`;
}

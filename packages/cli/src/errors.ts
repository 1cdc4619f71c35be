/**
 * The CLI's own errors and its exit codes. Every error the CLI raises itself carries one
 * of the {@link CliErrorCode}s; errors from the SDK, the server and core keep their own
 * `ParleyError` codes. `main` prints `parley: [code] message` and maps the error to an
 * exit code: 2 for a usage error, 1 for anything else.
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
 * The line `parley` prints for an error that ended a command: `[code] message` when the
 * error carries a string code (the CLI's own, or a ParleyError's), else the message.
 *
 * @example
 * process.stderr.write(`parley: ${describeError(error)}\n`);
 */
export function describeError(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown } | null | undefined;
  return `${typeof e?.code === 'string' ? `[${e.code}] ` : ''}${typeof e?.message === 'string' ? e.message : String(error)}`;
}

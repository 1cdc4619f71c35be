/** Strict flag parsing shared by the commands (unknown flags are errors). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

/**
 * The flag values `parseFlags` returns for `options` (named, so the declaration files can spell it).
 *
 * @example
 * type Flags = ParsedFlags<{ json: { type: 'boolean' } }>; // { json?: boolean }
 */
export type ParsedFlags<T extends NonNullable<ParseArgsConfig['options']>> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>
>['values'];

/**
 * Parses `argv` strictly against `options`; any problem is a {@link UsageError} (exit 2).
 *
 * @example
 * const flags = parseFlags(argv, { url: { type: 'string' }, json: { type: 'boolean', default: false } });
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: readonly string[], options: T): ParsedFlags<T> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * A TCP port (0–65535) from a flag or the environment, or `fallback` when absent.
 *
 * @example
 * parsePort(flags.port ?? process.env['PORT'], 8080);
 */
export function parsePort(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`invalid port '${value}'`);
  return n;
}

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
    return parseArgs({ args: attachDashValues(argv, options), options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Rewrites `--name value` to `--name=value` where `name` takes a string and `value`
 * begins with a dash but is not one of the flags: node's parseArgs refuses such a value
 * as ambiguous, and ids are base64url (`-` is one of its characters), so one message id
 * in 64 begins with one.
 */
function attachDashValues(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const flags = new Set<string>();
  for (const [name, option] of Object.entries(options)) {
    flags.add(`--${name}`);
    if (option.short !== undefined) flags.add(`-${option.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    const takesString = name !== undefined && !name.includes('=') && options[name]?.type === 'string';
    if (takesString && next !== undefined && next.startsWith('-') && next !== '--' && !flags.has(next.split('=')[0]!)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
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

/**
 * A server URL given with `flag` (`--url`, `--server`, …): `http://` or `https://` with a
 * host, returned without trailing slashes. Anything else — notably `127.0.0.1:8080` without
 * a scheme, which fetch would report as unreachable — is a {@link UsageError} naming the flag.
 *
 * @example
 * const base = parseServerUrl(flags.url, '--url'); // 'http://127.0.0.1:8080'
 */
export function parseServerUrl(value: string, flag: string): string {
  const trimmed = value.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new UsageError(`${flag} '${value}' has no scheme: write http://${trimmed} (or https://…)`);
  }
  if (!/^https?:\/\//i.test(trimmed)) throw new UsageError(`${flag} '${value}' must be an http:// or https:// URL`);
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new UsageError(`${flag} '${value}' is not a URL`);
  }
  if (url.hostname === '' || /\s/.test(trimmed)) throw new UsageError(`${flag} '${value}' is not a URL`);
  return trimmed.replace(/\/+$/, '');
}

/**
 * pino's level names, most verbose first, and `silent`. Written out rather than read from
 * pino, which `parley serve` would otherwise load before it starts opening the embedded
 * database (issue 18); test/args.test.ts checks the list against pino's.
 */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A log level given with `flag`: one of pino's ({@link LOG_LEVELS}); anything else is a
 * {@link UsageError} listing them.
 *
 * @example
 * const level = parseLogLevel(flags['log-level'] ?? 'info', '--log-level'); // 'info'
 */
export function parseLogLevel(value: string, flag: string): LogLevel {
  const level = LOG_LEVELS.find((name) => name === value);
  if (level === undefined) throw new UsageError(`${flag} '${value}' is not a log level: use one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

/**
 * Whether a command's arguments ask for its help: `--help` or `-h` anywhere before `--`,
 * or `help` as the first argument.
 *
 * @example
 * wantsHelp(['verify', '--url', url, '--help']) // true
 */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  const before = end < 0 ? args : args.slice(0, end);
  return before[0] === 'help' || before.includes('--help') || before.includes('-h');
}

/**
 * `--help` for every command and subcommand of `parley`, and `--version`. Each command's
 * usage text is its own module's; a subcommand's help is its lines of that text (or the
 * whole of it). `main` answers `--help`/`-h` anywhere on a command line (before `--`)
 * with this text on stdout and exit 0, before the command parses anything (docs/cli.md).
 */
import { readFileSync } from 'node:fs';
import { ADMIN_USAGE } from './commands/admin.js';
import { AUDIT_EXPORT_USAGE } from './commands/audit-export.js';
import { AUDIT_MONITOR_USAGE } from './commands/audit-monitor.js';
import { AUDIT_VERIFY_HELP, AUDIT_VERIFY_USAGE } from './commands/audit-verify.js';
import { ESCROW_USAGE } from './commands/escrow.js';
import { KEYS_USAGE } from './commands/keys.js';
import { LOG_USAGE } from './commands/log.js';

// In args.ts (main.ts needs it before loading any command or this module's usage texts).
export { wantsHelp } from './args.js';

const SERVE_USAGE = `  parley serve [--port N] [--host H] [--data-dir DIR | --database-url URL --key-dir DIR] [--log-origin ORIGIN]
               [--admin-token-file FILE] [--node-id ID] [--nats-url URL [--nats-prefix P]] [--db-pool-size N] [--routing FILE] [--log-level L]
               [--metrics-listen HOST:PORT | --metrics-token-file FILE] [--max-connections-per-ip N] [--request-timeout S]
               [--otlp-endpoint URL]   (traces over OTLP/HTTP; else OTEL_EXPORTER_OTLP_ENDPOINT; none: tracing off)
               [--allowed-origins https://app.example[,https://…]]   (web origins that may call the API; default same-origin only)
               [--signer 'pkcs11:token=T?pin-source=file:/PIN_FILE' [--migrate-vrf-key]]   (log keys in a PKCS#11 token; the VRF key wrapped by it)`;

const DEMO_USAGE = `  parley demo  [--json] [--data-dir DIR] [--server URL[,URL2,…] [--admin-token T]]`;

const GATEWAY_USAGE = `  parley gateway init --server URL --business ID [--name BRAND] [--admin-token-file F] (--data-dir DIR | --database-url URL [--database-schema S]) [--key-file F | --signer PKCS11_URI] [--json]
  parley gateway [--data-dir DIR | --database-url URL] [--key-file F | --signer PKCS11_URI] [--port N] [--host H] [--webhook-url URL] [--sms-config FILE] [--instance-id ID] [--pq CLASS=required|preferred|off[:block|invite-to-app]]… [--dlp CLASS=card|iban|email|phone[+…]:block|redact]…
  parley gateway keys create --label NAME | list | revoke ID   [--data-dir DIR | --database-url URL --key-file F] [--json]
  parley gateway secrets rotate | retire-old | list            (webhook signing secrets; same storage flags)
  parley gateway rotate-sender-keys [--timeout S]               (the leading instance rotates the sender's keys; same storage flags)`;

const CONVENTIONS = `Every command answers --help (-h). Exit codes: 0 success, 1 failure, 2 usage error.
With --json: one JSON object on stdout, {"ok":true,…} or {"ok":false,"error":{"code","message"}}; progress goes to stderr.`;

const ENVIRONMENT = `Environment: PARLEY_ADMIN_TOKEN, PARLEY_STORE_PASSPHRASE, DATABASE_URL, PARLEY_NATS_URL, NODE_ID, PORT, PARLEY_ROUTING_CONFIG, PARLEY_ALLOWED_ORIGINS,
  PARLEY_SIGNER (= serve --signer), PARLEY_GATEWAY_SIGNER (= gateway --signer), PARLEY_PKCS11_PIN, PARLEY_PKCS11_MODULE (default /usr/lib/softhsm/libsofthsm2.so).`;

/** A command's usage and the names of its subcommands (whose help is their lines of it). */
interface CommandHelp {
  readonly usage: string;
  readonly subcommands?: readonly string[];
  /** A subcommand's own, fuller text, where its module has one. */
  readonly details?: Readonly<Record<string, string>>;
}

/**
 * Every command of `parley`, with its usage lines and subcommands.
 *
 * @example
 * Object.keys(COMMAND_HELP) // ['serve', 'demo', 'log', …]
 */
export const COMMAND_HELP: Readonly<Record<string, CommandHelp>> = {
  serve: { usage: SERVE_USAGE },
  demo: { usage: DEMO_USAGE },
  log: { usage: LOG_USAGE, subcommands: ['list', 'verify', 'rotate-key'] },
  keys: { usage: KEYS_USAGE, subcommands: ['lookup'] },
  audit: {
    usage: `${AUDIT_EXPORT_USAGE}\n${AUDIT_VERIFY_USAGE}\n${AUDIT_MONITOR_USAGE}`,
    subcommands: ['export', 'verify', 'monitor'],
    details: { verify: AUDIT_VERIFY_HELP },
  },
  admin: { usage: ADMIN_USAGE, subcommands: ['businesses', 'keys'] },
  escrow: { usage: ESCROW_USAGE, subcommands: ['officer-key', 'init', 'request', 'approve', 'open', 'list'] },
  gateway: { usage: GATEWAY_USAGE, subcommands: ['init', 'keys', 'secrets', 'rotate-sender-keys'] },
};

/**
 * The whole `parley --help` text.
 *
 * @example
 * process.stdout.write(mainUsage());
 */
export function mainUsage(): string {
  const lines = Object.values(COMMAND_HELP).map((c) => usageLines(c.usage));
  return `parley — verified end-to-end encrypted messaging\n\nUsage:\n${lines.join('\n')}\n  parley --version | --help | help [COMMAND]\n\n${CONVENTIONS}\n${ENVIRONMENT}\n`;
}

/** The lines of a usage text that begin with `parley` (and their indented continuations), without its prose. */
function usageLines(usage: string): string {
  const out: string[] = [];
  let inUsage = false;
  for (const line of usage.split('\n')) {
    if (/^\s*parley /.test(line)) inUsage = true;
    else if (!/^\s{4,}\S/.test(line)) inUsage = false;
    if (inUsage) out.push(line);
  }
  return out.join('\n');
}

/**
 * The help of `parley <command> [<subcommand>]` (the rest of the arguments after the
 * command); undefined for an unknown command.
 *
 * @example
 * helpFor('log', ['verify', '--help']) // 'Usage:\n  parley log verify --url URL …'
 */
export function helpFor(command: string, rest: readonly string[]): string | undefined {
  const help = COMMAND_HELP[command];
  if (help === undefined) return undefined;
  const sub = rest.find((a) => a !== 'help') ?? '';
  if (help.subcommands?.includes(sub)) {
    const detail = help.details?.[sub];
    if (detail !== undefined) return `${detail}\n`;
    const own = subcommandLines(help.usage, `parley ${command} ${sub}`);
    if (own !== '') return `Usage:\n${own}\n\n(all of parley ${command}: parley ${command} --help)\n`;
  }
  return `Usage:\n${help.usage}\n`;
}

/** The lines of `usage` that begin with `prefix`, with their continuation lines. */
function subcommandLines(usage: string, prefix: string): string {
  const out: string[] = [];
  let taking = false;
  for (const line of usage.split('\n')) {
    const trimmed = line.trimStart();
    if (trimmed.startsWith('parley ')) taking = trimmed === prefix || trimmed.startsWith(`${prefix} `);
    else if (line.trim() === '' || !/^\s{4,}/.test(line)) taking = false;
    if (taking) out.push(line);
  }
  return out.join('\n');
}

/**
 * The version of `parley`: packages/cli/package.json's (read from the sources or from dist/).
 *
 * @example
 * process.stdout.write(`parley ${cliVersion()}\n`);
 */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * `parley` command line: `serve` runs a server node, `demo` runs the main
 * scenario end to end, `log` lists and verifies the server's transparency logs,
 * `admin` administers businesses and their enrollment keys.
 * Returns the process exit code; never calls process.exit.
 */
import { runServe } from './commands/serve.js';
import { runDemo } from './commands/demo.js';
import { runLog } from './commands/log.js';
import { runKeys } from './commands/keys.js';
import { runAudit } from './commands/audit.js';
import { runGateway } from './commands/gateway.js';
import { ADMIN_USAGE, runAdmin } from './commands/admin.js';
import { ESCROW_USAGE, runEscrow } from './commands/escrow.js';
import { EXIT, describeError, exitCodeFor, type ExitCode } from './errors.js';

const USAGE = `parley — verified end-to-end encrypted messaging

Usage:
  parley serve [--port N] [--host H] [--data-dir DIR | --database-url URL --key-dir DIR] [--log-origin ORIGIN]
               [--admin-token-file FILE] [--node-id ID] [--nats-url URL [--nats-prefix P]] [--db-pool-size N] [--routing FILE] [--log-level L]
               [--metrics-listen HOST:PORT | --metrics-token-file FILE] [--max-connections-per-ip N] [--request-timeout S]
               [--allowed-origins https://app.example[,https://…]]   (web origins that may call the API; default same-origin only)
               [--signer 'pkcs11:token=T?pin-source=file:/PIN_FILE' [--migrate-vrf-key]]   (log keys in a PKCS#11 token; the VRF key wrapped by it)
  parley demo  [--json] [--data-dir DIR] [--server URL[,URL2,…] [--admin-token T]]
  parley log list   --url URL [--json]
  parley log verify --url URL [--log keys] [--key VERIFIER_KEY] [--state FILE] [--json]
  parley keys lookup <business:customer> --url URL [--admin-token T] [--log-key VKEY --vrf-key B64] [--json]   (both keys or neither)
  parley audit export --message ID [--server URL] [--admin-token T | --store DIR [--reveal]] [--out FILE]
  parley audit verify <bundle.json|-> --log-key VKEY --key-log-key VKEY --vrf-key B64 [--plaintext FILE --opening HEX] [--json]
  parley audit monitor --url URL [--state FILE] [--log-key KEYS_VKEY --log-key AUDIT_VKEY] [--peer FILE]… [--interval SECONDS] [--json]
${ADMIN_USAGE}
${ESCROW_USAGE}
  parley gateway init --server URL --business ID [--name BRAND] [--admin-token-file F] (--data-dir DIR | --database-url URL [--database-schema S]) [--key-file F | --signer PKCS11_URI] [--json]
  parley gateway [--data-dir DIR | --database-url URL] [--key-file F | --signer PKCS11_URI] [--port N] [--host H] [--webhook-url URL] [--sms-config FILE] [--instance-id ID] [--pq CLASS=required|preferred|off[:block|invite-to-app]]… [--dlp CLASS=card|iban|email|phone[+…]:block|redact]…
  parley gateway keys create --label NAME | list | revoke ID   [--data-dir DIR | --database-url URL --key-file F] [--json]
  parley gateway secrets rotate | retire-old | list            (webhook signing secrets; same storage flags)
  parley gateway rotate-sender-keys [--timeout S]               (the leading instance rotates the sender's keys; same storage flags)
  parley help

Environment: PARLEY_ADMIN_TOKEN, PARLEY_STORE_PASSPHRASE, DATABASE_URL, PARLEY_NATS_URL, NODE_ID, PORT, PARLEY_ROUTING_CONFIG, PARLEY_ALLOWED_ORIGINS,
  PARLEY_SIGNER (= serve --signer), PARLEY_GATEWAY_SIGNER (= gateway --signer), PARLEY_PKCS11_PIN, PARLEY_PKCS11_MODULE (default /usr/lib/softhsm/libsofthsm2.so).
`;

/**
 * Runs `parley <command> …` and returns its exit code (0 ok, 1 failure, 2 usage).
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[]): Promise<ExitCode> {
  const [command, ...rest] = argv;
  // Everything Parley writes (data directory, keys, stores, exported evidence) is this user's alone.
  process.umask(0o077);
  try {
    switch (command) {
      case 'serve':
        return await runServe(rest);
      case 'demo':
        return await runDemo(rest);
      case 'log':
        return await runLog(rest);
      case 'keys':
        return await runKeys(rest);
      case 'audit':
        return await runAudit(rest);
      case 'gateway':
        return await runGateway(rest);
      case 'escrow':
        return await runEscrow(rest);
      case 'admin':
        return await runAdmin(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      default:
        process.stderr.write(`parley: unknown command '${command}'\n\n${USAGE}`);
        return EXIT.usage;
    }
  } catch (error) {
    process.stderr.write(`parley: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}

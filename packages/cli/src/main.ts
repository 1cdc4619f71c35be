/**
 * `parley` command line: `serve` runs a server node, `demo` runs the main
 * scenario end to end, `log` lists and verifies the server's transparency logs,
 * `admin` administers businesses and their enrollment keys.
 * Returns the process exit code; never calls process.exit.
 *
 * The conventions every command keeps (docs/cli.md): `--help`/`-h` prints its usage on
 * stdout (exit 0); exit 2 for a usage error, 1 for any other failure; under `--json` one
 * JSON object on stdout with `ok` (and `error: { code, message }` on failure), progress
 * on stderr; without it, errors as `parley: [code] message` on stderr.
 */
import { EXIT, UsageError, reportError, wantsJson, type ExitCode } from './errors.js';
import { wantsHelp } from './args.js';

type Run = (argv: readonly string[]) => Promise<ExitCode>;

// Each command's module is imported when it runs: `parley serve` does not load the demo's SDK
// devices, the gateway or the escrow tooling (start-up time and memory, issue 18).
const RUNS: Readonly<Record<string, Run>> = {
  serve: async (argv) => (await import('./commands/serve.js')).runServe(argv),
  demo: async (argv) => (await import('./commands/demo.js')).runDemo(argv),
  log: async (argv) => (await import('./commands/log.js')).runLog(argv),
  keys: async (argv) => (await import('./commands/keys.js')).runKeys(argv),
  audit: async (argv) => (await import('./commands/audit.js')).runAudit(argv),
  gateway: async (argv) => (await import('./commands/gateway.js')).runGateway(argv),
  escrow: async (argv) => (await import('./commands/escrow.js')).runEscrow(argv),
  admin: async (argv) => (await import('./commands/admin.js')).runAdmin(argv),
};

/**
 * Runs `parley <command> …` and returns its exit code (0 ok, 1 failure, 2 usage).
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[]): Promise<ExitCode> {
  const [command, ...rest] = argv;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const complain = (line: string) => process.stderr.write(`${line}\n`);
  // Everything Parley writes (data directory, keys, stores, exported evidence) is this user's alone.
  process.umask(0o077);
  if (command === '--version' || command === '-V') {
    const { cliVersion } = await import('./help.js');
    say(`parley ${cliVersion()}`);
    return EXIT.ok;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    const { helpFor, mainUsage } = await import('./help.js');
    const topic = rest[0] === undefined ? undefined : helpFor(rest[0], rest.slice(1));
    if (rest[0] !== undefined && topic === undefined) return reportError(new UsageError(`unknown command '${rest[0]}'`), { json: false, out: say, err: complain });
    process.stdout.write(topic ?? mainUsage());
    return EXIT.ok;
  }
  if (command === undefined) {
    const { mainUsage } = await import('./help.js');
    process.stderr.write(`parley: [usage] a command is required\n\n${mainUsage()}`);
    return EXIT.usage;
  }
  const run = RUNS[command];
  const json = wantsJson(rest);
  if (run === undefined) {
    const unknown = new UsageError(`unknown command '${command}' (parley --help lists them)`);
    return reportError(unknown, { json, out: say, err: complain });
  }
  if (wantsHelp(rest)) {
    const { helpFor } = await import('./help.js');
    process.stdout.write(helpFor(command, rest)!);
    return EXIT.ok;
  }
  try {
    return await run(rest);
  } catch (error) {
    return reportError(error, { json, out: say, err: complain });
  }
}

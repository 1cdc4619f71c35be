/**
 * `parley audit …`: evidence about business messages. Routes each subcommand to its own
 * module; usage errors exit 2, everything else returns the subcommand's code.
 */
import { EXIT, UsageError, reportError, wantsJson, type ExitCode } from '../errors.js';
import { AUDIT_VERIFY_USAGE, runAuditVerify, type AuditIo } from './audit-verify.js';
import { AUDIT_EXPORT_USAGE, runAuditExport } from './audit-export.js';
import { AUDIT_MONITOR_USAGE, runAuditMonitor } from './audit-monitor.js';

export type { AuditIo };

async function readProcessStdin(): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  return new Uint8Array(Buffer.concat(chunks));
}

const processIo: AuditIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  readStdin: readProcessStdin,
};

const USAGE = `Usage:
${AUDIT_EXPORT_USAGE}
${AUDIT_VERIFY_USAGE}
${AUDIT_MONITOR_USAGE}`;

/**
 * Runs `parley audit <subcommand> …` and returns the exit code.
 *
 * @example
 * process.exitCode = await runAudit(['verify', 'bundle.json', '--log-key', auditKey, '--key-log-key', keyLogKey]);
 */
export async function runAudit(argv: readonly string[], io: AuditIo = processIo): Promise<ExitCode> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'verify':
        return await runAuditVerify(rest, io);
      case 'export':
        return await runAuditExport(rest, io);
      case 'monitor':
        return await runAuditMonitor(rest, io);
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return EXIT.ok;
      default:
        throw new UsageError(`${sub === undefined ? 'a subcommand is required' : `unknown subcommand 'audit ${sub}'`}\n\n${USAGE}`);
    }
  } catch (error) {
    // Usage errors are reported here (callers that pass their own io get them); the rest by main.
    if (error instanceof UsageError) return reportError(error, { json: wantsJson(rest), ...io, prefix: 'parley audit' });
    throw error;
  }
}

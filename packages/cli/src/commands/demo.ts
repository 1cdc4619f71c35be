/**
 * `parley demo`: runs the main scenario against an embedded server (PGlite in
 * `--data-dir` or a temporary directory) or against `--server URL`, and prints a
 * transcript (or one JSON object with `--json`). Exit status 1 when any step fails.
 * `--server URL1,URL2,URL3` (nodes of one deployment) enrolls the devices round-robin
 * on them, the bank's sender on the first: the scenario then succeeds only if
 * messages cross nodes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes, toBase64Url } from '@parley/core';
import { isPostQuantum } from '@parley/core/mls';
import { startServer, type ParleyServer } from '@parley/server';
import { ensureCustomerWebBuilt, serveCustomerWeb, type CustomerWebServer } from '../demo/customer-web.js';
import { consoleHint, renderConsoleHint } from '../demo/console-hint.js';
import { consoleAssetsDir } from '../console-assets.js';
import { demoRouting, freePort, startLocalProviders, startSecondFactorInbox, type LocalProviders, type SecondFactorInbox } from '../demo/providers.js';
import { parseFlags, parseServerUrl } from '../args.js';
import { UsageError, type ExitCode } from '../errors.js';
import { runScenario, type ScenarioEvidence, type ScenarioMessage, type ScenarioResult, type ScenarioStep } from '../demo/scenario.js';
import { ensurePrivateDirectory } from '../private-files.js';

/**
 * `parley demo …`: runs the scenario (embedded server unless `--server`) and prints its transcript, or one JSON object with `--json`; exit 1 when a step fails.
 *
 * @example
 * process.exitCode = await runDemo(['--json']);
 */
export async function runDemo(argv: readonly string[]): Promise<ExitCode> {
  const flags = parseFlags(argv, {
    json: { type: 'boolean', default: false },
    'data-dir': { type: 'string' },
    server: { type: 'string' },
    'admin-token': { type: 'string' },
  });
  const json = flags.json === true;
  const out = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  // With --json, stdout is the one result object: the steps show as progress on stderr.
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const status = json ? progress : out;
  const temp = await mkdtemp(join(tmpdir(), 'parley-demo-'));
  const base = flags['data-dir'] ? resolve(flags['data-dir']) : temp;
  // The revealed evidence holds Alice's plaintext: 0600 in a directory of its own (0700),
  // kept after the demo (the temporary directory is not).
  const evidenceDir = flags['data-dir'] ? join(base, 'evidence') : await mkdtemp(join(tmpdir(), 'parley-demo-evidence-'));
  await ensurePrivateDirectory(evidenceDir, 'evidence directory');
  let server: ParleyServer | undefined;
  let providers: LocalProviders | undefined;
  let secondFactor: SecondFactorInbox | undefined;
  let customerWeb: CustomerWebServer | undefined;
  let result: ScenarioResult;
  let serverUrl: string;
  let serverUrls: string[] = [];
  let evidenceWritten = false;
  try {
    let adminToken: string;
    if (flags.server) {
      // URL1,URL2,…: nodes of one deployment; devices spread round-robin (the sender on the first).
      serverUrls = flags.server
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u.length > 0)
        .map((u) => parseServerUrl(u, '--server'));
      if (serverUrls.length === 0) throw new UsageError('--server needs a URL (or several, comma-separated)');
      serverUrl = serverUrls[0]!;
      const token = flags['admin-token'] ?? process.env['PARLEY_ADMIN_TOKEN'];
      if (!token) throw new UsageError('--server needs --admin-token (or PARLEY_ADMIN_TOKEN) to register the demo business');
      adminToken = token;
    } else {
      const dataDir = join(base, 'server');
      await ensurePrivateDirectory(dataDir, 'demo data directory');
      adminToken = toBase64Url(randomBytes(24));
      status(`Starting an embedded Parley server (PGlite data in ${dataDir}) …`);
      const port = await freePort();
      providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, rbmAutoDeliver: true });
      secondFactor = await startSecondFactorInbox();
      status(`Provider emulators on loopback: FCM ${providers.fcm.url}, APNs ${providers.apns.url}, RBM ${providers.rbm.url}, Twilio ${providers.twilio.baseUrl}`);
      const web = await ensureCustomerWebBuilt();
      if ('dist' in web) customerWeb = await serveCustomerWeb(web.dist, [`http://127.0.0.1:${port}`]);
      else status(`Customer web app: not served (${web.reason})`);
      server = await startServer({
        ...(customerWeb ? { allowedOrigins: [customerWeb.origin] } : {}),
        port,
        database: { kind: 'pglite', dataDir },
        adminToken,
        // Warnings (e.g. the scenario's mistyped recovery key) to stderr: stdout is the transcript, or JSON with --json.
        log: { level: 'warn', destination: process.stderr },
        routing: { channels: providers.channels, defaultBusiness: demoRouting(secondFactor) },
        console: { assetsDir: await consoleAssetsDir(process.env['PARLEY_CONSOLE_DIR']) },
      });
      serverUrl = server.url;
    }
    status(serverUrls.length > 1 ? `Servers: ${serverUrls.join(', ')} (devices spread round-robin)\n` : `Server: ${serverUrl}\n`);
    result = await runScenario({
      serverUrl,
      ...(serverUrls.length > 1 ? { serverUrls } : {}),
      adminToken,
      workDir: join(base, 'devices', toBase64Url(randomBytes(4))),
      gatewayDir: join(base, 'gateway', toBase64Url(randomBytes(4))),
      evidencePath: join(evidenceDir, `payment-alert-${toBase64Url(randomBytes(4))}.evidence.json`),
      onStep: (s) => (json ? progress : out)(renderStep(s)),
      ...(providers && secondFactor ? { channels: { providers, secondFactor } } : {}),
      ...(customerWeb ? { customerWeb: { appUrl: customerWeb.url } } : {}),
    });
    evidenceWritten = result.evidence !== undefined;
    if (!providers) status('(against a remote server: the delivery-path part of the scenario needs the embedded server and its provider emulators)');
  } finally {
    await server?.stop();
    await providers?.close();
    await secondFactor?.close();
    await customerWeb?.close();
    await rm(temp, { recursive: true, force: true });
    if (!flags['data-dir'] && !evidenceWritten) await rm(evidenceDir, { recursive: true, force: true });
  }

  // The operator console shows this demo's metadata once its data is served again.
  const keptDataDir = flags['data-dir'] !== undefined;
  const operatorConsole = consoleHint({ embedded: !flags.server, dataDir: join(base, 'server'), keptDataDir, serverUrl });
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        ok: result.ok,
        // On failure, the first failed step (the scenario stops there).
        ...(result.ok ? {} : { error: failedStep(result) }),
        server: serverUrl,
        console: operatorConsole,
        ...(serverUrls.length > 1 ? { servers: serverUrls, devices: result.devices.map((d) => ({ label: d.label, server: d.server })) } : {}),
        messages: result.messages.map((m) => ({
          id: m.id,
          conversation: m.conversation,
          from: m.from,
          class: m.class,
          text: m.text,
          deliveredTo: m.deliveredTo,
          path: m.path,
          route: m.route,
          suite: m.suite,
          ...(m.attachments ? { attachments: m.attachments } : {}),
        })),
        ...(result.evidence
          ? {
              evidence: {
                messageId: result.evidence.messageId,
                path: result.evidence.path,
                verify: verifyCommand(result.evidence),
                ok: result.evidence.report.ok,
                bytes: result.evidence.bytes,
                checks: result.evidence.revealed.checks,
                receipts: result.evidence.revealed.receipts,
                plaintextProof: result.evidence.revealed.ok && result.evidence.forgedTextRejected,
              },
            }
          : {}),
      })}\n`,
    );
  } else {
    out('\nTranscript');
    for (const m of result.messages) out(renderMessage(m));
    if (result.evidence) out(renderEvidence(result.evidence));
    out(result.ok ? '\nAll steps succeeded: the server stored and relayed only ciphertext.' : '\nThe demo FAILED.');
    for (const line of renderConsoleHint(operatorConsole, keptDataDir)) out(line);
  }
  return result.ok ? 0 : 1;
}

/** The `error` of a failed demo's JSON: the first failed step. */
function failedStep(result: ScenarioResult): { code: string; message: string } {
  const step = result.steps.find((s) => !s.ok);
  return { code: 'scenario_failed', message: step ? `${step.name}${step.detail ? `: ${step.detail}` : ''}` : 'the scenario failed' };
}

function renderStep(s: ScenarioStep): string {
  return `${s.ok ? '✔' : '✘'} ${s.name}${s.detail ? ` — ${s.detail}` : ''}`;
}

function renderEvidence(e: ScenarioEvidence): string {
  const lines = [`\nEvidence for the payment alert ${e.messageId} (${e.bytes} bytes; no plaintext, no opening)`];
  for (const c of e.revealed.checks) lines.push(`  ${c.ok ? '✔' : '✘'} ${c.name}${c.detail ? ` — ${c.detail}` : ''}${c.code ? ` [${c.code}]` : ''}`);
  lines.push(
    `  ${e.forgedTextRejected ? '✔' : '✘'} the same opening does not open a forged amount (plaintext_mismatch)`,
    `  Saved with Alice's revealed opening and plaintext to ${e.path} (mode 0600)`,
    `  Check it yourself: ${verifyCommand(e)}`,
  );
  return lines.join('\n');
}

/** The complete `parley audit verify` command for the saved bundle: both log keys and the VRF key. */
export function verifyCommand(e: ScenarioEvidence): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `parley audit verify ${quote(e.path)} --log-key ${quote(e.trust.auditLogKey)} --key-log-key ${quote(e.trust.keyLogKey)} --vrf-key ${quote(e.trust.vrfPublicKey ?? '')}`;
}

/** The suite as a reader wants it: post-quantum or classic, then its name. */
function suiteLabel(suite: string): string {
  return isPostQuantum(suite) ? `post-quantum (${suite})` : `classic (${suite})`;
}

function renderMessage(m: ScenarioMessage): string {
  if (m.conversation === '') {
    return [
      `  • [${m.class}] ${m.conversationLabel}: outside the app (no MLS conversation)`,
      `    from ${m.fromLabel}${m.text ? `: "${m.text}" (as the browser decrypted it)` : ''}`,
      `    path: ${m.path} — ${m.route}`,
    ].join('\n');
  }
  return [
    `  • [${m.class}] ${m.conversationLabel} (${m.conversation.slice(0, 10)}…), MLS epoch ${m.epoch}, ${suiteLabel(m.suite)}`,
    `    from ${m.fromLabel} (${m.from}): "${m.text}"`,
    `    delivered to ${m.deliveredToLabels.join(', ') || 'nobody'}; server stored ${m.storedBytes} bytes of ciphertext`,
    ...(m.attachments ?? []).map(
      (a) => `    attachment ${a.name} (${a.mime}, ${a.size} bytes; ${a.cipherSize} bytes of ciphertext in the blob store, SHA-256 ${a.sha256.slice(0, 12)}…), decrypted by ${a.decryptedBy.join(', ') || 'nobody'}`,
    ),
    `    path: ${m.path} — ${m.route}`,
  ].join('\n');
}

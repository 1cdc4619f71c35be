/**
 * scripts/privacy-scan.mjs, the scan CI runs over every log line, metrics scrape and span
 * the test servers wrote (PARLEY_TELEMETRY_DIR): each kind of secret planted alone is found
 * (exit 1, the kind and file:line listed, the secret itself truncated); clean telemetry
 * passes (exit 0); and a real test server's capture lands in the directory and passes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, createBusiness, registerRawDevice, startTestServer } from '@parley/test-kit/server';
import { spawnListening } from '@parley/test-kit/process';

const SCRIPT = new URL('../../../../scripts/privacy-scan.mjs', import.meta.url).pathname;
const dirs: string[] = [];

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-privacy-scan-'));
  dirs.push(dir);
  return dir;
}

function scan(dir: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, dir], (error, stdout) => resolve({ code: error ? Number(error.code) : 0, stdout }));
  });
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6InBhcmxleS1zZXNzaW9uK2p3dCJ9.eyJzdWIiOiJkZXZpY2UtMSIsImV4cCI6MX0.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
const HEX_KEY = 'a1'.repeat(32);

/** One planted secret per kind, as it could appear in a log line, a scrape or a span. */
const PLANTED: { kind: string; line: string; secret: string }[] = [
  { kind: 'plaintext-marker', line: '{"level":"info","msg":"text PLAINTEXT-MARKER-7d1c0e"}', secret: 'PLAINTEXT-MARKER-7d1c0e' },
  { kind: 'plaintext-marker', line: '{"attributes":{"body":"PARLEY-SECRET-CONTENT"}}', secret: 'PARLEY-SECRET-CONTENT' },
  { kind: 'admin-token', line: '{"msg":"token test-admin-token-0123456789"}', secret: 'test-admin-token-0123456789' },
  { kind: 'pem-private-key', line: '{"err":"-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEI..."}', secret: 'MC4CAQAwBQYDK2VwBCIEI' },
  { kind: 'jwk-private-part', line: '{"jwk":{"kty":"OKP","crv":"Ed25519","x":"abc","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}}', secret: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A' },
  { kind: 'hex-private-key', line: `{"seed":"${HEX_KEY}"}`, secret: HEX_KEY },
  { kind: 'private-key-value', line: '{"privateKey":"MC4CAQAwBQYDK2VwBCIEIJ+5fRz1QyVbF3rX0p9kQ1"}', secret: 'MC4CAQAwBQYDK2VwBCIEIJ+5fRz1QyVbF3rX0p9kQ1' },
  { kind: 'bearer-token', line: '{"headers":"authorization: Bearer opaque-token-0123456789"}', secret: 'opaque-token-0123456789' },
  { kind: 'jwt', line: `parley_x{token="${JWT}"} 1`, secret: JWT },
  { kind: 'phone-number', line: '{"msg":"sms to +15550301002"}', secret: '+15550301002' },
];

describe('privacy scan (scripts/privacy-scan.mjs)', () => {
  for (const planted of PLANTED) {
    it(`finds a planted ${planted.kind} and prints it truncated`, async () => {
      const dir = freshDir();
      writeFileSync(join(dir, 'logs-1-1.jsonl'), `{"level":"info","msg":"clean"}\n${planted.line}\n`);
      const { code, stdout } = await scan(dir);
      expect(code).toBe(1);
      expect(stdout).toMatch(/^privacy scan: 1 files, 2 lines, [1-9]\d* findings/);
      expect(stdout).toContain(`logs-1-1.jsonl:2 ${planted.kind} `);
      expect(stdout).not.toContain(planted.secret);
    });
  }

  it('passes clean telemetry (exit 0) that looks like numbers, times and redactions', async () => {
    const dir = freshDir();
    writeFileSync(
      join(dir, 'logs-1-1.jsonl'),
      [
        '{"level":"info","time":"2026-12-07T04:00:00.000Z","reqId":"0f8e6c1a-3b2d-4e5f-8a9b-0c1d2e3f4a5b","route":"/v1/devices/:deviceId","status":200}',
        '{"level":"warn","event":"auth_failure","code":"session_invalid","msg":"send Authorization: Bearer <session token>"}',
        '{"privateKey":"[redacted]","token":"[redacted]","d":"short"}',
      ].join('\n') + '\n',
    );
    writeFileSync(join(dir, 'metrics-1-1.txt'), 'parley_http_request_duration_seconds_bucket{le="+Inf",route="/healthz"} 3\nparley_process_start_time_seconds 1.7654e+09\n');
    const { code, stdout } = await scan(dir);
    expect(stdout).toMatch(/^privacy scan: 2 files, 5 lines, 0 findings/);
    expect(code).toBe(0);
  });

  it('fails on an empty directory (the capture did not reach the tests)', async () => {
    expect((await scan(freshDir())).code).toBe(1);
  });

  it("captures a test server's log lines and final metrics scrape, which pass the scan", async () => {
    const dir = freshDir();
    const previous = process.env['PARLEY_TELEMETRY_DIR'];
    process.env['PARLEY_TELEMETRY_DIR'] = dir;
    try {
      const t = await startTestServer();
      const bank = await createBusiness(t.url);
      const device = await registerRawDevice(t.url, bank, 'scan-customer');
      expect((await api(t.url, 'GET', '/v1/mailbox', undefined, device.token)).status).toBe(200);
      expect((await api(t.url, 'GET', '/v1/mailbox', undefined, `${device.token}x`)).status).toBe(401);
      await t.stop();
    } finally {
      if (previous === undefined) delete process.env['PARLEY_TELEMETRY_DIR'];
      else process.env['PARLEY_TELEMETRY_DIR'] = previous;
    }
    const files = readdirSync(dir).sort();
    expect(files.some((f) => new RegExp(`^logs-${process.pid}-\\d+\\.jsonl$`).test(f))).toBe(true);
    const metricsFile = files.find((f) => new RegExp(`^metrics-${process.pid}-\\d+\\.txt$`).test(f));
    expect(metricsFile).toBeDefined();
    expect(readFileSync(join(dir, metricsFile!), 'utf8')).toContain('parley_http_requests_total{');
    const clean = await scan(dir);
    expect(clean.stdout).toMatch(/0 findings/);
    expect(clean.code).toBe(0);
    // The same capture with one secret in it fails.
    writeFileSync(join(dir, 'spans-planted.jsonl'), '{"name":"relay.submit","attributes":{"phone":"+447700900123"}}\n');
    const dirty = await scan(dir);
    expect(dirty.code).toBe(1);
    expect(dirty.stdout).toContain('spans-planted.jsonl:1 phone-number');
  }, 180_000);

  it("captures a child server's output as JSON lines, and the scan reads it", async () => {
    const dir = freshDir();
    const previous = process.env['PARLEY_TELEMETRY_DIR'];
    process.env['PARLEY_TELEMETRY_DIR'] = dir;
    // A stand-in for `parley serve`: a JSON log line, a plain note, then a log line with a phone number in two writes.
    const script = [
      `process.stdout.write('{"level":"info","msg":"started"}\\n');`,
      `process.stdout.write('listening on http://127.0.0.1:1\\n');`,
      `process.stderr.write('{"level":"warn","msg":"to +4477');`,
      `setTimeout(() => { process.stderr.write('00900123"}\\n'); setTimeout(() => process.exit(0), 50); }, 50);`,
    ].join(' ');
    try {
      const child = await spawnListening(['-e', script], { what: 'stand-in' });
      // The child lives 100 ms after its listening line: 'close' (exit and both streams ended) is still ahead.
      await new Promise((r) => child.child.once('close', r));
    } finally {
      if (previous === undefined) delete process.env['PARLEY_TELEMETRY_DIR'];
      else process.env['PARLEY_TELEMETRY_DIR'] = previous;
    }
    const [file] = readdirSync(dir);
    expect(file).toMatch(/^logs-\d+-\d+\.jsonl$/);
    const lines = readFileSync(join(dir, file!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual({ level: 'info', msg: 'started' });
    expect(lines).toContainEqual({ stream: 'stdout', text: 'listening on http://127.0.0.1:1' });
    expect(lines).toContainEqual({ level: 'warn', msg: 'to +447700900123' });
    const { code, stdout } = await scan(dir);
    expect(code).toBe(1);
    expect(stdout).toMatch(/:\d+ phone-number /);
  }, 60_000);
});

/**
 * `parley serve --signer <PKCS#11 URI>`: a real `parley serve` process whose log keys are
 * generated in a SoftHSM2 token; its checkpoints verify under the verifier keys it prints
 * and serves; the PIN (from the URI's pin-source file) appears in no output; no private
 * key file is written. `--migrate-vrf-key` without `--signer` is a usage error.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNote, parseVerifierKey } from '@parley/core/tlog';
import { spawnListening, type ListeningProcess } from '@parley/test-kit/process';
import { softHsmStatus, startSoftHsm, type SoftHsm } from '@parley/test-kit/softhsm';

const BIN = new URL('../bin/parley.js', import.meta.url).pathname;
const hsm = softHsmStatus();
if (!hsm.ok) console.log(hsm.note);

describe.skipIf(!hsm.ok)('parley serve --signer (SoftHSM2)', () => {
  let token: SoftHsm;
  let dir: string;
  let node: ListeningProcess | undefined;

  beforeAll(async () => {
    token = await startSoftHsm({ label: 'parley-cli' });
    dir = await mkdtemp(join(tmpdir(), 'parley-serve-signer-'));
  });
  afterAll(async () => {
    await node?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
    await token?.cleanup();
  });

  it('signs both logs with keys in the token', async () => {
    node = await spawnListening([BIN, 'serve', '--data-dir', join(dir, 'data'), '--port', '0', '--log-level', 'info', '--signer', token.uri()], { what: 'parley serve --signer' });
    const { logs } = (await (await fetch(`${node.url}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
    expect(logs.map((l) => l.name).sort()).toEqual(['audit', 'keys']);
    for (const l of logs) {
      const note = await (await fetch(`${node.url}/logs/${l.name}/checkpoint`)).text();
      expect(openNote(note, [parseVerifierKey(l.verifierKey)]).text.split('\n')[1]).toMatch(/^\d+$/);
    }
    expect(node.output()).toContain('generated the transparency log signing key in the token');
    expect(node.output()).not.toContain(token.pin);
    const files = await readdir(join(dir, 'data', 'keys'));
    expect(files).toContain('vrf.key.wrapped');
    expect(files.filter((f) => /^tlog-.*\.key$/.test(f) || f === 'vrf.key')).toEqual([]);
  }, 180_000);

  it('--migrate-vrf-key needs --signer', async () => {
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', join(dir, 'other'), '--port', '0', '--migrate-vrf-key'], { stdio: 'ignore' });
      child.on('exit', resolve);
    });
    expect(code).toBe(2);
  }, 120_000);
});

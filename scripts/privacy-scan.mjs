#!/usr/bin/env node
/**
 * Privacy scan of the telemetry a test run produced: every file in the directory
 * (PARLEY_TELEMETRY_DIR: the servers' `logs-*.jsonl`, `metrics-*.txt` scrapes and
 * `spans-*.jsonl`) is read line by line for plaintext markers, the test-kit's fixed
 * secrets, key material (PEM private keys, JWK private parts, hex or base64 private keys
 * after a key-ish name), bearer and session tokens (JWTs) and E.164 phone numbers. The
 * patterns live in one place: packages/test-kit/src/privacy-markers.js.
 *
 * Prints one summary line (files, lines, findings); on a finding also `file:line kind
 * excerpt` per finding, the secret truncated, and exits 1. A directory with no files
 * exits 1 too (the capture did not reach the tests).
 *
 * Usage: node scripts/privacy-scan.mjs "$PARLEY_TELEMETRY_DIR"
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { scanLine } from '../packages/test-kit/src/privacy-markers.js';

/** At most this many findings are listed (the count is always complete). */
const MAX_LISTED = 200;

/** Every regular file under `dir`, recursively, sorted. */
function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) out.push(...filesUnder(path));
    else if (stat.isFile()) out.push(path);
  }
  return out;
}

async function scanFile(path, report) {
  let lineNo = 0;
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) {
    lineNo++;
    for (const finding of scanLine(line)) report({ file: path, line: lineNo, ...finding });
  }
  return lineNo;
}

async function main() {
  const dir = process.argv[2] ?? process.env['PARLEY_TELEMETRY_DIR'];
  if (!dir) {
    process.stderr.write('usage: node scripts/privacy-scan.mjs <telemetry dir> (or set PARLEY_TELEMETRY_DIR)\n');
    return 2;
  }
  let files;
  try {
    files = filesUnder(dir);
  } catch (error) {
    process.stderr.write(`privacy scan: cannot read ${dir}: ${error.message}\n`);
    return 2;
  }
  let lines = 0;
  const findings = [];
  for (const file of files) lines += await scanFile(file, (f) => findings.push(f));
  const kinds = [...new Set(findings.map((f) => f.kind))].sort();
  process.stdout.write(`privacy scan: ${files.length} files, ${lines} lines, ${findings.length} findings${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''} in ${dir}\n`);
  for (const f of findings.slice(0, MAX_LISTED)) process.stdout.write(`${f.file}:${f.line} ${f.kind} ${f.excerpt}\n`);
  if (findings.length > MAX_LISTED) process.stdout.write(`… and ${findings.length - MAX_LISTED} more\n`);
  if (files.length === 0) {
    process.stderr.write('privacy scan: no telemetry files: did PARLEY_TELEMETRY_DIR reach the tests?\n');
    return 1;
  }
  return findings.length > 0 ? 1 : 0;
}

process.exitCode = await main();

/**
 * parley-stream-v1 across runtimes: a blob sealed in Node with node:crypto opens in headless
 * Chromium with the WebCrypto cipher and @noble/hashes, and the reverse; a tampered blob fails
 * in the page with `attachment_tampered`. The page is core's media module bundled by esbuild
 * from the sources, served on its own loopback origin (a secure context: WebCrypto is there).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, skipWithoutChromium } from '@parley/test-kit/browser';
import { fromBase64, toBase64 } from '../../src/index.js';
import { nodeStreamCrypto } from '../../src/media/stream-aead.node.js';
import { open, seal } from './stream-helpers.js';

const skip = skipWithoutChromium('parley-stream-v1 in Chromium');

/** The page: decrypt and encrypt with the browser-safe defaults, bytes as base64 across the boundary. */
const PAGE = `
import { AttachmentError, decryptStream, encryptStream, webStreamCrypto } from '../../src/media/index.js';
import { fromBase64, toBase64 } from '../../src/bytes.js';

type Info = { key: string; sha256: string; size: number; cipherSize: number };
const info = (i: Info) => ({ key: fromBase64(i.key), sha256: fromBase64(i.sha256), size: i.size, cipherSize: i.cipherSize });

function* pieces(bytes: Uint8Array, size: number) {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function decrypt(blob: string, i: Info, pieceSize: number) {
  const parts: Uint8Array[] = [];
  try {
    for await (const p of decryptStream(pieces(fromBase64(blob), pieceSize), info(i), { crypto: webStreamCrypto })) parts.push(p);
  } catch (error) {
    if (error instanceof AttachmentError) return { ok: false, code: error.code, released: parts.reduce((n, p) => n + p.length, 0) };
    throw error;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return { ok: true, plaintext: toBase64(out) };
}

async function encrypt(plain: string, pieceSize: number) {
  const enc = encryptStream(pieces(fromBase64(plain), pieceSize));
  const parts: Uint8Array[] = [];
  for await (const p of enc.ciphertext) parts.push(p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  const r = enc.result();
  return { blob: toBase64(out), info: { key: toBase64(r.key), sha256: toBase64(r.sha256), size: r.size, cipherSize: r.cipherSize }, cipher: webStreamCrypto.cipher.name, secure: isSecureContext };
}

(window as unknown as { media: unknown }).media = { decrypt, encrypt };
document.title = 'media-ready';
`;

type Info = { key: string; sha256: string; size: number; cipherSize: number };
type PageMedia = {
  decrypt(blob: string, info: Info, pieceSize: number): Promise<{ ok: true; plaintext: string } | { ok: false; code: string; released: number }>;
  encrypt(plain: string, pieceSize: number): Promise<{ blob: string; info: Info; cipher: string; secure: boolean }>;
};

describe.skipIf(skip)('parley-stream-v1 between Node and headless Chromium', () => {
  let server: Server;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const bundle = await build({
      stdin: { contents: PAGE, resolveDir: dirname(fileURLToPath(import.meta.url)), sourcefile: 'media-page.ts', loader: 'ts' },
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      conditions: ['parley-source'],
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0]!.text;
    server = createServer((req, res) => {
      if (req.url === '/page.js') return void res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(script);
      if (req.url === '/') return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><meta charset="utf-8"><title>loading</title><script type="module" src="/page.js"></script>');
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => console.log(`page error: ${error.stack ?? error.message}`));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction(() => document.title === 'media-ready', undefined, { timeout: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  const b64 = (info: { key: Uint8Array; sha256: Uint8Array; size: number; cipherSize: number }): Info => ({ key: toBase64(info.key), sha256: toBase64(info.sha256), size: info.size, cipherSize: info.cipherSize });

  it('Node (node:crypto) seals, the page (WebCrypto) opens; a flipped byte fails in the page', async () => {
    for (const size of [0, 65536, 3 * 65536 + 77]) {
      const plain = new Uint8Array(randomBytes(size));
      const { blob, info } = await seal(plain, nodeStreamCrypto, size + 1);
      const opened = await page.evaluate(([b, i]) => (window as unknown as { media: PageMedia }).media.decrypt(b, i, 50_000), [toBase64(blob), b64(info)] as const);
      expect(opened).toEqual({ ok: true, plaintext: toBase64(plain) });

      const bad = blob.slice();
      bad[bad.length - 5]! ^= 0x40;
      const tampered = await page.evaluate(([b, i]) => (window as unknown as { media: PageMedia }).media.decrypt(b, i, 70_000), [toBase64(bad), b64(info)] as const);
      expect(tampered).toEqual({ ok: false, code: 'attachment_tampered', released: Math.max(0, Math.ceil(size / 65536) - 1) * 65536 });
    }
  });

  it('the page (WebCrypto) seals, Node (node:crypto) opens; a dropped final chunk and a wrong hash fail in the page', async () => {
    const plain = new Uint8Array(randomBytes(2 * 65536 + 5));
    const sealed = await page.evaluate((p) => (window as unknown as { media: PageMedia }).media.encrypt(p, 40_000), toBase64(plain));
    expect(sealed).toMatchObject({ cipher: 'webcrypto', secure: true, info: { size: plain.length, cipherSize: plain.length + 48 } });
    const blob = fromBase64(sealed.blob);
    const info = { key: fromBase64(sealed.info.key), sha256: fromBase64(sealed.info.sha256), size: sealed.info.size, cipherSize: sealed.info.cipherSize };
    const { released, error } = await open(blob, info, nodeStreamCrypto);
    expect(error).toBeUndefined();
    expect(Buffer.from(released).equals(Buffer.from(plain))).toBe(true);
    // Node's own encryption under that key would have given the same bytes.
    const again = await seal(plain, nodeStreamCrypto, 3, info.key);
    expect(Buffer.from(again.blob).equals(Buffer.from(blob))).toBe(true);

    const truncated = await page.evaluate(([b, i]) => (window as unknown as { media: PageMedia }).media.decrypt(b, i, 65552), [toBase64(blob.subarray(0, 2 * 65552)), sealed.info] as const);
    expect(truncated).toEqual({ ok: false, code: 'attachment_truncated', released: 65536 });
    const wrongHash = { ...sealed.info, sha256: toBase64(new Uint8Array(32)) };
    const mismatch = await page.evaluate(([b, i]) => (window as unknown as { media: PageMedia }).media.decrypt(b, i, 65552), [sealed.blob, wrongHash] as const);
    expect(mismatch).toEqual({ ok: false, code: 'attachment_hash_mismatch', released: 2 * 65536 });
  });
});

/**
 * Attachments on the web-link path (customers without the app): the Sender uploads a PDF and a
 * PNG (parley-stream-v1 ciphertext), sends a web link naming them; the references travel sealed
 * under the link's key (the manifest), the server grants the blobs to the link only. In headless
 * Chromium the page opens the link (second-factor code, consent), shows the PNG inline and
 * offers the PDF as a download whose bytes are the original's; a tampered blob shows an error
 * code and nothing else. Over HTTP: the capability fetches exactly the link's blobs (404 for
 * any other), is useless before the open and after it expires; another business's blob is
 * refused at POST; the commitment lists the ciphertext hashes; no table and no stored blob
 * holds the plaintext marker, and the page fetched the blobs (their web grants are marked).
 */
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { toBase64Url, type AttachmentRef } from '@parley/core';
import { WEB_ATTACHMENTS_AAD, openWebMessage } from '@parley/core/web-message';
import { openAttachment } from '@parley/core/attachment-stream';
import { smsDeliver } from '../src/channels/sender-sms.js';
import { DEMO_BRAND, freePort, startLocalProviders, type LocalProviders } from '../../cli/src/demo/providers.js';
import { createBusiness } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

const CHROMIUM = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.log(`web link attachments: no Chromium at ${CHROMIUM}; browser test skipped (apt-get install chromium)`);

const MARKER = 'PLAINTEXT-MARKER-a77c3d';

/** A PDF-looking file of 150 000 bytes (three stream chunks), the marker inside. */
function pdfBytes(): Uint8Array {
  const head = new TextEncoder().encode(`%PDF-1.4\n% ${MARKER} statement\n`);
  const out = new Uint8Array(150_000);
  for (let i = 0; i < out.length; i++) out[i] = 32 + ((i * 7) % 90);
  out.set(head);
  return out;
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A valid 4×4 RGB PNG with the marker in a tEXt chunk. */
function pngBytes(): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), Buffer.from(data)]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(4, 0);
  ihdr.writeUInt32BE(4, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc(4 * (1 + 4 * 3));
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) raw.set([200, 40 * x, 40 * y], y * 13 + 1 + x * 3);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('tEXt', Buffer.from(`Comment\0${MARKER}`, 'latin1')),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', new Uint8Array()),
    ]),
  );
}

let t: TestServer;
let providers: LocalProviders;
let backend: Server;
let sender: Sender;
let other: Sender;
const codes: { identityId: string; code: string }[] = [];
let serial = 0;
const PDF = pdfBytes();
const PNG = pngBytes();

beforeAll(async () => {
  const port = await freePort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
  backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      codes.push(JSON.parse(Buffer.concat(chunks).toString()) as { identityId: string; code: string });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const secondFactor = { url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}/codes`, secret: 'att-secret' };
  t = await startTestServer({
    port,
    routing: { channels: providers.channels, businesses: { 'att-bank': { brand: DEMO_BRAND, secondFactor }, 'att-other': { brand: 'Other Bank', secondFactor } } },
  });
  const enrollSender = async (businessId: string, brand: string) =>
    Sender.enroll({
      serverUrl: t.url,
      enrollmentToken: await (await createBusiness(t.url, businessId)).issue('sender', 'sender', { name: brand }),
      store: new MemoryKeyStore(),
      keyPackageBatch: 5,
      ...nodeRuntime,
    });
  sender = await enrollSender('att-bank', DEMO_BRAND);
  other = await enrollSender('att-other', 'Other Bank');
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await other?.close();
  await t?.stop();
  await providers?.close();
  await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
});

async function upload(who: Sender, data: Uint8Array, mime: string, name: string): Promise<AttachmentRef> {
  return who.device.attachments.upload({ data, size: data.length, mime, name });
}

/** Sends a web link with `attachments`; the link as the customer's SMS carries it. */
async function sendLink(text: string, attachments: AttachmentRef[]): Promise<{ link: string; messageId: string; phone: string; audit?: { index: number } }> {
  const phone = `+1555040${String(1000 + ++serial)}`;
  const sent = await sender.sendToWeb(`att-${serial}`, phone, text, { class: 'otp', attachments, deliver: smsDeliver(providers.businessSms, DEMO_BRAND) });
  await expect.poll(() => providers.twilio.inbox(phone).length).toBe(1);
  const link = providers.twilio.inbox(phone)[0]!.text.match(/https?:\/\/\S+/)![0];
  return { link, messageId: sent.messageId, phone, ...(sent.audit ? { audit: sent.audit } : {}) };
}

async function post<T>(path: string, body: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as T };
}

type Opened = { ciphertext: string; attachments?: { manifest: string; capability: string; expiresAt: string } };

/** The page's calls over plain HTTP: a code, then open with consent. */
async function openOverHttp(link: string): Promise<Opened> {
  const token = new URL(link).pathname.split('/').pop()!;
  const before = codes.length;
  expect((await post('/v1/web/challenge', { token })).status).toBe(200);
  await expect.poll(() => codes.length).toBe(before + 1);
  const opened = await post<Opened>('/v1/web/open', { token, code: codes[codes.length - 1]!.code, consent: true });
  expect(opened.status).toBe(200);
  return opened.json;
}

function getBlob(blobId: string, capability?: string): Promise<Response> {
  return fetch(`${t.url}/v1/web/blobs/${blobId}`, capability === undefined ? {} : { headers: { authorization: `Bearer ${capability}` } });
}

/** Flips one byte of a stored blob, in whichever store the engine uses. */
async function tamper(blobId: string, at: number): Promise<void> {
  const store = t.server.blobs.store;
  if (store.dir !== undefined) {
    const file = join(store.dir, (await readdir(store.dir)).find((f) => f.includes(blobId))!);
    const bytes = await readFile(file);
    bytes[at] = bytes[at]! ^ 1;
    await writeFile(file, bytes);
  } else {
    await t.server.db.query('UPDATE blob_chunks SET data = set_byte(data, $2::integer, get_byte(data, $2::integer) # 1) WHERE blob_id = $1 AND seq = 0', [blobId, at]);
  }
}

describe('web link attachments over HTTP', () => {
  it('seals the references under the link key, commits to the hashes, and scopes the capability to the link', async () => {
    const pdf = await upload(sender, PDF, 'application/pdf', 'statement.pdf');
    const png = await upload(sender, PNG, 'image/png', 'chart.png');
    const unrelated = await upload(sender, PNG, 'image/png', 'other.png');
    const { link, messageId, audit } = await sendLink(`Your statement ${MARKER}`, [pdf, png]);
    expect(audit?.index).toBeGreaterThanOrEqual(0);
    // The commitment lists the ciphertext hashes, in order.
    const evidence = await sender.device.exportEvidence(messageId);
    expect((evidence.commitment as { attachments?: string[] }).attachments).toEqual([pdf.sha256, png.sha256]);

    // Before the open there is no capability: any bearer, or none, is 404.
    const guess = toBase64Url(new Uint8Array(32).fill(7));
    for (const res of [await getBlob(pdf.blobId), await getBlob(pdf.blobId, guess)]) {
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('no_blob');
    }

    const opened = await openOverHttp(link);
    const key = new Uint8Array(Buffer.from(new URL(link).hash.slice(1), 'base64url'));
    const sealedManifest = new Uint8Array(Buffer.from(opened.attachments!.manifest, 'base64'));
    const manifest = JSON.parse(await openWebMessage(sealedManifest, key, WEB_ATTACHMENTS_AAD)) as AttachmentRef[];
    // Each part is bound to its purpose: the manifest does not open as the text, nor the text as the manifest.
    await expect(openWebMessage(sealedManifest, key)).rejects.toThrow();
    await expect(openWebMessage(new Uint8Array(Buffer.from(opened.ciphertext, 'base64')), key, WEB_ATTACHMENTS_AAD)).rejects.toThrow();
    expect(manifest.map((r) => [r.blobId, r.name, r.mime, r.sha256])).toEqual([
      [pdf.blobId, 'statement.pdf', 'application/pdf', pdf.sha256],
      [png.blobId, 'chart.png', 'image/png', png.sha256],
    ]);
    const capability = opened.attachments!.capability;
    // Handed out once: the token row no longer holds the manifest (nor the text).
    const [token] = await t.server.db.query<{ manifest: unknown; ciphertext: unknown }>('SELECT manifest, ciphertext FROM retrieval_tokens WHERE message_id = $1', [messageId]);
    expect(token).toEqual({ manifest: null, ciphertext: null });
    expect(new Date(opened.attachments!.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(15 * 60_000 + 5_000);

    // The link's blobs: the ciphertext, which the page's decryptor opens to the original bytes.
    const res = await getBlob(pdf.blobId, capability);
    expect(res.status).toBe(200);
    const blob = new Uint8Array(await res.arrayBuffer());
    expect(toBase64Url(new Uint8Array(createHash('sha256').update(blob).digest()))).toBe(pdf.sha256);
    expect(Buffer.from(await openAttachment(blob, manifest[0]!)).equals(Buffer.from(PDF))).toBe(true);
    // A range, like the device route.
    const part = await fetch(`${t.url}/v1/web/blobs/${png.blobId}`, { headers: { authorization: `Bearer ${capability}`, range: 'bytes=0-9' } });
    expect(part.status).toBe(206);

    // Any other blob, even the same sender's: 404, as for a blob that does not exist.
    const foreign = await upload(other, PNG, 'image/png', 'foreign.png');
    for (const id of [unrelated.blobId, foreign.blobId, 'AAAAAAAAAAAAAAAAAAAAAA']) {
      const refused = await getBlob(id, capability);
      expect(refused.status).toBe(404);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('no_blob');
    }

    // The page fetched the PDF to the end: its web grant is marked (the retention sweep may count it).
    const grants = await t.server.db.query<{ blob_id: string; fetched: boolean }>(
      'SELECT blob_id, fetched_at IS NOT NULL AS fetched FROM blob_grants WHERE device_id = $1 ORDER BY blob_id',
      [`web:${messageId}`],
    );
    expect(Object.fromEntries(grants.map((g) => [g.blob_id, g.fetched]))).toEqual({ [pdf.blobId]: true, [png.blobId]: false });

    // Expired: useless.
    await t.server.db.query(`UPDATE web_blob_capabilities SET expires_at = now() - interval '1 second'`);
    expect((await getBlob(png.blobId, capability)).status).toBe(404);
  });

  it("refuses another business's blob at POST: nothing is sent", async () => {
    const foreign = await upload(other, PDF, 'application/pdf', 'foreign.pdf');
    await expect(sender.sendToWeb('att-foreign', '+15550409001', `Foreign ${MARKER}`, { class: 'otp', attachments: [foreign], deliver: smsDeliver(providers.businessSms, DEMO_BRAND) })).rejects.toMatchObject({
      code: 'unknown_blob',
    });
    expect(providers.twilio.inbox('+15550409001')).toHaveLength(0);
    const rows = await t.server.db.query('SELECT 1 FROM routes WHERE identity_id LIKE $1', ['%att-foreign%']);
    expect(rows).toHaveLength(0);
  });

  it('keeps a blob granted to a link for the retention sweep until the page fetched it', async () => {
    const pdf = await upload(sender, PDF, 'application/pdf', 'kept.pdf');
    const { link, messageId } = await sendLink(`Kept ${MARKER}`, [pdf]);
    const later = new Date(Date.now() + 8 * 86_400_000); // past `retentionSeconds` (7 days), before `maxAgeSeconds`
    const alive = async () => (await t.server.db.query(`SELECT 1 FROM blobs WHERE id = $1 AND state <> 'deleted'`, [pdf.blobId])).length === 1;
    await t.server.blobs.sweep(later);
    expect(await alive()).toBe(true);
    const opened = await openOverHttp(link);
    const res = await getBlob(pdf.blobId, opened.attachments!.capability);
    expect((await res.arrayBuffer()).byteLength).toBe(pdf.cipherSize);
    await expect
      .poll(async () => (await t.server.db.query<{ fetched: boolean }>('SELECT fetched_at IS NOT NULL AS fetched FROM blob_grants WHERE device_id = $1', [`web:${messageId}`]))[0]?.fetched)
      .toBe(true);
    await t.server.blobs.sweep(later);
    expect(await alive()).toBe(false);
  });

  it('serves the page with a CSP that allows blob: images and nothing more', async () => {
    const res = await fetch(`${t.url}/r/AAAAAAAAAAAAAAAAAAAAAA`);
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; connect-src 'self'; img-src blob:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    const asset = await fetch(`${t.url}/assets/attachment-stream.js`);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await asset.text()).toContain('export async function openAttachment');
  });

  it('keeps the plaintext marker out of every table and the blob store', async () => {
    const dump: { table: string; bytes: Uint8Array[]; texts: string[] }[] = [];
    const tables = await t.server.db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
    for (const { table_name } of tables) {
      const bytes: Uint8Array[] = [];
      const texts: string[] = [];
      for (const row of await t.server.db.query<Record<string, unknown>>(`SELECT * FROM ${table_name}`)) {
        for (const value of Object.values(row)) {
          if (value instanceof Uint8Array) bytes.push(value);
          else if (value !== null && value !== undefined) texts.push(typeof value === 'string' ? value : JSON.stringify(value));
        }
      }
      dump.push({ table: table_name, bytes, texts });
    }
    const dir = t.server.blobs.store.dir;
    if (dir !== undefined) dump.push({ table: 'blob files', bytes: await Promise.all((await readdir(dir)).map(async (f) => new Uint8Array(await readFile(join(dir, f))))), texts: [] });
    expect(dump.some((d) => d.table === 'blob_chunks' || d.table === 'blob files')).toBe(true);
    const found = dump.filter((d) => d.bytes.some((b) => Buffer.from(b).includes(MARKER)) || d.texts.some((s) => s.includes(MARKER))).map((d) => d.table);
    expect(found).toEqual([]);
  });
});

describe.skipIf(!available)('web link attachments in headless Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  async function openPage(link: string): Promise<{ page: Page; requests: string[]; violations: string[] }> {
    const page = await browser.newPage({ acceptDownloads: true });
    const requests: string[] = [];
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    page.on('request', (r) => requests.push(`${r.method()} ${r.url()} ${JSON.stringify(r.headers())} ${r.postData() ?? ''}`));
    await page.goto(link);
    const before = codes.length;
    await page.click('#request-code');
    await page.waitForSelector('#code', { state: 'visible' });
    await expect.poll(() => codes.length).toBe(before + 1);
    await page.fill('#code', codes[codes.length - 1]!.code);
    await page.check('#consent');
    await page.click('#open');
    await page.waitForSelector('#result', { state: 'visible' });
    return { page, requests, violations };
  }

  it('shows the PNG inline and offers the PDF as a download with the original bytes', async () => {
    const pdf = await upload(sender, PDF, 'application/pdf', 'statement.pdf');
    const png = await upload(sender, PNG, 'image/png', 'chart.png');
    const { link, messageId } = await sendLink(`Your statement is attached. ${MARKER}`, [pdf, png]);
    const key = new URL(link).hash.slice(1);
    const before = codes.length;
    const { page, requests, violations } = await openPage(link);
    expect(codes.length).toBe(before + 1);
    expect(await page.textContent('#message')).toBe(`Your statement is attached. ${MARKER}`);
    await page.waitForSelector(`li[data-blob="${png.blobId}"][data-state="ok"] img`);
    await page.waitForSelector(`li[data-blob="${pdf.blobId}"][data-state="ok"] a[download]`);
    expect(await page.textContent(`li[data-blob="${pdf.blobId}"]`)).toContain('statement.pdf (application/pdf, 146.5 KB)');
    // The image decoded (a real PNG, from a blob: URL the CSP allows).
    await expect.poll(() => page.$eval(`li[data-blob="${png.blobId}"] img`, (img) => (img as HTMLImageElement).naturalWidth)).toBe(4);
    expect(violations).toEqual([]);
    expect(await page.isVisible(`li[data-blob="${pdf.blobId}"] img`)).toBe(false);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`li[data-blob="${pdf.blobId}"] a[download]`)]);
    expect(download.suggestedFilename()).toBe('statement.pdf');
    expect(Buffer.from(await readFile((await download.path())!)).equals(Buffer.from(PDF))).toBe(true);
    // The key went nowhere; the blobs went with the capability only.
    expect(requests.filter((r) => r.includes('/v1/web/blobs/'))).toHaveLength(2);
    expect(requests.some((r) => r.includes(key))).toBe(false);
    expect(t.logs.join('\n')).not.toContain(key);
    const grants = await t.server.db.query<{ fetched: boolean }>('SELECT fetched_at IS NOT NULL AS fetched FROM blob_grants WHERE device_id = $1', [`web:${messageId}`]);
    expect(grants.map((g) => g.fetched)).toEqual([true, true]);
    await page.close();
  });

  it('shows an error code, and nothing of the file, for a tampered blob', async () => {
    const pdf = await upload(sender, PDF, 'application/pdf', 'statement.pdf');
    const png = await upload(sender, PNG, 'image/png', 'chart.png');
    const { link } = await sendLink(`Tampered ${MARKER}`, [pdf, png]);
    await tamper(pdf.blobId, 70_000); // inside the second chunk
    const { page } = await openPage(link);
    await page.waitForSelector(`li[data-blob="${pdf.blobId}"][data-state="failed"]`);
    expect(await page.getAttribute(`li[data-blob="${pdf.blobId}"]`, 'data-error')).toBe('attachment_tampered');
    expect(await page.textContent(`li[data-blob="${pdf.blobId}"]`)).toContain('(attachment_tampered)');
    expect(await page.$(`li[data-blob="${pdf.blobId}"] a`)).toBeNull();
    // The untouched one still opens.
    await page.waitForSelector(`li[data-blob="${png.blobId}"][data-state="ok"] img`);
    await page.close();
  });
});

/**
 * Cross-origin access in a real browser (Debian's headless Chromium through playwright-core):
 * a bank's page served from its own loopback origin calls the Parley API with fetch (a plain
 * GET, a JSON POST that needs a preflight, an error answer) and opens the WebSocket.
 * Against a server that lists the page's origin all of it works; against a server that does
 * not, the browser's fetches fail with TypeError, the WebSocket fails, and a "simple"
 * no-cors POST (which a browser sends without asking) is refused before it changes anything.
 */
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { newDeviceId } from '@parley/core';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

const CHROMIUM = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.log(`cors in the browser: no Chromium at ${CHROMIUM}; browser test skipped (apt-get install chromium)`);

/** What the page observed; `TypeError` is how a browser reports a request CORS blocked. */
interface Observed {
  health: string;
  challenge: string;
  errorCode: string;
  simplePost: string;
  ws: string;
}

/**
 * Runs in the page: every call the bank's web app would make. `simplePostStatus` is the
 * status the browser received for the no-cors POST (the page sees only an opaque answer;
 * the browser's network layer, through playwright, sees the real one).
 */
async function probe(page: Page, serverUrl: string): Promise<Observed & { simplePostStatus: number }> {
  const simple = page.waitForResponse((res) => res.url() === `${serverUrl}/v1/auth/challenge` && res.request().headers()['content-type'] === 'text/plain');
  const seen = await page.evaluate(
    async ({ url, deviceId }) => {
      const outcome = async (run: () => Promise<string>): Promise<string> => {
        try {
          return await run();
        } catch (error) {
          return error instanceof TypeError ? 'TypeError' : `other: ${String(error)}`;
        }
      };
      const health = await outcome(async () => ((await (await fetch(`${url}/healthz`)).json()) as { status: string }).status);
      const challenge = await outcome(async () => {
        const res = await fetch(`${url}/v1/auth/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ deviceId }) });
        const body = (await res.json()) as { challenge?: string };
        return `${res.status} ${typeof body.challenge === 'string' ? 'challenge' : 'none'}`;
      });
      const errorCode = await outcome(async () => {
        const res = await fetch(`${url}/v1/devices/${deviceId}`, { headers: { authorization: 'Bearer not-a-session' } });
        return `${res.status} ${((await res.json()) as { error: { code: string } }).error.code}`;
      });
      // A "simple" request: no preflight; the browser sends it and only hides the answer.
      const simplePost = await outcome(async () => {
        const res = await fetch(`${url}/v1/auth/challenge`, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ deviceId }) });
        return res.type;
      });
      const ws = await new Promise<string>((resolve) => {
        const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`);
        const timer = setTimeout(() => resolve('timeout'), 10_000);
        socket.onopen = () => {
          clearTimeout(timer);
          socket.close();
          resolve('open');
        };
        socket.onerror = () => {
          clearTimeout(timer);
          resolve('error');
        };
      });
      return { health, challenge, errorCode, simplePost, ws };
    },
    { url: serverUrl, deviceId: newDeviceId() as string },
  );
  return { ...seen, simplePostStatus: (await simple).status() };
}

describe.skipIf(!available)('cross-origin access from a bank page in headless Chromium', () => {
  let site: Server;
  let siteOrigin: string;
  let open: TestServer;
  let closed: TestServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    site = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Bank web app</title><p>bank</p>');
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
    siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    [open, closed] = await Promise.all([startTestServer({ allowedOrigins: [siteOrigin] }), startTestServer({ allowedOrigins: ['https://elsewhere.example'] })]);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
    await page.goto(`${siteOrigin}/`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([open?.stop(), closed?.stop()]);
    await new Promise<void>((r) => (site ? site.close(() => r()) : r()));
  });

  const challenges = async (t: TestServer) => (await t.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM auth_challenges'))[0]!.n;

  it('a server that lists the page origin: fetch (with preflight), error bodies and the WebSocket work', async () => {
    const before = await challenges(open);
    const seen = await probe(page, open.url);
    // The simple POST passed the origin check and reached the route's body validation (400: a string, not the JSON object).
    expect(seen).toEqual({ health: 'ok', challenge: '200 challenge', errorCode: '401 session_invalid', simplePost: 'opaque', simplePostStatus: 400, ws: 'open' });
    // The preflighted JSON POST ran.
    expect(await challenges(open)).toBe(before + 1);
  });

  it('a server that does not: fetches fail with TypeError, the WebSocket fails, the simple POST changes nothing', async () => {
    const before = await challenges(closed);
    const seen = await probe(page, closed.url);
    // The browser sent the simple POST (the page sees an opaque answer either way): refused by the origin check.
    expect(seen).toEqual({ health: 'TypeError', challenge: 'TypeError', errorCode: 'TypeError', simplePost: 'opaque', simplePostStatus: 403, ws: 'error' });
    expect(await challenges(closed)).toBe(before);
  });
});

/**
 * The operator console (apps/console) in real headless Chromium against a real server on
 * loopback that ran the demo scenario: first-run bootstrap and sign-in, every view showing the
 * numbers the server's API computes, a route with its decisions, log entries and a message's
 * evidence verified in the browser (and a bad one refused), a device revoked from the console
 * (the device's session refused afterwards), a viewer without admin controls whose forged
 * mutation is refused, and CSRF refusals. Saves a screenshot of each view to docs/console/.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { ADMIN_TOKEN, api } from '@parley/test-kit/server';
import { REPORTED, startConsoleFixture, type ConsoleFixture } from './console-fixture.js';

const CHROMIUM = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.log(`operator console: no Chromium at ${CHROMIUM}; browser test skipped (apt-get install chromium)`);

const DOCS = fileURLToPath(new URL('../../../docs/console/', import.meta.url));
const ADMIN = { name: 'ops-admin', password: 'correct horse battery staple' };
const VIEWER = { name: 'ops-viewer', password: 'viewer password 2026' };
/** The server appends to its logs in batches, and two cores are shared: room for a busy machine. */
const POLL = { timeout: 20_000, interval: 100 };

interface Json {
  status: number;
  /** Parsed JSON of any response shape (test convenience, as test-kit `api`). */
  body: any;
}

/** A call from the page itself (its cookie, same origin). */
function fromPage(page: Page, path: string, init: { method?: string; csrf?: string | null; body?: unknown } = {}): Promise<Json> {
  return page.evaluate(
    async ({ path, method, csrf, body }) => {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (csrf !== null && csrf !== undefined) headers['x-parley-csrf'] = csrf;
      const res = await fetch(path, { method: method ?? 'GET', credentials: 'same-origin', headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    { path, method: init.method, csrf: init.csrf, body: init.body },
  );
}

const statText = (page: Page, id: string) => page.locator(`[data-stat="${id}"]`).innerText();

describe.skipIf(!available)('operator console in headless Chromium', () => {
  let fx: ConsoleFixture;
  let admin: Page;
  let adminContext: BrowserContext;
  const errors: string[] = [];
  const cspViolations: string[] = [];

  beforeAll(async () => {
    fx = await startConsoleFixture();
    await mkdir(DOCS, { recursive: true });
  }, 300_000);

  afterAll(async () => {
    await fx?.close();
  });

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await fx.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    // Whatever the page's Content-Security-Policy refused (no inline script or style may be needed).
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('dialog', (d) => void d.accept());
    return { context, page };
  }

  async function open(page: Page, view: string): Promise<void> {
    await page.click(`[data-nav="${view}"]`);
    await page.waitForSelector(`body[data-view="${view}"]`);
    await page.waitForSelector(`[data-testid="view-${view}"] .stats, [data-testid="view-${view}"] .grid`, { timeout: 20_000 });
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${DOCS}${name}.png`, fullPage: true });
  }

  async function signIn(page: Page, who: { name: string; password: string }): Promise<void> {
    await page.goto(`${fx.t.url}/console/`);
    await page.waitForSelector('body[data-state="sign-in"]');
    await page.fill('#sign-in-form input[name="name"]', who.name);
    await page.fill('#sign-in-form input[name="password"]', who.password);
    await page.click('#sign-in-form button[type="submit"]');
    await page.waitForSelector('body[data-state="ready"]');
  }

  it('bootstraps the first admin with the admin token, then signs in', async () => {
    ({ context: adminContext, page: admin } = await newPage());
    await admin.goto(`${fx.t.url}/console/`);
    await admin.waitForSelector('body[data-state="bootstrap"]');
    // A wrong admin token is refused with the server's code.
    await admin.fill('#bootstrap-form input[name="token"]', 'not-the-admin-token');
    await admin.fill('#bootstrap-form input[name="name"]', ADMIN.name);
    await admin.fill('#bootstrap-form input[name="password"]', ADMIN.password);
    await admin.click('#bootstrap-form button[type="submit"]');
    await expect.poll(() => admin.locator('#bootstrap-form .error').innerText(), POLL).toContain('admin_token_invalid');
    await admin.fill('#bootstrap-form input[name="token"]', ADMIN_TOKEN);
    await admin.click('#bootstrap-form button[type="submit"]');
    await admin.waitForSelector('body[data-state="sign-in"]');
    expect((await api(fx.t.url, 'GET', '/console/api/status')).body).toEqual({ bootstrapped: true });

    await admin.fill('#sign-in-form input[name="name"]', ADMIN.name);
    await admin.fill('#sign-in-form input[name="password"]', 'wrong password, surely');
    await admin.click('#sign-in-form button[type="submit"]');
    await expect.poll(() => admin.locator('#sign-in-form .error').innerText(), POLL).toContain('login_failed');
    await shot(admin, 'sign-in');
    await signIn(admin, ADMIN);
    expect(await admin.locator('[data-testid="role-badge"]').innerText()).toMatch(/admin/i);
    const cookies = await adminContext.cookies();
    expect(cookies.find((c) => c.name === 'parley_console')?.httpOnly).toBe(true);
  });

  it("Delivery: the counts the server computes, and one message's route with its decisions", async () => {
    await open(admin, 'delivery');
    const report = (await fromPage(admin, '/console/api/delivery?hours=24')).body;
    const total = report.byClass.reduce((n: number, c: { total: number }) => n + c.total, 0);
    expect(total).toBeGreaterThan(0);
    await expect.poll(() => statText(admin, 'messages-total'), POLL).toBe(String(total));
    for (const c of report.byClass) expect(await admin.locator(`[data-class-total="${c.class}"]`).innerText()).toBe(String(c.total));
    expect(await admin.locator('[data-testid="delivery-chart"] canvas').count()).toBeGreaterThan(0);

    // A message the scenario sent off the app (SMS, RCS or push): its route, decision by decision.
    const fallback = fx.scenario.messages.find((m) => ['sms-token-app', 'sms-token-web', 'rcs', 'push-app'].includes(m.path));
    expect(fallback, 'the scenario sends over a fallback path').toBeDefined();
    const detail = (await fromPage(admin, `/console/api/routes/${fallback!.id}`)).body;
    expect(detail.route.path).toBe(fallback!.path);
    expect(detail.events.length).toBeGreaterThan(0);
    await admin.fill('#route-lookup input[name="messageId"]', fallback!.id);
    await admin.click('#route-lookup button[type="submit"]');
    await admin.waitForSelector(`[data-testid="route-detail"] [data-message-id="${fallback!.id}"]`);
    expect(await admin.locator('[data-route-path]').getAttribute('data-route-path')).toBe(fallback!.path);
    expect(await admin.locator('[data-testid="route-events"] li').count()).toBe(detail.events.length);
    expect(await admin.locator('[data-testid="routes-table"] tbody tr').count()).toBeGreaterThan(0);
    await shot(admin, 'delivery');
  });

  it('Verification: customers, verified share, pending devices and key changes', async () => {
    await open(admin, 'verification');
    const report = (await fromPage(admin, '/console/api/verification')).body;
    expect(report.customers.total).toBeGreaterThan(0);
    expect(report.customers.verified).toBeGreaterThan(0); // our customer reported it verified by QR
    await expect.poll(() => statText(admin, 'customers-total'), POLL).toBe(String(report.customers.total));
    expect(await statText(admin, 'customers-verified')).toBe(String(report.customers.verified));
    expect(await statText(admin, 'pending-devices')).toBe(String(report.pendingDevices.length));
    expect(await admin.locator('[data-testid="verified-by-method"] [data-label="QR code"]').getAttribute('data-value')).toBe(String(report.byMethod.qr));
    if (report.keyChanges.length > 0) expect(await admin.locator('[data-testid="key-changes-table"] tbody tr').count()).toBe(report.keyChanges.length);
    await shot(admin, 'verification');
  });

  it('Decrypt failures: by reason and by version, as clients reported them', async () => {
    await open(admin, 'decrypt-failures');
    const report = (await fromPage(admin, '/console/api/decrypt-failures?hours=168')).body;
    expect(report.total).toBeGreaterThanOrEqual(REPORTED.count);
    await expect.poll(() => statText(admin, 'failures-total'), POLL).toBe(String(report.total));
    const reason = report.byReason.find((r: { reason: string }) => r.reason === REPORTED.reason);
    expect(await admin.locator(`[data-testid="failures-reason-bars"] [data-label="${REPORTED.reason}"]`).getAttribute('data-value')).toBe(String(reason.count));
    expect(await admin.locator(`[data-version-count="${REPORTED.sdkVersion}/${REPORTED.platform}"]`).innerText()).toBe(String(REPORTED.count));
    await shot(admin, 'decrypt-failures');
  });

  it("Transparency: entries and a message's evidence verified in the browser; a bad one refused", async () => {
    await open(admin, 'transparency');
    const report = (await fromPage(admin, '/console/api/logs')).body;
    for (const log of report.logs) {
      expect(log.size).toBeGreaterThan(0);
      expect(await statText(admin, `log-size-${log.name}`)).toBe(String(log.size));
    }
    const verifyEntry = async (log: string, index: number) => {
      await admin.selectOption('#entry-verify-form select[name="log"]', log);
      await admin.fill('#entry-verify-form input[name="index"]', String(index));
      await admin.click('#entry-verify-form button[type="submit"]');
      await admin.waitForSelector(`[data-testid="entry-steps"] >> text=entry ${index}`);
      return admin.locator('[data-testid="entry-verdict"]').getAttribute('data-verified');
    };
    const keys = report.logs.find((l: { name: string }) => l.name === 'keys');
    expect(await verifyEntry('keys', keys.size - 1)).toBe('true');
    expect(await admin.locator('[data-testid="entry-steps"] [data-ok="false"]').count()).toBe(0);
    expect(await admin.locator('[data-testid="entry-steps"] li').count()).toBeGreaterThanOrEqual(3); // checkpoint, inclusion, consistency
    expect(await verifyEntry('audit', 0)).toBe('true');
    expect(await verifyEntry('audit', 1_000_000)).toBe('false');
    expect(await admin.locator('[data-testid="entry-steps"] [data-ok="false"]').innerText()).toContain('beyond the tree size');

    const bundle = await readFile(fx.evidencePath, 'utf8');
    const verifyBundle = async (text: string) => {
      await admin.fill('#evidence-bundle', text);
      await admin.click('#evidence-verify-form button[type="submit"]');
      await admin.waitForSelector('[data-testid="evidence-verdict"]');
      await admin.waitForFunction(() => document.querySelector('#evidence-verify-form button')?.hasAttribute('disabled') === false);
      return admin.locator('[data-testid="evidence-verdict"]').getAttribute('data-verified');
    };
    // A forged receipt time breaks the device's signature over it.
    const forged = JSON.parse(bundle);
    forged.receipts[0].receipt.time = '2001-01-01T00:00:00Z';
    expect(await verifyBundle(JSON.stringify(forged))).toBe('false');
    expect(await admin.locator('[data-testid="evidence-checks"] [data-ok="false"]').count()).toBeGreaterThan(0);
    expect(await verifyBundle(bundle)).toBe('true');
    expect(await admin.locator('[data-testid="evidence-message-id"]').innerText()).toBe(fx.scenario.evidence!.messageId);
    expect(await admin.locator('[data-testid="evidence-live"] [data-ok="true"]').count()).toBeGreaterThanOrEqual(2);
    await shot(admin, 'transparency');
  });

  it('Administration: businesses, a device revoked from the console, a viewer created', async () => {
    await open(admin, 'administration');
    await admin.waitForSelector(`[data-business="${fx.scenario.businessId}"]`);
    const { active } = fx.customer;
    expect((await api(fx.t.url, 'GET', `/v1/devices/${active.deviceId}`, undefined, active.token)).status).toBe(200);
    await admin.fill('#identity-lookup input[name="identityId"]', active.identityId);
    await admin.click('#identity-lookup button[type="submit"]');
    await admin.click(`[data-revoke="${active.deviceId}"]`);
    // The server's answer as the page shows it (its error code, if it refused).
    await expect.poll(() => admin.locator('[data-testid="device-action-result"]').innerText(), POLL).toBe(`Device ${active.deviceId} is revoked.`);
    await expect.poll(() => admin.locator(`[data-device-status="${active.deviceId}"]`).innerText(), POLL).toBe('revoked');
    // The revocation took effect: the console API says so, and the device's session is refused.
    const listed = (await fromPage(admin, `/console/api/identities/${encodeURIComponent(active.identityId)}/devices`)).body;
    expect(listed.devices.find((d: { id: string }) => d.id === active.deviceId).status).toBe('revoked');
    expect((await api(fx.t.url, 'GET', `/v1/devices/${active.deviceId}`, undefined, active.token)).status).toBeGreaterThanOrEqual(400);

    await admin.fill('#new-operator-form input[name="name"]', VIEWER.name);
    await admin.fill('#new-operator-form input[name="password"]', VIEWER.password);
    await admin.selectOption('#new-operator-form select[name="role"]', 'viewer');
    await admin.click('#new-operator-form button[type="submit"]');
    await admin.waitForSelector(`[data-operator="${VIEWER.name}"]`);
    await expect.poll(() => admin.locator('[data-testid="actions-table"] [data-action="device.revoke"]').count(), POLL).toBeGreaterThan(0);
    await shot(admin, 'administration');
  });

  it('a viewer sees no admin controls, and the server refuses a forged admin request', async () => {
    const { page: viewer } = await newPage();
    await signIn(viewer, VIEWER);
    expect(await viewer.locator('[data-testid="role-badge"]').innerText()).toMatch(/viewer/i);
    await open(viewer, 'administration');
    await viewer.waitForSelector('[data-testid="viewer-notice"]');
    const someone = fx.scenario.devices[0]!;
    await viewer.fill('#identity-lookup input[name="identityId"]', someone.identityId);
    await viewer.click('#identity-lookup button[type="submit"]');
    await viewer.waitForSelector('[data-testid="devices-table"]');
    await viewer.waitForSelector('[data-testid="operators-table"]');
    expect(await viewer.locator('[data-revoke], [data-disable], #new-operator-form').count()).toBe(0);

    const { csrfToken } = (await fromPage(viewer, '/console/api/session')).body;
    const revoke = await fromPage(viewer, `/console/api/devices/${someone.deviceId}/revoke`, { method: 'POST', csrf: csrfToken });
    expect(revoke).toMatchObject({ status: 403, body: { code: 'console_forbidden' } });
    const create = await fromPage(viewer, '/console/api/operators', { method: 'POST', csrf: csrfToken, body: { name: 'sneaky', password: 'sneaky password!!', role: 'admin' } });
    expect(create).toMatchObject({ status: 403, body: { code: 'console_forbidden' } });
    const stillActive = (await fromPage(viewer, `/console/api/identities/${encodeURIComponent(someone.identityId)}/devices`)).body;
    expect(stillActive.devices.find((d: { id: string }) => d.id === someone.deviceId).status).not.toBe('revoked');
  });

  it('refuses a mutation without the CSRF header, with a wrong one, or from another origin', async () => {
    const body = { name: 'csrf-victim', password: 'long enough password', role: 'admin' };
    expect(await fromPage(admin, '/console/api/operators', { method: 'POST', csrf: null, body })).toMatchObject({ status: 403, body: { code: 'csrf_failed' } });
    expect(await fromPage(admin, '/console/api/operators', { method: 'POST', csrf: 'not-the-token', body })).toMatchObject({ status: 403, body: { code: 'csrf_failed' } });
    const { csrfToken } = (await fromPage(admin, '/console/api/session')).body;
    const cookie = (await adminContext.cookies()).find((c) => c.name === 'parley_console')!;
    const foreign = await fetch(`${fx.t.url}/console/api/operators`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `${cookie.name}=${cookie.value}`, 'x-parley-csrf': csrfToken, origin: 'http://evil.example' },
      body: JSON.stringify(body),
    });
    // Refused before any console code runs by the server's allowed-origins check, or by the console's own Origin check.
    expect(foreign.status).toBe(403);
    expect(['origin_not_allowed', 'csrf_failed']).toContain(((await foreign.json()) as { code: string }).code);
    const operators = (await fromPage(admin, '/console/api/operators')).body.operators as { name: string }[];
    expect(operators.map((o) => o.name)).not.toContain('csrf-victim');
    expect(errors).toEqual([]);
    // Only the evidence verifier's one probe for `eval` (TypeBox then interprets its schemas).
    expect(cspViolations.filter((v) => !/unsafe-eval/.test(v))).toEqual([]);
  });
});

/**
 * Test helpers for the console: raw HTTP requests over node:http (any path bytes, any headers,
 * a chosen local address on loopback) and a small cookie-keeping console client.
 */
import { request as httpRequest } from 'node:http';
import { ADMIN_TOKEN } from '@parley/test-kit/server';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  body: any;
}

export interface RawOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** The local address to connect from (any 127.x.y.z on loopback): another client address. */
  localAddress?: string;
}

/**
 * One request with `path` sent exactly as given (no URL normalisation, unlike fetch).
 *
 * @example
 * const res = await raw(t.url, '/console/../package.json');
 */
export function raw(base: string, path: string, options: RawOptions = {}): Promise<RawResponse> {
  const url = new URL(base);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers };
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers, ...(options.localAddress ? { localAddress: options.localAddress } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = undefined;
          try {
            body = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The `Set-Cookie` headers of an answer. */
export function setCookies(res: RawResponse): string[] {
  const value = res.headers['set-cookie'];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** A browser-like console client: keeps the session cookie and sends the CSRF token on mutations. */
export class ConsoleClient {
  cookie: string | undefined;
  csrf: string | undefined;

  constructor(
    readonly url: string,
    readonly localAddress?: string,
  ) {}

  /** One call to `/console/api/<path>` with the cookie, and on mutations the CSRF token (unless `csrf` says otherwise). */
  call(method: string, path: string, body?: unknown, extra: { csrf?: string | null; headers?: Record<string, string> } = {}): Promise<RawResponse> {
    const csrf = extra.csrf === undefined ? this.csrf : extra.csrf;
    const headers: Record<string, string> = {
      ...(this.cookie ? { cookie: this.cookie } : {}),
      ...(method !== 'GET' && csrf ? { 'x-parley-csrf': csrf } : {}),
      ...extra.headers,
    };
    return raw(this.url, `/console/api/${path}`, { method, headers, body, ...(this.localAddress ? { localAddress: this.localAddress } : {}) });
  }

  /** Logs in; keeps the cookie and CSRF token of a successful login. */
  async login(name: string, password: string): Promise<RawResponse> {
    const res = await this.call('POST', 'login', { name, password });
    if (res.status === 200) {
      this.cookie = setCookies(res)[0]!.split(';')[0];
      this.csrf = res.body.csrfToken;
    }
    return res;
  }
}

/**
 * Makes the first admin with the test server's admin token and logs in as them.
 *
 * @example
 * const admin = await bootstrapAdmin(t.url, 'root', 'a long enough password');
 */
export async function bootstrapAdmin(url: string, name: string, password: string): Promise<ConsoleClient> {
  const res = await raw(url, '/console/api/bootstrap', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: { name, password } });
  if (res.status !== 201) throw new Error(`bootstrap: ${res.status} ${res.text}`);
  const client = new ConsoleClient(url);
  const login = await client.login(name, password);
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
  return client;
}

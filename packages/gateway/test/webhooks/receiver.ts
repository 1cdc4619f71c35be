/**
 * A webhook receiver on loopback for the dispatcher tests: records every request and checks
 * each with our `verifyWebhook` AND the official `standardwebhooks` library.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook } from '../../src/webhooks/index.js';
export { freePort } from '@parley/emulators';

export interface Received {
  id: string;
  path: string;
  body: string;
  headers: IncomingHttpHeaders;
  /** verifyWebhook accepted it with the receiver's secret. */
  verifiedOurs: boolean;
  /** The official library accepted it with the receiver's secret. */
  verifiedTheirs: boolean;
  /** What the receiver answered ('hang': nothing until closed). */
  answer: number | 'hang';
}

/** What to answer a request: a status, or 'hang' (keep it open until the receiver closes). */
export type Respond = (request: { id: string; path: string; nth: number }) => number | 'hang';

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  respond: Respond;
  /** Ids of the requests answered with a 2xx, in arrival order. */
  acknowledged(): string[];
  close(): Promise<void>;
}

/**
 * Starts a receiver that verifies with `secret` (only that one) and answers per `respond`
 * (default 200); `port` 0 picks a free port.
 */
export async function startReceiver(secret: string, respond: Respond = () => 200, port = 0): Promise<Receiver> {
  const hanging = new Set<ServerResponse>();
  const receiver: Receiver = {
    url: '',
    port: 0,
    received: [],
    respond,
    acknowledged: () => receiver.received.filter((r) => typeof r.answer === 'number' && r.answer >= 200 && r.answer < 300).map((r) => r.id),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      let verifiedOurs = false;
      let verifiedTheirs = false;
      try {
        verifyWebhook(secret, req.headers, new Uint8Array(raw));
        verifiedOurs = true;
      } catch {
        /* recorded as false */
      }
      try {
        new Webhook(secret).verify(body, {
          'webhook-id': id,
          'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
        });
        verifiedTheirs = true;
      } catch {
        /* recorded as false */
      }
      const path = req.url ?? '/';
      const nth = receiver.received.filter((r) => r.id === id).length;
      const answer = receiver.respond({ id, path, nth });
      receiver.received.push({ id, path, body, headers: req.headers, verifiedOurs, verifiedTheirs, answer });
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      if (answer >= 300 && answer < 400) res.setHeader('location', '/redirected');
      res.statusCode = answer;
      res.end('receiver says hello');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/parley/status`;
  return receiver;
}


/** Polls `check` until it is true (or fails after `timeoutMs`). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

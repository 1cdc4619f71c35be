/**
 * Connection limits of a node's HTTP server: timeouts for slow requests, a cap on
 * open connections per client IP and in all. A client that trickles a body (one byte
 * every few seconds) or hoards sockets cannot hold the node: its request gets 408 and
 * its connection is closed, and connections beyond the caps are refused at accept.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.js';

/** Refusals are logged at most this often (an attacker must not be able to flood the log). */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * A Fastify `serverFactory` for the node's HTTP server with every limit applied. (Node
 * checks request and header timeouts every `connectionsCheckingInterval`, 30 s unless
 * set at construction, which Fastify's own options cannot reach.)
 */
export function limitedServerFactory(http: ServerConfig['http'], log: Logger): (handler: RequestListener) => Server {
  return (handler) => {
    const timeouts = [http.requestTimeoutMs, http.headersTimeoutMs].filter((ms) => ms > 0);
    const server = createServer(
      {
        requestTimeout: http.requestTimeoutMs,
        // Node requires headersTimeout <= requestTimeout (when the latter is set).
        headersTimeout: http.requestTimeoutMs > 0 ? Math.min(http.headersTimeoutMs, http.requestTimeoutMs) : http.headersTimeoutMs,
        keepAliveTimeout: http.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.max(100, Math.min(1_000, ...timeouts.map((ms) => ms / 2))),
      },
      handler,
    );
    server.setTimeout(http.idleTimeoutMs);
    limitConnections(server, http, log);
    return server;
  };
}

/** Caps open connections, per client address and in all. */
function limitConnections(server: Server, http: ServerConfig['http'], log: Logger): void {
  if (http.maxConnections > 0) server.maxConnections = http.maxConnections;
  if (http.maxConnectionsPerIp <= 0) return;
  const open = new Map<string, number>();
  let refused = 0;
  let lastReport = 0;
  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? 'unknown';
    const count = open.get(ip) ?? 0;
    if (count >= http.maxConnectionsPerIp) {
      refused++;
      const now = Date.now();
      if (now - lastReport >= REFUSAL_LOG_INTERVAL_MS) {
        log.warn({ refused, limit: http.maxConnectionsPerIp }, 'connections refused: too many open connections from one address');
        lastReport = now;
        refused = 0;
      }
      socket.destroy();
      return;
    }
    open.set(ip, count + 1);
    socket.once('close', () => {
      const left = (open.get(ip) ?? 1) - 1;
      if (left <= 0) open.delete(ip);
      else open.set(ip, left);
    });
  });
}

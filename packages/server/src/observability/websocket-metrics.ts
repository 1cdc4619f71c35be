/**
 * WebSocket metrics: open sockets now (authenticated or still authenticating), and sockets
 * opened and closed, with the close code as a bounded label (the codes Parley and RFC 6455
 * define; any other code a peer sends is `other`).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { WebSocket, WebSocketServer } from 'ws';

/** Close codes that may appear as label values: RFC 6455's common ones and ws/gateway.ts CLOSE. */
const KNOWN_CLOSE_CODES = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 4001, 4002, 4003, 4004, 4008]);

/** The label value of a close code: the code when it is known, else `other`. */
export function closeCodeLabel(code: number): string {
  return KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
}

/**
 * Registers `parley_websocket_connections` (gauge, by state),
 * `parley_websocket_connections_opened_total` and `parley_websocket_connections_closed_total`
 * (by close code) on the server's WebSocket server.
 *
 * @example
 * registerWebSocketMetrics(metrics.registry, app.websocketServer, () => registry.size);
 */
export function registerWebSocketMetrics(registry: Registry, server: WebSocketServer, authenticated: () => number): void {
  const registers = [registry];
  const opened = new Counter({ name: 'parley_websocket_connections_opened_total', help: 'WebSocket connections accepted (upgrade done)', registers });
  const closed = new Counter({ name: 'parley_websocket_connections_closed_total', help: 'WebSocket connections closed, by close code (unknown codes: other)', labelNames: ['code'], registers });
  new Gauge({
    name: 'parley_websocket_connections',
    help: 'Open WebSocket connections, by state (authenticated: a device session; pending: not yet authenticated)',
    labelNames: ['state'],
    registers,
    collect() {
      const open = server.clients.size;
      const devices = Math.min(authenticated(), open);
      this.set({ state: 'authenticated' }, devices);
      this.set({ state: 'pending' }, open - devices);
    },
  });
  server.on('connection', (socket: WebSocket) => {
    opened.inc();
    socket.once('close', (code: number) => closed.inc({ code: closeCodeLabel(code) }));
  });
}

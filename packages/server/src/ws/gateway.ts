/**
 * WebSocket endpoint `/v1/ws`: online delivery and low-latency submit/ack.
 * Authentication: `Authorization: Bearer <session>` on the upgrade request, or
 * a first frame `{ "type": "auth", "token" }` (browsers cannot set headers).
 * A socket authenticates once: further `auth` frames are refused, and a socket that
 * closes while its authentication is in flight never registers a connection.
 * Frames are JSON text; see `ClientFrame` / `ServerFrame` in @parley/core.
 */
import type { FastifyInstance } from 'fastify';
import type { WebSocket, RawData } from 'ws';
import { Compile } from '@parley/core/typebox';
import { ClientFrameSchema, SubmitRequestSchema, UnauthorizedError, type ClientFrame, type SingleServerFrame } from '@parley/core';
import { mapError, publicError } from '../http/errors.js';
import { bearerToken } from '../http/sessions.js';
import { jsonTooDeep } from '../http/json-body.js';
import type { RouteContext } from '../http/context.js';
import type { AuthDevice } from '../auth-device.js';
import { DeviceConnection, type ConnectionRegistry } from './connection.js';
import { traceSubmit } from '../observability/span-message-path.js';

const checkFrame = Compile(ClientFrameSchema);

/** The request id of a submit frame whose MLS message is over the wire limit (answered 413, as over HTTP), if it is one. */
function oversizedSubmit(frame: unknown): string | undefined {
  const f = frame as { type?: unknown; requestId?: unknown; body?: { message?: unknown } } | null;
  if (f?.type !== 'submit' || typeof f.requestId !== 'string' || f.requestId.length > 64 || typeof f.body?.message !== 'string') return undefined;
  const { maxLength } = SubmitRequestSchema.properties.message as { maxLength?: number };
  return maxLength !== undefined && f.body.message.length > maxLength ? f.requestId : undefined;
}

/** Close codes (4000-4999 are application-defined, RFC 6455 §7.4.2). */
export const CLOSE = {
  sessionExpired: 4001,
  authRequired: 4002,
  badFrame: 4003,
  /** The device was revoked (relay/notifier.ts DEVICE_REVOKED_CLOSE). */
  revoked: 4004,
  /** The device opened more sockets than `limits.maxSocketsPerDevice`: the oldest goes. */
  tooManySockets: 4008,
  shuttingDown: 1001,
} as const;

const AUTH_TIMEOUT_MS = 10_000;
const PING_INTERVAL_MS = 30_000;

export function registerGateway(app: FastifyInstance, ctx: RouteContext, registry: ConnectionRegistry): void {
  app.get('/v1/ws', { websocket: true, schema: { tags: ['relay'], summary: 'WebSocket for delivery, submit and ack', hide: true } }, (socket, request) => {
    // Before authentication frames go out directly; afterwards through the connection's per-turn batching.
    const send = (frame: SingleServerFrame) => {
      if (connection) connection.send(frame);
      else if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
    };
    /** An error frame; a 5xx says nothing internal and is logged under its id. */
    const sendError = (error: unknown, requestId?: string) => {
      const mapped = publicError(mapError(error), `ws-${request.id}`);
      if (mapped.status >= 500) request.log.error({ err: error, requestId: `ws-${request.id}` }, 'websocket request failed');
      send({ type: 'error', ...(requestId !== undefined ? { requestId } : {}), status: mapped.status, error: mapped.body.error });
      return mapped;
    };
    let connection: DeviceConnection | undefined;
    let device: AuthDevice | undefined;
    /** One authentication per socket: set before the first await, so a second `auth` frame is refused. */
    let authStarted = false;
    let expiryTimer: NodeJS.Timeout | undefined;
    let alive = true;

    const authTimer = setTimeout(() => {
      if (!device) socket.close(CLOSE.authRequired, 'authenticate first');
    }, AUTH_TIMEOUT_MS);
    const pingTimer = setInterval(() => {
      if (!alive) return socket.terminate();
      alive = false;
      socket.ping();
    }, PING_INTERVAL_MS);
    socket.on('pong', () => (alive = true));

    const authenticate = async (token: string): Promise<void> => {
      authStarted = true;
      const session = await ctx.sessions.verify(token);
      if ((await ctx.deviceStatus.get(session.deviceId)) === 'revoked') throw new UnauthorizedError('device_revoked', 'this device was revoked');
      // The peer may have gone while we checked: a closed socket registers nothing.
      if (socket.readyState !== socket.OPEN) return;
      device = session;
      clearTimeout(authTimer);
      connection = new DeviceConnection(session.deviceId, socket, ctx.relay, {
        maxInFlight: ctx.config.limits.maxInFlightPerSocket,
        highWaterBytes: ctx.config.limits.socketHighWaterBytes,
        pageSize: ctx.config.limits.mailboxPageSize,
        // The registry's current interval: shorter while cross-node notices are down.
        pollIntervalMs: registry.pollIntervalMs,
      }, ctx.log);
      // Register before the first fetch so nothing committed in between is missed.
      registry.add(connection, ctx.config.limits.maxSocketsPerDevice, { code: CLOSE.tooManySockets, reason: 'too many connections for this device' });
      expiryTimer = setTimeout(() => socket.close(CLOSE.sessionExpired, 'session expired'), Math.max(0, session.expiresAt.getTime() - Date.now()));
      expiryTimer.unref();
      // `ready` is always the first frame on its own; batching starts after it.
      socket.send(JSON.stringify({ type: 'ready', deviceId: session.deviceId, expiresAt: session.expiresAt.toISOString() }));
      connection.fetchMore();
    };
    const failAuthentication = (error: unknown) => {
      const mapped = sendError(error);
      // As over HTTP (observability/http-observability.ts): the reason code, never the token.
      if (mapped.status === 401 || mapped.status === 403) {
        request.log.warn({ event: 'auth_failure', code: mapped.body.error.code, status: mapped.status, route: '/v1/ws', method: 'GET', remoteAddress: request.ip }, 'authentication failed');
      }
      socket.close(CLOSE.authRequired, mapped.status >= 500 ? 'authentication failed' : mapped.body.error.code);
    };

    const handle = async (frame: ClientFrame): Promise<void> => {
      if (frame.type === 'auth') {
        if (authStarted) return send({ type: 'error', status: 400, error: { code: 'already_authenticated', message: 'this socket is already authenticated (or authenticating)' } });
        return authenticate(frame.token).catch(failAuthentication);
      }
      if (!device || !connection) {
        socket.close(CLOSE.authRequired, 'authenticate first');
        return;
      }
      switch (frame.type) {
        case 'ping':
          return send({ type: 'pong' });
        case 'submit': {
          try {
            const sender = device;
            const result = await traceSubmit(ctx.relay.tracing, { path: 'ws', parent: undefined, sender }, () => ctx.relay.submit(sender, frame.body));
            send({ type: 'submitted', requestId: frame.requestId, result });
          } catch (error) {
            sendError(error, frame.requestId);
          }
          return;
        }
        case 'ack': {
          try {
            await ctx.relay.ack(device.deviceId, frame.ids, 'ws');
            connection.acknowledged(frame.ids);
          } catch (error) {
            sendError(error);
          }
          return;
        }
      }
    };

    socket.on('message', (data: RawData, isBinary: boolean) => {
      let frame: unknown;
      try {
        if (isBinary) throw new Error('binary');
        const text = data.toString();
        // Parsing deep nesting holds the event loop about a microsecond per level (http/json-body.ts).
        if (jsonTooDeep(text)) throw new Error('too deep');
        frame = JSON.parse(text);
      } catch {
        send({ type: 'error', status: 400, error: { code: 'invalid_frame', message: 'frames are JSON text' } });
        return;
      }
      if (!checkFrame.Check(frame)) {
        const tooLarge = oversizedSubmit(frame);
        if (tooLarge !== undefined) {
          send({ type: 'error', requestId: tooLarge, status: 413, error: { code: 'payload_too_large', message: 'message is larger than the limit' } });
          return;
        }
        send({ type: 'error', status: 400, error: { code: 'invalid_frame', message: 'unknown or malformed frame' } });
        return;
      }
      handle(frame).catch((error: unknown) => sendError(error));
    });

    socket.on('close', () => {
      clearTimeout(authTimer);
      clearInterval(pingTimer);
      if (expiryTimer) clearTimeout(expiryTimer);
      if (connection) {
        connection.markClosed();
        registry.remove(connection);
      }
    });

    const initial = bearerToken(request.headers.authorization);
    if (initial) authenticate(initial).catch(failAuthentication);
  });
}

/**
 * Errors on an established socket (a peer's protocol violation, an unclean disconnect):
 * the socket is dropped and the event logged at debug level. Any peer, authenticated or
 * not, can cause them, so they must not fill the log at error level.
 */
export function websocketErrorHandler(error: Error, socket: WebSocket, request: { log: { debug: (o: object, m: string) => void } }): void {
  request.log.debug({ err: { message: error.message, code: (error as { code?: unknown }).code } }, 'websocket error');
  socket.terminate();
}

export type { WebSocket };

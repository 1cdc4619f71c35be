/** What route handlers need, and the authentication hooks they share. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ForbiddenError, UnauthorizedError } from '@parley/core';
import type { MlsSuite, SuiteName } from '@parley/core/mls';
import type { ServerConfig } from '../config.js';
import type { TransparencyLog } from '../tlog/transparency-log.js';
import type { Database } from '../storage/database.js';
import type { AuthDevice } from '../auth-device.js';
import type { BusinessStatusCache } from '../business-status.js';
import type { Relay } from '../relay/relay.js';
import type { MailNotifier } from '../relay/notifier.js';
import type { KeyDirectory } from '../directory/directory.js';
import type { AuditService } from '../audit/audit-service.js';
import type { Router } from '../routing/router.js';
import type { Retrieval } from '../routing/retrieval.js';
import type { RoutingMetrics } from '../routing/metrics.js';
import type { EscrowGate } from '../escrow/escrow-gate.js';
import type { EscrowService } from '../escrow/escrow-service.js';
import type { Blobs } from '../blobs/blobs.js';
import { bearerToken, type SessionIssuer } from './sessions.js';
import { acceptsAuth } from './openapi.js';

export interface RouteContext {
  readonly config: ServerConfig;
  readonly db: Database;
  /** The key transparency log (tlog engine). */
  readonly keyLog: TransparencyLog;
  readonly auditLog: TransparencyLog;
  readonly audit: AuditService;
  readonly relay: Relay;
  readonly sessions: SessionIssuer;
  /**
   * One of the MLS suites Parley offers, loaded on first use (KeyPackages are verified with
   * their own suite; X-Wing's ML-KEM is not loaded by a node that never sees one).
   */
  suite(name: SuiteName): Promise<MlsSuite>;
  readonly notifier: MailNotifier;
  readonly directory: KeyDirectory;
  readonly deviceStatus: DeviceStatusCache;
  /** Disabled businesses (admin API): new sessions and submissions of their devices are refused. */
  readonly businessStatus: BusinessStatusCache;
  readonly routing: { readonly router: Router; readonly retrieval: Retrieval; readonly metrics: RoutingMetrics };
  /** Escrow: the policy gate and the keys, requests, approvals and openings (escrow/). */
  readonly escrow: { readonly gate: EscrowGate; readonly service: EscrowService };
  /** The blob store of attachments (blobs/): device routes and the web link's page. */
  readonly blobs: Blobs;
  readonly log: Logger;
}

declare module 'fastify' {
  interface FastifyRequest {
    device?: AuthDevice;
  }
}

/** onRequest hook: requires a valid session token of a device that is not revoked, and sets `request.device`. */
export function requireDevice(ctx: RouteContext) {
  const hook = async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new UnauthorizedError('session_required', 'send Authorization: Bearer <session token>');
    const device = await ctx.sessions.verify(token);
    if ((await ctx.deviceStatus.get(device.deviceId)) === 'revoked') {
      throw new UnauthorizedError('device_revoked', 'this device was revoked');
    }
    request.device = device;
  };
  return acceptsAuth(hook, ['deviceSession']);
}

/** Device status with a short per-node cache, so a revocation takes effect within seconds on every node. */
export class DeviceStatusCache {
  private readonly cache = new Map<string, { status: string | undefined; at: number }>();
  constructor(
    private readonly db: Database,
    private readonly ttlMs = 5000,
  ) {}

  async get(deviceId: string): Promise<string | undefined> {
    const hit = this.cache.get(deviceId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.status;
    const rows = await this.db.query<{ status: string }>('SELECT status FROM devices WHERE id = $1', [deviceId]);
    const status = rows[0]?.status;
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(deviceId, { status, at: Date.now() });
    return status;
  }

  forget(deviceId: string): void {
    this.cache.delete(deviceId);
  }
}

/** The authenticated device of a request that passed `requireDevice`. */
export function deviceOf(request: FastifyRequest): AuthDevice {
  if (!request.device) throw new UnauthorizedError('session_required', 'not authenticated');
  return request.device;
}

/**
 * Whether `token` is the secret `expected`, in constant time: both are hashed first, so
 * neither their bytes nor their lengths show in the timing.
 */
export function isSecretToken(token: string | undefined, expected: string | undefined): boolean {
  if (token === undefined || expected === undefined) return false;
  const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(token), digest(expected));
}

/** Whether the request carries the operator's admin token (constant time). */
export function hasAdminToken(ctx: RouteContext, request: FastifyRequest): boolean {
  return isSecretToken(bearerToken(request.headers.authorization), ctx.config.adminToken);
}

/** onRequest hook: requires the operator's admin token (constant-time comparison). */
export function requireAdmin(ctx: RouteContext) {
  const hook = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (!ctx.config.adminToken) throw new ForbiddenError('admin_disabled', 'the admin API is disabled on this server');
    if (!hasAdminToken(ctx, request)) throw new UnauthorizedError('admin_token_invalid', 'invalid admin token');
  };
  return acceptsAuth(hook, ['adminToken']);
}

/**
 * onRequest hook: the operator's admin token, or else a device session (then `request.device`
 * is set; with the admin token it is not, so handlers tell the two apart by it).
 */
export function requireAdminOrDevice(ctx: RouteContext) {
  const device = requireDevice(ctx);
  const hook = async (request: FastifyRequest): Promise<void> => {
    if (hasAdminToken(ctx, request)) return;
    await device(request);
  };
  return acceptsAuth(hook, ['adminToken', 'deviceSession']);
}

/** onRequest hook for `/metrics` on the main port: the metrics token or the admin token (constant time). */
export function requireMetricsToken(ctx: RouteContext) {
  const hook = async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const { token: metricsToken } = ctx.config.metrics;
    if (!metricsToken && !ctx.config.adminToken) throw new ForbiddenError('metrics_disabled', 'no metrics or admin token is configured on this server');
    const token = bearerToken(request.headers.authorization);
    // Both compared, always: the timing does not tell which token matched.
    const metricsOk = isSecretToken(token, metricsToken);
    const adminOk = isSecretToken(token, ctx.config.adminToken);
    if (!metricsOk && !adminOk) throw new UnauthorizedError('metrics_token_invalid', 'send Authorization: Bearer <metrics token>');
  };
  return acceptsAuth(hook, ['metricsToken', 'adminToken']);
}

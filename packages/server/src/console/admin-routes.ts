/**
 * The console's administration routes (`/console/api/…`): businesses and an identity's devices
 * (viewer), operators and recorded actions (viewer), and the admin mutations — creating and
 * disabling operators, revoking a device — each recorded with who did it (actions.ts).
 * Authentication, role and CSRF checks are the scope's hook (operator-auth.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@parley/core/typebox';
import { ConflictError, DeviceIdSchema, IdentityIdSchema, NotFoundError } from '@parley/core';
import { getDevice } from '../repos/devices.js';
import { getIdentity } from '../repos/identities.js';
import { revokeDevice } from '../directory/revoke-device.js';
import { MAX_ACTIONS_LISTED, listActions, recordAction } from './actions.js';
import { createOperator, disableOperator, listOperators } from './operators.js';
import { operatorOf } from './operator-auth.js';
import { checkPasswordStrength, hashPassword } from './passwords.js';
import { NewCredentialsSchema } from './auth-routes.js';
import type { ConsoleRouteContext } from './context.js';

/** Most businesses one listing returns. */
const MAX_BUSINESSES = 1000;

const iso = (value: Date | string) => new Date(value).toISOString();
const isoOrNull = (value: Date | string | null) => (value === null ? null : iso(value));

const NewOperatorSchema = Type.Object(
  { ...NewCredentialsSchema.properties, role: Type.Union([Type.Literal('viewer'), Type.Literal('admin')]) },
  { additionalProperties: false },
);

/**
 * Registers businesses, devices, operators, revocation and actions on the console's API scope.
 *
 * @example
 * registerConsoleAdminRoutes(scope, ctx);
 */
export function registerConsoleAdminRoutes(scope: FastifyInstance, ctx: ConsoleRouteContext): void {
  const r = scope.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/businesses', async () => {
    const businesses = await ctx.db.query<{ id: string; name: string; disabled_at: Date | string | null }>(
      'SELECT id, name, disabled_at FROM businesses ORDER BY id COLLATE "C" LIMIT $1',
      [MAX_BUSINESSES],
    );
    const keys = await ctx.db.query<{ business_id: string; kid: string; created_at: Date | string; revoked_at: Date | string | null }>(
      'SELECT business_id, kid, created_at, revoked_at FROM business_keys WHERE business_id = ANY($1::text[]) ORDER BY created_at, kid',
      [businesses.map((b) => b.id)],
    );
    return {
      businesses: businesses.map((b) => ({
        id: b.id,
        name: b.name,
        status: b.disabled_at === null ? 'active' : 'disabled',
        keys: keys.filter((k) => k.business_id === b.id).map((k) => ({ kid: k.kid, createdAt: iso(k.created_at), revokedAt: isoOrNull(k.revoked_at) })),
      })),
    };
  });

  r.get('/identities/:identityId/devices', { schema: { params: Type.Object({ identityId: IdentityIdSchema }) } }, async (request) => {
    const { identityId } = request.params;
    if (!(await getIdentity(ctx.db, identityId))) throw new NotFoundError('unknown_identity', 'no such identity');
    const rows = await ctx.db.query<{ id: string; label: string | null; status: string; suite: string; created_at: Date | string; revoked_at: Date | string | null }>(
      'SELECT id, label, status, suite, created_at, revoked_at FROM devices WHERE identity_id = $1 ORDER BY created_at, id',
      [identityId],
    );
    return {
      identityId,
      devices: rows.map((d) => ({ id: d.id, label: d.label, status: d.status, suite: d.suite, createdAt: iso(d.created_at), revokedAt: isoOrNull(d.revoked_at) })),
    };
  });

  r.get('/operators', async () => ({ operators: await listOperators(ctx.db) }));

  r.post('/operators', { schema: { body: NewOperatorSchema } }, async (request, reply) => {
    const me = operatorOf(request);
    checkPasswordStrength(request.body.password);
    const operator = await createOperator(ctx.db, { name: request.body.name, passwordHash: await hashPassword(request.body.password), role: request.body.role, createdBy: me.id });
    await recordAction(ctx.db, ctx.log, me, 'operator.create', `operator:${operator.name}`);
    return reply.status(201).send({ operator });
  });

  r.post('/operators/:id/disable', { schema: { params: Type.Object({ id: Type.String({ pattern: '^op_[A-Za-z0-9_-]{16}$' }) }) } }, async (request) => {
    const me = operatorOf(request);
    if (request.params.id === me.id) throw new ConflictError('cannot_disable_self', 'an admin cannot disable their own account');
    const operator = await disableOperator(ctx.db, request.params.id);
    await recordAction(ctx.db, ctx.log, me, 'operator.disable', `operator:${operator.name}`);
    return { operator };
  });

  // The same revocation as the business's (`POST /v1/devices/:deviceId/revoke`): key-log entry, sessions refused.
  r.post('/devices/:deviceId/revoke', { schema: { params: Type.Object({ deviceId: DeviceIdSchema }) } }, async (request) => {
    const me = operatorOf(request);
    const target = await getDevice(ctx.db, request.params.deviceId);
    if (!target) throw new NotFoundError('unknown_device', 'no such device');
    const { index } = await revokeDevice(ctx, target, { by: 'business' });
    await recordAction(ctx.db, ctx.log, me, 'device.revoke', `device:${target.id}`);
    return { device: { id: target.id, status: 'revoked' as const }, keyLogIndex: index };
  });

  r.get(
    '/actions',
    { schema: { querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,3}$' })) }) } },
    async (request) => ({ actions: await listActions(ctx.db, Math.min(Number(request.query.limit ?? 50), MAX_ACTIONS_LISTED)) }),
  );
}

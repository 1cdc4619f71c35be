/** The KeyPackage directory: upload, stock, claim. */
import type { FastifyInstance } from 'fastify';
import { Type } from '@parley/core/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  ClaimKeyPackagesRequestSchema,
  ClaimKeyPackagesResponseSchema,
  ErrorBodySchema,
  InvalidInputError,
  KeyPackageStockSchema,
  NotFoundError,
  RateLimitedError,
  UploadKeyPackagesRequestSchema,
  equalBytes,
  fromBase64,
  toBase64,
  type KeyPackageStock,
} from '@parley/core';
import { CLASSIC_SUITE, inspectKeyPackage, keyPackageSuite, parseSuiteName } from '@parley/core/mls';
import { claimKeyPackage, insertKeyPackages, keyPackageStock, type NewKeyPackage, type Stock } from '../../repos/key-packages.js';
import { getDevice, getDevices, suitesOf } from '../../repos/devices.js';
import { takeToken } from '../../repos/rate-limits.js';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';
import { visibleIdentities } from '../../directory/visibility.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 429: ErrorBodySchema };

export function stockResponse(ctx: RouteContext, stock: Stock): KeyPackageStock {
  const lowWatermark = ctx.config.keyPackages.lowWatermark;
  const { suite, oneTime, lastResort, oldestNotAfter } = stock;
  return {
    suite,
    oneTime,
    lastResort,
    low: oneTime < lowWatermark || !lastResort,
    lowWatermark,
    ...(oldestNotAfter === undefined ? {} : { oldestNotAfter: oldestNotAfter.toISOString() }),
  };
}

/**
 * Decodes and verifies each KeyPackage: valid MLS, in a suite the device stated it supports
 * (`owner.suites`), signed by the device's registered signature key, credential naming
 * exactly this device.
 */
export async function validateKeyPackages(
  ctx: RouteContext,
  encoded: readonly string[],
  owner: { identityId: string; deviceId: string; signatureKey: Uint8Array; suites: readonly string[] },
): Promise<NewKeyPackage[]> {
  const out: NewKeyPackage[] = [];
  for (const text of encoded) {
    const bytes = fromBase64(text, 'keyPackage');
    const suite = keyPackageSuite(bytes);
    if (!owner.suites.includes(suite)) {
      throw new InvalidInputError('KeyPackage of a suite the device did not state it supports', { code: 'unsupported_suite', details: { suite } });
    }
    const info = await inspectKeyPackage(await ctx.suite(suite), bytes);
    if (
      info.member.identityId !== owner.identityId ||
      info.member.deviceId !== owner.deviceId ||
      !equalBytes(info.signaturePublicKey, owner.signatureKey)
    ) {
      throw new InvalidInputError('KeyPackage credential or key does not match the device', { code: 'key_package_mismatch' });
    }
    const notAfterMs = Number(info.notAfter) * 1000;
    if (!Number.isFinite(notAfterMs) || notAfterMs <= Date.now()) {
      throw new InvalidInputError('KeyPackage has expired', { code: 'key_package_expired' });
    }
    out.push({ suite, ref: info.ref, keyPackage: bytes, notAfter: new Date(Math.min(notAfterMs, 8.64e15)) });
  }
  return out;
}

/**
 * `key_package_mismatch` unless `lastResort` holds one KeyPackage of each of `suites`, none twice:
 * every suite a device states keeps a last-resort KeyPackage, so a claim of it always gets one
 * (and a claim answered without one is the server withholding it: docs/post-quantum.md).
 */
export function requireLastResortPerSuite(lastResort: readonly NewKeyPackage[], suites: readonly string[]): void {
  const given = lastResort.map((k) => k.suite);
  if (new Set(given).size !== given.length || suites.some((suite) => !given.includes(suite))) {
    throw new InvalidInputError('one last-resort KeyPackage per stated suite is required', { code: 'key_package_mismatch' });
  }
}

const StockQuerySchema = Type.Object({ suite: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })) }, { additionalProperties: false });

/** A suite named by a request (default: the classic suite); `unsupported_suite` for one Parley does not offer. */
function suiteParam(value: string | undefined): string {
  if (value === undefined) return CLASSIC_SUITE;
  const suite = parseSuiteName(value);
  if (suite === undefined) throw new InvalidInputError('unsupported cipher suite', { code: 'unsupported_suite' });
  return suite;
}

export function registerKeyPackageRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/key-packages',
    {
      schema: {
        tags: ['key directory'],
        operationId: 'uploadKeyPackages',
        summary: 'Upload more KeyPackages (or, with `replace`, a fresh stock that withdraws the one uploaded before)',
        body: UploadKeyPackagesRequestSchema,
        response: { 200: KeyPackageStockSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const me = deviceOf(request);
      const device = await getDevice(ctx.db, me.deviceId);
      if (!device || device.status !== 'active') throw new NotFoundError('unknown_device', 'no such active device');
      const owner = { identityId: device.identity_id, deviceId: device.id, signatureKey: new Uint8Array(device.signature_key), suites: suitesOf(device) };
      const oneTime = await validateKeyPackages(ctx, request.body.keyPackages, owner);
      const lastResort = request.body.lastResortKeyPackage === undefined ? [] : await validateKeyPackages(ctx, [request.body.lastResortKeyPackage], owner);
      await insertKeyPackages(ctx.db, me.deviceId, oneTime, lastResort, { replace: request.body.replace === true });
      // The stock of the suite uploaded (the device tops up one suite at a time).
      return stockResponse(ctx, await keyPackageStock(ctx.db, me.deviceId, oneTime[0]?.suite ?? lastResort[0]?.suite ?? device.suite));
    },
  );

  r.get(
    '/v1/key-packages/stock',
    {
      schema: {
        tags: ['key directory'],
        operationId: 'getKeyPackageStock',
        summary: "This device's KeyPackage stock in one suite (default: the classic suite)",
        querystring: StockQuerySchema,
        response: { 200: KeyPackageStockSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => stockResponse(ctx, await keyPackageStock(ctx.db, deviceOf(request).deviceId, suiteParam(request.query.suite))),
  );

  r.post(
    '/v1/key-packages/claim',
    {
      schema: {
        tags: ['key directory'],
        operationId: 'claimKeyPackages',
        summary: 'Claim one KeyPackage per device (rate-limited per requester and target)',
        body: ClaimKeyPackagesRequestSchema,
        response: { 200: ClaimKeyPackagesResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const me = deviceOf(request);
      const ids = request.body.deviceIds;
      const suite = suiteParam(request.body.suite);
      const devices = new Map((await getDevices(ctx.db, ids)).map((d) => [d.id, d]));
      // Only devices of identities this device may see (visibility.ts); the same answer as for no device at all.
      const visible = await visibleIdentities(ctx.db, me, [...devices.values()].map((d) => d.identity_id));
      for (const id of ids) {
        const d = devices.get(id);
        if (!d || d.status !== 'active' || !visible.has(d.identity_id)) {
          throw new NotFoundError('unknown_device', 'no such active device', { details: { deviceId: id } });
        }
      }
      // Per (requester, target), and per target across all requesters: many requesters
      // together cannot drain one device's one-time KeyPackages either.
      const { claimsPerMinute: perMinute, claimsPerTargetPerMinute: perTarget } = ctx.config.keyPackages;
      for (const id of ids) {
        const take = await takeToken(ctx.db, `claim:${me.deviceId}:${id}`, perMinute, perMinute / 60);
        if (!take.allowed) throw new RateLimitedError('too many KeyPackage claims for this device; retry later', take.retryAfterMs);
        const target = await takeToken(ctx.db, `claim-target:${id}`, perTarget, perTarget / 60);
        if (!target.allowed) throw new RateLimitedError('too many KeyPackage claims for this device; retry later', target.retryAfterMs);
      }
      // One transaction: if any device has nothing to give, no one-time KeyPackage is burnt.
      const keyPackages = await ctx.db.transaction(async (tx) => {
        const out: { deviceId: string; keyPackage: string; lastResort: boolean }[] = [];
        for (const id of ids) {
          const claimed = await claimKeyPackage(tx, id, suite);
          if (!claimed) throw new NotFoundError('no_key_package', 'the device has no usable KeyPackage in this suite', { details: { deviceId: id, suite } });
          out.push({ deviceId: id, keyPackage: toBase64(claimed.keyPackage), lastResort: claimed.lastResort });
        }
        return out;
      });
      for (const id of ids) {
        const stock = stockResponse(ctx, await keyPackageStock(ctx.db, id, suite));
        if (stock.low) ctx.notifier.notifyControl(id, { type: 'key-packages-low', stock });
      }
      return { keyPackages };
    },
  );
}

/**
 * The one revocation of a device: its status and its `device-revoked` key-log entry in one
 * transaction, then its sessions refused at once on this node (the status cache forgotten,
 * its WebSockets closed) and within the cache's few seconds on the others. Used by the
 * device API (`POST /v1/devices/:deviceId/revoke`, routes/directory.ts) and the operator
 * console (console/admin-routes.ts); who may revoke is the caller's check.
 */
import { ConflictError } from '@parley/core';
import { setDeviceStatus, type DeviceRow } from '../repos/devices.js';
import type { RouteContext } from '../http/context.js';

/** Who revoked: the owner's other device (signed), the business (or the operator for it), or a re-enrollment. */
export interface RevocationBy {
  readonly by: 'owner' | 'business' | 'reset';
  readonly byDevice?: string;
  readonly signature?: Uint8Array;
}

/** What the revocation's key-log entry became. */
export interface Revocation {
  readonly deviceId: string;
  /** The entry's index in the key log (sequenced before this resolves). */
  readonly index: number;
  readonly status: 'revoked';
}

/**
 * Revokes `target` (409 `already_revoked` if it is), waits until its key-log entry is
 * sequenced, and logs the change (ids and who, nothing else).
 *
 * @example
 * const { index } = await revokeDevice(ctx, device, { by: 'business' });
 */
export async function revokeDevice(
  ctx: Pick<RouteContext, 'db' | 'directory' | 'deviceStatus' | 'notifier' | 'log'>,
  target: DeviceRow,
  change: RevocationBy,
): Promise<Revocation> {
  if (target.status === 'revoked') throw new ConflictError('already_revoked', 'the device is already revoked');
  const pendingId = await ctx.db.transaction(async (tx) => {
    await setDeviceStatus(tx, target.id, 'revoked');
    return ctx.directory.deviceRevoked(tx, { identityId: target.identity_id, deviceId: target.id, ...change });
  });
  ctx.deviceStatus.forget(target.id);
  ctx.notifier.notifyRevoked(target.id);
  ctx.directory.keyLog.kick?.();
  const { index } = await ctx.directory.keyLog.waitSequenced(pendingId);
  ctx.log.info({ device: target.id, by: change.by, keyLogIndex: index }, 'device revoked');
  return { deviceId: target.id, index, status: 'revoked' };
}

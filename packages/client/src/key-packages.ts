/**
 * This device's KeyPackages: generated in batches, private halves kept in the
 * KeyStore (by KeyPackageRef) before the public halves are published.
 */
import { toBase64 } from '@parley/core';
import { createKeyPackage, type MemberRef, type MlsSuite, type SignatureKeyPair } from '@parley/core/mls';
import type { KeyStoreOp } from './key-store.js';
import { RECORDS, putJson, type KeyPackageRecordV1 } from './records.js';

export interface GeneratedBatch {
  /** Store operations that persist the private halves. */
  ops: KeyStoreOp[];
  /** Published halves (base64). */
  oneTime: string[];
  lastResort: string | undefined;
}

export async function generateKeyPackages(
  suite: MlsSuite,
  member: MemberRef,
  signatureKeys: SignatureKeyPair,
  count: number,
  withLastResort: boolean,
  now: Date,
): Promise<GeneratedBatch> {
  const ops: KeyStoreOp[] = [];
  const oneTime: string[] = [];
  let lastResort: string | undefined;
  const total = count + (withLastResort ? 1 : 0);
  for (let i = 0; i < total; i++) {
    const isLastResort = withLastResort && i === count;
    const kp = await createKeyPackage(suite, member, signatureKeys, { now });
    const record: KeyPackageRecordV1 = {
      v: 1,
      keyPackage: toBase64(kp.keyPackage),
      privateKey: toBase64(kp.privateKey),
      lastResort: isLastResort,
      createdAt: now.toISOString(),
    };
    ops.push(putJson(RECORDS.keyPackage(kp.ref), record));
    if (isLastResort) lastResort = record.keyPackage;
    else oneTime.push(record.keyPackage);
  }
  return { ops, oneTime, lastResort };
}

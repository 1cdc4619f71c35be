/**
 * The `/v1/recovery` calls of social recovery, every answer checked against its wire schema
 * (a malicious or broken server gets a `TransportError`, not a crash deeper in the SDK).
 */
import { Compile, type Static, type TSchema } from '@parley/core/typebox';
import {
  RecoveryHolderKeyListSchema,
  RecoveryHolderKeySchema,
  RecoveryRequestListSchema,
  RecoveryRequestViewSchema,
  RecoverySetSchema,
  type RecoveryHolderKeyPut,
  type RecoveryRequestCreate,
  type RecoverySetPut,
} from '@parley/core';
import type { ApiClient } from './api-client.js';
import { TransportError } from './errors.js';

const checks = new Map<TSchema, ReturnType<typeof Compile>>();

async function call<S extends TSchema>(api: ApiClient, method: string, path: string, schema: S, body?: unknown): Promise<Static<S>> {
  const res = await api.send(method, path, body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }, true);
  let json: unknown;
  try {
    json = await res.json();
  } catch (cause) {
    throw new TransportError(`server answered ${res.status} without JSON`, { cause });
  }
  let check = checks.get(schema);
  if (!check) checks.set(schema, (check = Compile(schema)));
  if (!check.Check(json)) throw new TransportError(`server response to ${method} ${path} does not match the API schema`);
  return json as Static<S>;
}

/** @internal The recovery endpoints, with the device's session. */
export class RecoveryApi {
  constructor(private readonly api: ApiClient) {}

  putHolderKey(body: RecoveryHolderKeyPut) {
    return call(this.api, 'PUT', '/v1/recovery/holder-key', RecoveryHolderKeySchema, body);
  }

  holderKeys(identityId: string) {
    return call(this.api, 'GET', `/v1/recovery/holder-keys/${encodeURIComponent(identityId)}`, RecoveryHolderKeyListSchema);
  }

  putSet(body: RecoverySetPut) {
    return call(this.api, 'PUT', '/v1/recovery/set', RecoverySetSchema, body);
  }

  getSet() {
    return call(this.api, 'GET', '/v1/recovery/set', RecoverySetSchema);
  }

  createRequest(body: RecoveryRequestCreate) {
    return call(this.api, 'POST', '/v1/recovery/requests', RecoveryRequestViewSchema, body);
  }

  listRequests() {
    return call(this.api, 'GET', '/v1/recovery/requests', RecoveryRequestListSchema);
  }

  getRequest(requestId: string) {
    return call(this.api, 'GET', `/v1/recovery/requests/${encodeURIComponent(requestId)}`, RecoveryRequestViewSchema);
  }

  release(requestId: string, sealed: string) {
    return call(this.api, 'POST', `/v1/recovery/requests/${encodeURIComponent(requestId)}/release`, RecoveryRequestViewSchema, { sealed });
  }

  decline(requestId: string) {
    return call(this.api, 'POST', `/v1/recovery/requests/${encodeURIComponent(requestId)}/decline`, RecoveryRequestViewSchema);
  }
}

/**
 * HTTP helpers of the blob route tests: raw-body PATCHes, downloads as bytes, whole uploads,
 * a conversation to share blobs in, and a PATCH whose body is cut mid-way (a raw socket).
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { randomBytes, toBase64, toBase64Url, utf8 } from '@parley/core';
import { encryptApplication, type MlsGroup } from '@parley/core/mls';
import { api, createRawGroup, suite, type RawDevice } from '@parley/test-kit/server';

/** An error body as tests read it. */
export interface ErrorJson {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export interface Answer {
  status: number;
  headers: Headers;
  /** The JSON error body (read only on answers that have one). */
  json: ErrorJson;
  bytes: Uint8Array;
}

async function answer(res: Response): Promise<Answer> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  const isJson = bytes.length > 0 && (res.headers.get('content-type') ?? '').includes('json');
  const json = (isJson ? JSON.parse(new TextDecoder().decode(bytes)) : undefined) as ErrorJson;
  return { status: res.status, headers: res.headers, json, bytes };
}

export function sha256(data: Uint8Array): string {
  return toBase64Url(createHash('sha256').update(data).digest());
}

export function data(n: number): Uint8Array {
  return randomBytes(n);
}

export async function create(url: string, device: RawDevice, size: number) {
  return api(url, 'POST', '/v1/blobs', { size }, device.token);
}

/** Creates a blob and returns its id (asserts 201). */
export async function created(url: string, device: RawDevice, size: number): Promise<string> {
  const res = await create(url, device, size);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.blobId as string;
}

export async function patch(url: string, token: string, blobId: string, offset: number | undefined, body: Uint8Array, contentType = 'application/offset+octet-stream'): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': contentType };
  if (offset !== undefined) headers['upload-offset'] = String(offset);
  return answer(await fetch(`${url}/v1/blobs/${blobId}`, { method: 'PATCH', headers, body: body as Uint8Array<ArrayBuffer> }));
}

export async function call(url: string, method: 'GET' | 'HEAD' | 'DELETE', token: string, blobId: string, headers: Record<string, string> = {}): Promise<Answer> {
  return answer(await fetch(`${url}/v1/blobs/${blobId}`, { method, headers: { authorization: `Bearer ${token}`, ...headers } }));
}

/** Uploads `bytes` as a new blob in `pieces` PATCHes; returns its id (asserts every step). */
export async function upload(url: string, device: RawDevice, bytes: Uint8Array, pieces = 1): Promise<string> {
  const blobId = await created(url, device, bytes.length);
  const step = Math.ceil(bytes.length / pieces);
  for (let at = 0; at < bytes.length; at += step) {
    const res = await patch(url, device.token, blobId, at, bytes.subarray(at, at + step));
    expect(res.status, JSON.stringify(res.json)).toBe(204);
    expect(res.headers.get('upload-offset')).toBe(String(Math.min(bytes.length, at + step)));
  }
  return blobId;
}

/**
 * A PATCH whose body is cut: declares `declared` bytes, sends `sent`, then drops the connection.
 * Resolves once the socket is closed.
 */
export async function cutPatch(url: string, token: string, blobId: string, offset: number, declared: number, sent: Uint8Array): Promise<void> {
  const { hostname, port } = new URL(url);
  await new Promise<void>((resolve) => {
    const req = httpRequest({
      host: hostname,
      port,
      method: 'PATCH',
      path: `/v1/blobs/${blobId}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), 'content-length': String(declared) },
    });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write(sent, () => setTimeout(() => req.destroy(), 200));
  });
}

/** A PATCH that declares `declared` bytes and sends none: the answer it gets before any body. */
export async function declaredPatch(url: string, token: string, blobId: string, offset: number, declared: number): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: hostname,
      port,
      method: 'PATCH',
      path: `/v1/blobs/${blobId}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), 'content-length': String(declared) },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** A conversation of `owner` with `members` (commit and Welcome submitted); the owner's group. */
export async function conversation(url: string, owner: RawDevice, members: readonly RawDevice[]): Promise<MlsGroup> {
  const { group, res } = await createRawGroup(url, owner, members);
  expect(res.status).toBe(201);
  return group;
}

/** Submits an application message of `group` naming `blobs`; returns the answer and the advanced group. */
export async function send(url: string, sender: RawDevice, group: MlsGroup, idempotencyKey: string, blobs: readonly string[]) {
  const enc = await encryptApplication(await suite(), group, utf8(`attachment ${idempotencyKey}`));
  const res = await api(url, 'POST', '/v1/messages', { idempotencyKey, conversationId: group.conversationId, message: toBase64(enc.message), blobs }, sender.token);
  return { res, group: enc.group };
}

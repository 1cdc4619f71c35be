/**
 * The audit benchmark's capture of the SDK's requests: a `fetch` for the business Sender
 * that keeps each audited `POST /v1/messages` (body and session token) instead of sending
 * it, so the exact requests the SDK builds can be replayed later (bench/audit-clients.ts).
 */
import type { SubmitRequest } from '@parley/core';
import type { ReplayRequest } from '../audit-clients.js';
import { urlOf } from '../lib/async.js';

/**
 * A `fetch` for the Sender: passes everything through, except that while
 * capturing it keeps each `POST /v1/messages` (body and session token) and
 * answers it itself, as the server would have (schema-valid `SubmitResponse`).
 *
 * @example
 * const capture = new CapturingFetch();
 * const sender = await Sender.enroll({ …, fetch: capture.fetch });
 * capture.capturing = true;
 */
export class CapturingFetch {
  capturing = false;
  readonly captured: (ReplayRequest & { messageId: string })[] = [];
  private fakeId = 0;

  readonly fetch: typeof fetch = async (input, init) => {
    const url = urlOf(input);
    if (!this.capturing || (init?.method ?? 'GET') !== 'POST' || !new URL(url).pathname.endsWith('/v1/messages')) return fetch(input, init);
    const body = init?.body;
    if (typeof body !== 'string') throw new Error('expected a JSON string body');
    const authorization = new Headers(init?.headers).get('authorization');
    if (!authorization) throw new Error('submission without a session token');
    const request = JSON.parse(body) as SubmitRequest;
    if (!request.commitment) throw new Error('captured a submission without a commitment');
    this.captured.push({ authorization, body, messageId: request.commitment.body.messageId });
    const answer = { id: String(++this.fakeId), duplicate: false, recipients: 1, storedBytes: 0, audit: { index: 0 } };
    return new Response(JSON.stringify(answer), { status: 201, headers: { 'content-type': 'application/json' } });
  };
}

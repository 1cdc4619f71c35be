/**
 * The raw Parley wire protocol over WebSocket, as lean load generators speak it (the relay
 * and cluster benchmarks): `auth` → `ready`, pre-serialized `submit` frames, `submitted` /
 * `error` answers (possibly inside a `batch` frame), `deliver` frames scanned for envelope
 * ids with a regular expression instead of a full parse, and `ack` frames. Not an SDK: no
 * decryption, no key checks; the relay treats payloads as opaque ciphertext.
 */
import WebSocket from 'ws';

/** Envelope ids in a `deliver` frame (`"id":"<digits>"`); use with `String.prototype.matchAll`. */
export const ENVELOPE_ID_RE = /"id":"(\d+)"/g;

/**
 * Opens a WebSocket without compression.
 *
 * @example
 * const ws = await openWs('ws://127.0.0.1:8080/v1/ws');
 */
export function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/**
 * Sends `auth` with the session token and resolves on `ready` (rejects on `error` or
 * after `timeoutMs`); later frames are left to the caller's listeners.
 *
 * @example
 * await authenticate(ws, device.token, 10_000);
 */
export function authenticate(ws: WebSocket, token: string, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready frame within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    const onMessage = (data: WebSocket.RawData) => {
      const text = String(data);
      if (text.startsWith('{"type":"ready"')) {
        clearTimeout(timer);
        ws.off('message', onMessage);
        resolve();
      } else if (text.startsWith('{"type":"error"')) {
        clearTimeout(timer);
        ws.off('message', onMessage);
        reject(new Error(`auth failed: ${text.slice(0, 200)}`));
      }
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ type: 'auth', token }));
  });
}

/**
 * Builds `submit` frames from pre-serialized pieces: frame `seq` carries request id and
 * idempotency key `<keyPrefix>-<seq>` and cycles through the pre-encrypted `messages`.
 *
 * @example
 * const frame = submitFramer('m', conversationId, messages);
 * ws.send(frame(0));
 */
export function submitFramer(keyPrefix: string, conversationId: string, messages: readonly string[]): (seq: number) => string {
  const mid = `","body":{"idempotencyKey":"${keyPrefix}-`;
  const tails = messages.map((m) => `","conversationId":"${conversationId}","message":"${m}"}}`);
  return (seq) => {
    const n = String(seq);
    return '{"type":"submit","requestId":"' + n + mid + n + tails[seq % tails.length];
  };
}

/** A frame a sender's socket receives in answer to its submits. */
export interface SubmitAnswer {
  type: string;
  requestId?: string;
  result?: { id: string };
}

/**
 * The `submitted` and `error` frames in a text frame received by a sender (unwrapping a
 * `batch`); other frames are ignored (empty list).
 *
 * @example
 * for (const f of submitAnswers(String(data))) if (f.type === 'submitted') onSubmitted(f);
 */
export function submitAnswers(text: string): SubmitAnswer[] {
  if (text.startsWith('{"type":"batch"')) return (JSON.parse(text) as { frames: SubmitAnswer[] }).frames;
  if (text.startsWith('{"type":"submitted"') || text.startsWith('{"type":"error"')) return [JSON.parse(text) as SubmitAnswer];
  return [];
}

/**
 * The `deliver` frame in a text frame received by a recipient, as text (unwrapping a
 * `batch`, which carries at most one); `error` frames go to `onError`. Undefined when
 * there is no deliver frame.
 *
 * @example
 * const deliver = deliverFrame(String(data), (e) => errors.push(e));
 * if (deliver) for (const m of deliver.matchAll(ENVELOPE_ID_RE)) ids.push(m[1]!);
 */
export function deliverFrame(text: string, onError: (frame: string) => void): string | undefined {
  let frame = text;
  if (frame.startsWith('{"type":"batch"')) {
    const frames = (JSON.parse(frame) as { frames: { type: string }[] }).frames;
    for (const f of frames) if (f.type === 'error') onError(JSON.stringify(f));
    const deliver = frames.find((f) => f.type === 'deliver');
    if (!deliver) return undefined;
    frame = JSON.stringify(deliver);
  }
  if (!frame.startsWith('{"type":"deliver"')) {
    if (frame.startsWith('{"type":"error"')) onError(frame);
    return undefined;
  }
  return frame;
}

/**
 * Acknowledges every envelope of a deliver frame that arrived before the load (the group's
 * Welcome, queued at group creation); true when the frame carried the Welcome.
 *
 * @example
 * if (!gotWelcome) { gotWelcome = ackWelcome(rx, deliver); return; }
 */
export function ackWelcome(ws: WebSocket, deliver: string): boolean {
  const frame = JSON.parse(deliver) as { envelopes: { id: string; kind: string }[] };
  ws.send(JSON.stringify({ type: 'ack', ids: frame.envelopes.map((e) => e.id) }));
  return frame.envelopes.some((e) => e.kind === 'welcome');
}

/**
 * An `ack` frame for envelope ids.
 *
 * @example
 * rx.send(ackFrame(ids));
 */
export function ackFrame(ids: readonly string[]): string {
  return '{"type":"ack","ids":["' + ids.join('","') + '"]}';
}

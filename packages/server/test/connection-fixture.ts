/** A stored envelope with this id, as the connection tests' mailboxes hand them out. */
import type { Envelope } from '@parley/core';

export const envelope = (id: number): Envelope => ({
  id: String(id),
  conversationId: 'g',
  senderDeviceId: 's',
  senderIdentityId: 'b:s',
  kind: 'application',
  epoch: '1',
  payload: 'AAAA',
  createdAt: new Date(0).toISOString(),
});

/**
 * A WebSocket stand-in for DeviceConnection: open, never backed up unless the test says so;
 * `onDeliver` gets the envelopes of every `deliver` frame sent (inside a `batch` too).
 */
export function fakeSocket(onDeliver: (envelopes: readonly Envelope[]) => void) {
  return {
    OPEN: 1,
    readyState: 1,
    bufferedAmount: 0,
    send(data: string) {
      const frame = JSON.parse(data) as { type: string; envelopes?: Envelope[]; frames?: { type: string; envelopes?: Envelope[] }[] };
      for (const f of frame.type === 'batch' ? frame.frames! : [frame]) if (f.type === 'deliver') onDeliver(f.envelopes!);
    },
    close() {},
  };
}

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

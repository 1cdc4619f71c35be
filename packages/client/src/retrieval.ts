/** Retrieval links (`https://…/r/<token>`): ciphertext reaching a device by SMS or RCS instead of its mailbox. */
import type { Envelope } from '@parley/core';
import type { ApiClient } from './api-client.js';
import { RetrievalLinkError } from './errors.js';

const TOKEN_RE = /\/r\/([A-Za-z0-9_-]{22})$/;

/** @internal The token of a retrieval link; `invalid_link` if it is not one. */
export function retrievalToken(link: string): string {
  let token: string | undefined;
  try {
    token = TOKEN_RE.exec(new URL(link).pathname)?.[1];
  } catch {
    token = undefined;
  }
  if (!token) throw new RetrievalLinkError();
  return token;
}

/** @internal Redeems a retrieval link (once) and hands its envelopes to `receive`; returns how many it carried. */
export async function openRetrievalLink(
  api: Pick<ApiClient, 'retrieve'>,
  receive: (envelopes: readonly Envelope[]) => Promise<void>,
  link: string,
): Promise<number> {
  const { envelopes } = await api.retrieve(retrievalToken(link));
  if (envelopes.length > 0) await receive(envelopes);
  return envelopes.length;
}

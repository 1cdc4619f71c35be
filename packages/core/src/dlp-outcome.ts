/**
 * What a content policy did to a message (DLP on the device, before encryption), as
 * metadata only: the policy's id and its action — never the text it matched. Carried in
 * the encrypted content and, for business messages, in the signed commitment, so an
 * auditor can see that a policy acted.
 */
import { Type, type Static } from './typebox.js';

export const DLP_POLICY_ID_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

export const DlpOutcomeSchema = Type.Object(
  {
    policy: Type.String({ pattern: DLP_POLICY_ID_PATTERN }),
    /** `redact`: the content was changed before sending. (`block` sends nothing; `allow` is not recorded.) */
    action: Type.Literal('redact'),
  },
  { additionalProperties: false },
);
/**
 * A content policy that changed a message (`message` events' `dlp`, a commitment's `dlp`).
 *
 * @example
 * if (e.type === 'message' && e.dlp?.some((d) => d.policy === 'card')) showNotice('a card number was masked')
 */
export type DlpOutcome = Static<typeof DlpOutcomeSchema>;
/** Policies recorded per message. */
export const MAX_DLP_OUTCOMES = 16;

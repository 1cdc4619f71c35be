/**
 * The transparency logs' JSON helpers (the logs themselves are C2SP tlog-tiles, read as
 * bytes): the list of logs, and RFC 9162 inclusion and consistency proofs.
 */
import { Type, type Static } from '../typebox.js';

/** A log's short name and URL segment (`keys`, `audit`). */
export const LogNameSchema = Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' });
/** A tree size or leaf index: tree sizes stay below 2^53 (safe integers), so at most 16 digits. */
const TreeNumber = (description: string) => Type.String({ pattern: '^(?:0|[1-9][0-9]{0,15})$', description });

export const LogDescriptorSchema = Type.Object(
  {
    name: Type.String({ description: 'short name, e.g. `keys`' }),
    origin: Type.String({ description: 'checkpoint origin line (C2SP tlog-checkpoint)' }),
    prefix: Type.String({ description: 'URL path prefix of the C2SP tlog-tiles resources' }),
    verifierKey: Type.String({ description: 'signed-note verifier key of the checkpoints (Ed25519): the key monitors trust today' }),
    verifierKeys: Type.Array(Type.String(), {
      minItems: 1,
      maxItems: 2,
      description:
        'every key signing checkpoints now: the current key, then the next key while a key rotation is in progress (its announcement is at <prefix>/key-rotations; docs/log-key-rotation.md)',
    }),
  },
  { additionalProperties: false },
);
export type LogDescriptorResponse = Static<typeof LogDescriptorSchema>;

export const LogListSchema = Type.Object({ logs: Type.Array(LogDescriptorSchema) }, { additionalProperties: false });
export type LogList = Static<typeof LogListSchema>;

/**
 * An RFC 9162 proof (§2.1.3 inclusion, §2.1.4 consistency): one hash per tree level at
 * most, and trees stay below 2^53 entries, so 64 hashes bound both kinds.
 */
export const ProofResponseSchema = Type.Object(
  { proof: Type.Array(Type.String({ description: 'base64 SHA-256 hash' }), { maxItems: 64, description: 'RFC 9162 proof, in order' }) },
  { additionalProperties: false },
);
export type ProofResponse = Static<typeof ProofResponseSchema>;

export const LogNameParamsSchema = Type.Object({ name: LogNameSchema });

export const ConsistencyQuerySchema = Type.Object(
  { from: TreeNumber('older tree size (≥ 1)'), to: TreeNumber('newer tree size (≤ the current size)') },
  { additionalProperties: false },
);

export const InclusionQuerySchema = Type.Object(
  { index: TreeNumber('leaf index'), size: TreeNumber('tree size (≤ the current size)') },
  { additionalProperties: false },
);

/** WebSocket frames (JSON text frames) in both directions, and the schema list for OpenAPI. */
import { Type, type Static, type TSchema } from '../typebox.js';
import { DeviceIdSchema, ErrorBodySchema } from './common.js';
import { DeviceRecordSchema, KeyPackageStockSchema } from './registry.js';
import { AckRequestSchema, EnvelopeSchema, SubmitRequestSchema, SubmitResponseSchema } from './relay.js';

// --- WebSocket frames (JSON text frames) --------------------------------------

export const ClientFrameSchema = Type.Union([
  Type.Object({ type: Type.Literal('auth'), token: Type.String({ maxLength: 4096 }) }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal('submit'), requestId: Type.String({ maxLength: 64 }), body: SubmitRequestSchema },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('ack'), ids: AckRequestSchema.properties.ids }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ping') }, { additionalProperties: false }),
]);
export type ClientFrame = Static<typeof ClientFrameSchema>;

const SingleServerFrameSchemas = [
  Type.Object({ type: Type.Literal('ready'), deviceId: DeviceIdSchema, expiresAt: Type.String() }),
  Type.Object({ type: Type.Literal('deliver'), envelopes: Type.Array(EnvelopeSchema, { maxItems: 10_000 }) }),
  Type.Object({ type: Type.Literal('submitted'), requestId: Type.String(), result: SubmitResponseSchema }),
  Type.Object({
    type: Type.Literal('error'),
    requestId: Type.Optional(Type.String()),
    status: Type.Integer(),
    error: ErrorBodySchema.properties.error,
  }),
  Type.Object({ type: Type.Literal('key-packages-low'), stock: KeyPackageStockSchema }),
  Type.Object({ type: Type.Literal('pong') }),
] as const;

/**
 * Server → client frames. Several frames for one connection in one turn of the
 * server's event loop travel as one `batch` frame (one write instead of many).
 */
export const ServerFrameSchema = Type.Union([
  ...SingleServerFrameSchemas,
  Type.Object({ type: Type.Literal('batch'), frames: Type.Array(Type.Union([...SingleServerFrameSchemas]), { maxItems: 10_000 }) }),
]);
export type ServerFrame = Static<typeof ServerFrameSchema>;
export type SingleServerFrame = Exclude<ServerFrame, { type: 'batch' }>;

/** All schemas by name, for the OpenAPI document. */
export const SCHEMAS: Readonly<Record<string, TSchema>> = {
  Error: ErrorBodySchema,
  Envelope: EnvelopeSchema,
  DeviceRecord: DeviceRecordSchema,
  KeyPackageStock: KeyPackageStockSchema,
};

/** Figures of the audit benchmark (bench/audit.ts). */
import type { LatencySummary } from '../audit-clients.js';
import type { Engine } from '../lib/engines.js';

/** Commitments accepted end to end over the measured replay. */
export interface SubmitFigure {
  measured: number;
  accepted: number;
  duplicates: number;
  failures: number;
  statusCounts: Record<string, number>;
  errorSamples: string[];
  /** HTTP submit → 201 answer carrying the audit-log index (durable and sequenced). */
  latencyMs: LatencySummary;
  /** First measured submit → last answer. */
  acceptedSeconds: number;
  commitmentsPerSecond: number;
  /** First measured submit → the published checkpoint covers every accepted commitment. */
  sequencedSeconds: number;
  sequencedPerSecond: number;
  lastAnswerToCoveredMs: number;
  /** Audit-log tree size when everything was covered. */
  treeSize: number;
  /** Checkpoints published during the measured phase (one per sequencing batch). */
  checkpoints: number;
  entriesPerCheckpoint: number;
  /** CPU of the server's process (main thread + PGlite worker) per second of the measured phase. */
  serverProcessCores: number;
  /** The same CPU per accepted commitment. */
  serverCpuMsPerCommitment: number;
  /**
   * Cores in use over the measured phase (Linux /proc; 0 elsewhere): the server process, the
   * replaying client (child mode), PostgreSQL's processes, everything else, and the machine.
   */
  cpu: { server: number; client: number; postgres: number; other: number; machine: number; cores: number };
  requestBytes: { mean: number; max: number };
}

/** Evidence timings and sizes for messages with a given number of receipts. */
export interface EvidenceFigure {
  receipts: number;
  messages: number;
  /** Audit-log size the proofs were made against (at the last fetch). */
  treeSize: number;
  /** `Device.exportEvidence` (HTTP + response schema validation). */
  exportMs: LatencySummary;
  /** `GET /v1/audit/messages/:id/evidence` with plain fetch, body read. */
  endpointMs: LatencySummary;
  /** `verifyEvidenceBundle` (signatures, VRF, inclusion proofs, key-log replay) on the parsed body. */
  verifyMs: LatencySummary;
  /** The bundle as JSON (what an export file holds), UTF-8 bytes. */
  bundleBytes: { p50: number; min: number; max: number; mean: number };
}

/** Everything one engine's run measured. */
export interface AuditEngineResult {
  engine: Engine;
  config: {
    customers: number;
    concurrency: number;
    /** How submissions travelled: `POST /v1/messages` or `submit` frames on each device's WebSocket. */
    transport: 'http' | 'ws';
    warmup: number;
    measured: number;
    clients: 'child' | 'inline';
    /** Whether the server also routed each business message (`routing.enabled`). */
    routing: boolean;
    auditBatchSize: number;
    evidenceMessages: number;
  };
  /** SDK work to build the submissions (MLS encryption, commitment signing, store writes); context only. */
  pregeneration: { messages: number; seconds: number; perSecond: number };
  submit: SubmitFigure;
  evidence: EvidenceFigure[];
  /** Sequenced commitments/s ÷ each anchor's entries/s. */
  anchors: { name: string; entriesPerSecond: number; ratio: number }[];
  /** With `profileDir`: where the server's main thread spent the measured phase. */
  profile?: AuditProfile;
  notes: string[];
  setupSeconds: number;
}

/** Where the server's main thread spent the measured submissions. */
export interface AuditProfile {
  path: string;
  totalMs: number;
  idlePercent: number;
  gcPercent: number;
  /** Inclusive time of the functions on the audited-submit path (each counted once per sample), % of sampled time. */
  inclusive: { name: string; percent: number; ms: number }[];
  selfByFunction: { name: string; percent: number; ms: number }[];
}

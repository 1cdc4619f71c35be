/**
 * Structured JSON logs (pino), one JSON object per line and nothing else on the stream:
 * `time` is an ISO 8601 timestamp, `level` a name (`"info"`, `"warn"`, …), `node` the
 * node id. Request bodies are never logged; anything that could carry a token, key or
 * ciphertext is redacted by path as a second line of defence. The format is described in
 * docs/observability.md (the access line per request: observability/http-observability.ts).
 */
import { pino, type Logger } from 'pino';
import type { ServerConfig } from './config.js';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.authorization',
  '*.sessionToken',
  '*.adminToken',
  '*.password',
  '*.token',
  '*.enrollmentToken',
  '*.payload',
  '*.welcome',
  '*.groupInfo',
  '*.keyPackage',
  '*.keyPackages',
  '*.privateKey',
  '*.signature',
  'body',
  'req.body',
];

/**
 * The server's logger: JSON lines to `config.log.destination` (default stdout).
 *
 * @example
 * const log = createLogger(resolveConfig({ log: { level: 'info' } }));
 * log.info({ route: '/v1/devices' }, 'request'); // {"level":"info","time":"2026-…Z","node":"…","route":"/v1/devices","msg":"request"}
 */
export function createLogger(config: ServerConfig): Logger {
  const options = {
    level: config.log.level,
    base: { node: config.nodeId },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return config.log.destination ? pino(options, config.log.destination) : pino(options);
}

/**
 * Structured JSON logs (pino). Request bodies are never logged; anything that
 * could carry a token, key or ciphertext is redacted by path as a second line of
 * defence.
 */
import { pino, type Logger } from 'pino';
import type { ServerConfig } from './config.js';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
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

export function createLogger(config: ServerConfig): Logger {
  const options = {
    level: config.log.level,
    base: { node: config.nodeId },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return config.log.destination ? pino(options, config.log.destination) : pino(options);
}

/**
 * The root entry of @parley/server (imported by package name, through the exports map) exports exactly these values.
 * A change here is a change of the published API: update the list on purpose.
 */
import { describe, expect, it } from 'vitest';

describe('@parley/server public API', () => {
  it('exports exactly these values', async () => {
    expect(Object.keys(await import('@parley/server')).sort()).toEqual([
      'ATTRIBUTE_KEYS', 'ApnsChannel', 'ChannelError', 'DEFAULT_POLICIES', 'DatabaseError', 'ENROLLMENT_AUDIENCE', 'FcmChannel',
      'PARLEY_ENVELOPE_TYPE', 'PgliteDatabase', 'PostgresDatabase', 'RbmChannel', 'SERVER_ERROR_CODES',
      'SERVER_ERROR_CODE_GROUPS', 'SPAN_NAMES', 'SmppChannel', 'Tracing', 'TwilioChannel', 'clientErrorHandler', 'finishKeyRotation',
      'frameworkErrors', 'installErrorHandling', 'installJsonBodyParser', 'isServerErrorCode', 'isTransientError',
      'isUniqueViolation', 'lockDataDir', 'mapError', 'migrate', 'otlpTracesEndpoint', 'resolveConfig', 'retryTransient', 'smsDeliver',
      'startKeyRotation', 'startServer', 'validatePolicy',
    ]);
  });
});

/** Markers tests place in message plaintext. */
export declare const PLAINTEXT_MARKERS: readonly string[];
/** The admin token every `startTestServer` gets unless a test overrides it. */
export declare const TEST_ADMIN_TOKEN: string;
/** Patterns of what telemetry must not hold (global regular expressions). */
export declare const TELEMETRY_PATTERNS: readonly { readonly kind: string; readonly pattern: RegExp; readonly group?: number }[];
/** A secret shortened for a report: its first 4 characters and its length. */
export declare function truncateSecret(secret: string): string;
/** The findings in one line of text. */
export declare function scanLine(line: string): { kind: string; excerpt: string }[];

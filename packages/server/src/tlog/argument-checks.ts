/**
 * Checks of the numbers and labels callers hand the transparency log; each failure is an
 * `InvalidInputError` naming the field (`tlog_invalid_input`, `tlog_bad_tree_size`).
 */
import { InvalidInputError } from '@parley/core';

/** Longest label (the VRF output of an identity is 32 bytes; the column allows more). */
export const MAX_LABEL_BYTES = 255;

/**
 * `value`, or `fallback` when absent; throws unless it is a positive safe integer.
 *
 * @example
 * const batchSize = positiveInt(opts.batchSize, 1000, 'batchSize');
 */
export function positiveInt(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidInputError(`${field} must be a positive integer`, { code: 'tlog_invalid_input', details: { field } });
  return value;
}

/**
 * Throws unless `value` is a non-negative safe integer (a leaf index or a tree size).
 *
 * @example
 * checkIndex(index, 'index');
 */
export function checkIndex(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${field} must be a non-negative integer`, { code: 'tlog_invalid_input', details: { field } });
  }
  return value;
}

/**
 * Whether `label` is 1 to 255 bytes.
 *
 * @example
 * if (!isLabel(label)) throw new InvalidInputError('a log label is 1 to 255 bytes');
 */
export function isLabel(label: unknown): label is Uint8Array {
  return label instanceof Uint8Array && label.length >= 1 && label.length <= MAX_LABEL_BYTES;
}

/**
 * The error for a tree size the log has not reached yet.
 *
 * @example
 * if (to > head.treeSize) throw beyondTree('to', head.treeSize);
 */
export function beyondTree(field: string, treeSize: number): InvalidInputError {
  return new InvalidInputError('the log has no tree of that size yet', { code: 'tlog_bad_tree_size', details: { field, treeSize } });
}

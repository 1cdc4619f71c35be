/** The app's own errors, with stable machine-readable codes (shown on the page, never content). */

/**
 * Codes of {@link AppError}.
 *
 * @example
 * const code: AppErrorCode = 'device_removed'
 */
export type AppErrorCode = 'device_removed' | 'page_broken';

/**
 * An error of the customer app itself (SDK errors keep their own `code`).
 *
 * @example
 * throw new AppError('device_removed', 'this device was removed before it was approved')
 */
export class AppError extends Error {
  constructor(
    readonly code: AppErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

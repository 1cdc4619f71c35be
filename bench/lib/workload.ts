/** Message texts of realistic length for the benchmarks' business messages. */

/**
 * A card-payment alert (~130 characters), different for each `i`.
 *
 * @example
 * await sender.send(customer, alertText(7), { class: 'alert' });
 */
export function alertText(i: number): string {
  const amount = ((i * 7919) % 250_000) / 100;
  return `Example Bank: card payment of EUR ${amount.toFixed(2)} at merchant ${1000 + (i % 9000)} approved. Not you? Call us. Ref ${String(i).padStart(8, '0')}`;
}

/**
 * A one-time-code message, different for each `i`.
 *
 * @example
 * await sender.send(customer, otpText(3), { class: 'otp' });
 */
export function otpText(i: number): string {
  return `Example Bank: your one-time code is ${String((i * 7919 + 123_457) % 1_000_000).padStart(6, '0')}. Never share it.`;
}

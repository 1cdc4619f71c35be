/**
 * DOM helpers. Every piece of data reaches the page through `textContent` or an
 * attribute, never through `innerHTML`: a message text cannot become markup.
 */
import { AppError } from './errors.js';

/**
 * Attributes and text of an element made by {@link el}.
 *
 * @example
 * const spec: ElementSpec = { class: 'hint', text: 'No messages yet.' }
 */
export interface ElementSpec {
  readonly class?: string;
  readonly text?: string;
  readonly attrs?: Readonly<Record<string, string>>;
}

/**
 * Creates an element with escaped text and the given children.
 *
 * @example
 * document.body.append(el('p', { class: 'hint', text: userInput }))
 */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, spec: ElementSpec = {}, children: readonly Node[] = []): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (spec.class) node.className = spec.class;
  if (spec.text !== undefined) node.textContent = spec.text;
  for (const [name, value] of Object.entries(spec.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * The element with this id (the page's fixed skeleton in index.html); throws if the page lacks it.
 *
 * @example
 * byId('inbox').replaceChildren()
 */
export function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (!node) throw new AppError('page_broken', `page element #${id} is missing`);
  return node;
}

/**
 * Shows one status line at the top of the page (`kind` styles it).
 *
 * @example
 * setStatus('Connected', 'ok')
 */
export function setStatus(text: string, kind: 'ok' | 'busy' | 'error' = 'busy'): void {
  const status = byId('status');
  status.textContent = text;
  status.dataset['kind'] = kind;
}

/**
 * Adds a dismissable banner (key changes, undecryptable messages, server problems).
 *
 * @example
 * addBanner('alert-pending-device', 'A new device wants to join your account.', 'warn')
 */
export function addBanner(id: string, text: string, kind: 'warn' | 'error' | 'info' = 'warn'): void {
  const banners = byId('banners');
  const existing = banners.querySelector<HTMLElement>(`[data-banner="${CSS.escape(id)}"]`);
  const close = el('button', { class: 'link', text: 'Dismiss', attrs: { type: 'button' } });
  const banner = el('div', { class: `banner ${kind}`, attrs: { 'data-banner': id, role: 'alert' } }, [el('span', { text }), close]);
  close.addEventListener('click', () => banner.remove());
  if (existing) existing.replaceWith(banner);
  else banners.append(banner);
}

/**
 * A button that copies `value` to the clipboard and says so.
 *
 * @example
 * card.append(copyButton('123456', 'Copy code'))
 */
export function copyButton(value: string, label = 'Copy'): HTMLButtonElement {
  const button = el('button', { class: 'copy', text: label, attrs: { type: 'button' } });
  button.addEventListener('click', () => {
    navigator.clipboard.writeText(value).then(
      () => (button.textContent = 'Copied'),
      () => (button.textContent = 'Copy failed: select the text instead'),
    );
  });
  return button;
}

/**
 * A short, local rendering of an RFC 3339 time.
 *
 * @example
 * formatTime('2026-01-01T10:00:00Z') // '1/1/2026, 10:00:00 AM' (locale-dependent)
 */
export function formatTime(rfc3339: string): string {
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString();
}

/**
 * A stable, non-secret description of an error for the page: its machine-readable `code`
 * when it has one. Never message content or key material.
 *
 * @example
 * setStatus(`Enrollment failed (${errorCode(e)})`, 'error')
 */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.name : 'unexpected_error';
}

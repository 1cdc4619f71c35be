/**
 * QR codes on screen: the payload another device scans (the bank's verification app, or the
 * customer's approved phone approving this browser). Encoded by `uqr` (ISO/IEC 18004, error
 * correction level M) and drawn as SVG rectangles through DOM calls only: no markup strings.
 * Scanning with a camera is not part of this reference app (the customer pastes the other
 * side's payload instead; the comparison is the same).
 */
import { encode } from 'uqr';

const SVG = 'http://www.w3.org/2000/svg';

/**
 * An SVG QR code of `payload`, `label` read out by screen readers.
 *
 * @example
 * card.append(qrCode(await device.keys.verificationQr(bankId), 'Your verification code'))
 */
export function qrCode(payload: string, label: string): SVGSVGElement {
  const { size, data } = encode(payload, { ecc: 'M', border: 2 });
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('shape-rendering', 'crispEdges');
  const background = document.createElementNS(SVG, 'rect');
  background.setAttribute('width', String(size));
  background.setAttribute('height', String(size));
  background.setAttribute('fill', '#fff');
  svg.append(background);
  const dark = document.createElementNS(SVG, 'path');
  const runs: string[] = [];
  data.forEach((row, y) => {
    // One horizontal run per stretch of dark modules keeps the path short.
    for (let x = 0; x < size; x++) {
      if (!row[x]) continue;
      let end = x;
      while (end + 1 < size && row[end + 1]) end++;
      runs.push(`M${x} ${y}h${end - x + 1}v1h-${end - x + 1}z`);
      x = end;
    }
  });
  dark.setAttribute('d', runs.join(''));
  dark.setAttribute('fill', '#000');
  svg.append(dark);
  return svg;
}

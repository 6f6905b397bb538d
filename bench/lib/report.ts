/** Plain-text tables and number formats for stdout and RESULTS.md (Markdown pipe tables). */

export type Cell = string | number | undefined;

export function table(title: string, header: readonly string[], rows: readonly Cell[][]): string {
  const text = rows.map((row) => row.map((cell) => format(cell)));
  const widths = header.map((h, i) =>
    Math.max(h.length, ...text.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ')} |`;
  return [
    `\n### ${title}\n`,
    line(header),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...text.map(line),
    '',
  ].join('\n');
}

export function format(cell: Cell): string {
  if (cell === undefined) return '—';
  if (typeof cell === 'string') return cell;
  if (!Number.isFinite(cell)) return '—';
  if (Number.isInteger(cell)) return String(cell);
  const abs = Math.abs(cell);
  return cell.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
}

/** `ours / peer` as "0.62×", or — when either side is missing or the peer is ~0. */
export function ratio(ours: number | undefined, peer: number | undefined): string {
  if (ours === undefined || peer === undefined || !Number.isFinite(ours) || !Number.isFinite(peer))
    return '—';
  if (Math.abs(peer) < 1e-9) return '—';
  const value = ours / peer;
  return `${Math.abs(value) >= 0.1 ? value.toFixed(2) : value.toPrecision(2)}×`;
}

export const percent = (share: number) => `${(share * 100).toFixed(1)} %`;

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

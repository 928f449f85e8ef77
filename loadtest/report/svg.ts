/** Inline SVG charts for the drill report: lines over time with the fault window shaded, and bars. */

/** One line of a chart. */
export interface Line {
  label: string;
  color: string;
  points: { t: number; v: number }[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A colour per series index that stays readable on white. */
export function palette(i: number): string {
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];
  return colors[i % colors.length] ?? '#333';
}

/**
 * A time chart: x from `from` to `to` (epoch ms, labelled in seconds from `from`), y from 0 to
 * the max value (or `yMax`), `shade` drawn as the fault window.
 */
export function timeChart(opts: {
  title: string;
  unit: string;
  lines: Line[];
  from: number;
  to: number;
  shade?: { start: number; end: number };
  yMax?: number;
  width?: number;
  height?: number;
}): string {
  const W = opts.width ?? 640;
  const H = opts.height ?? 220;
  const pad = { l: 56, r: 12, t: 24, b: 28 };
  const span = Math.max(1, opts.to - opts.from);
  const maxV = opts.yMax ?? Math.max(1e-9, ...opts.lines.flatMap((l) => l.points.map((p) => p.v)));
  const x = (t: number) => pad.l + ((t - opts.from) / span) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (Math.min(v, maxV) / maxV) * (H - pad.t - pad.b);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.title)}">`,
  );
  parts.push(`<text x="${pad.l}" y="16" font-size="13" font-weight="bold">${esc(opts.title)}</text>`);
  if (opts.shade) {
    const x0 = x(Math.max(opts.from, opts.shade.start));
    const x1 = x(Math.min(opts.to, opts.shade.end));
    parts.push(
      `<rect x="${x0.toFixed(1)}" y="${pad.t}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${H - pad.t - pad.b}" fill="#f4a582" fill-opacity="0.35"><title>fault window</title></rect>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const v = (maxV * i) / 4;
    parts.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${pad.l - 4}" y="${(y(v) + 4).toFixed(1)}" font-size="10" text-anchor="end">${esc(fmt(v, opts.unit))}</text>`);
  }
  const stepS = Math.max(1, Math.ceil(span / 1000 / 8));
  for (let s = 0; s * 1000 <= span; s += stepS) {
    parts.push(`<text x="${x(opts.from + s * 1000).toFixed(1)}" y="${H - 10}" font-size="10" text-anchor="middle">${s}s</text>`);
  }
  opts.lines.forEach((l) => {
    if (l.points.length === 0) return;
    const d = l.points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${l.color}" stroke-width="1.6"><title>${esc(l.label)}</title></path>`);
  });
  let lx = pad.l;
  for (const l of opts.lines) {
    parts.push(
      `<rect x="${lx}" y="${H - 8}" width="8" height="3" fill="${l.color}"/><text x="${lx + 10}" y="${H - 4}" font-size="9">${esc(l.label)}</text>`,
    );
    lx += 14 + l.label.length * 6;
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Horizontal bars (value 0..1 as percent). */
export function barChart(title: string, bars: { label: string; value: number; color: string }[], width = 640): string {
  const rowH = 26;
  const H = 30 + bars.length * rowH;
  const labelW = 240;
  const maxV = Math.max(0.01, ...bars.map((b) => b.value));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${H}" width="${width}" height="${H}" role="img" aria-label="${esc(title)}">`,
  ];
  parts.push(`<text x="4" y="16" font-size="13" font-weight="bold">${esc(title)}</text>`);
  bars.forEach((b, i) => {
    const yy = 26 + i * rowH;
    const w = (b.value / maxV) * (width - labelW - 70);
    parts.push(`<text x="4" y="${yy + 14}" font-size="11">${esc(b.label)}</text>`);
    parts.push(`<rect x="${labelW}" y="${yy + 3}" width="${Math.max(1, w).toFixed(1)}" height="16" fill="${b.color}"/>`);
    parts.push(`<text x="${labelW + w + 6}" y="${yy + 15}" font-size="11">${(b.value * 100).toFixed(2)}%</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function fmt(v: number, unit: string): string {
  if (unit === '%') return `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${unit}`;
}

/** The Markets page's heat map region: the busiest markets by cell, shaded by orders/s (docs/console.md §Heat map). */
import { html } from 'hono/html';
import type { Snapshot } from '../snapshot.js';
import type { Html } from './layout.js';

const fmt = (n: number | undefined) => (n === undefined ? '' : n.toFixed(1));

/** Cells as rows, the busiest markets as columns; each square's shade is its share of the busiest square. */
export function heatRegion(s: Snapshot): Html {
  const h = s.heat;
  const cells = s.cells.map((c) => c.id);
  if (!h || h.rows.length === 0)
    return html`<div data-region="heat" id="heat">
      <p class="summary">No orders accepted since the last poll (${h?.answered ?? 0} of ${h?.targets ?? 0} cell instances answered).</p>
    </div>`;
  return html`<div data-region="heat" id="heat">
    <p class="summary">Orders/s per cell for the ${h.rows.length} busiest markets, from ${h.answered} of ${h.targets} cell instances.</p>
    <table class="heatmap" aria-label="orders per second by cell and market">
      <thead>
        <tr>
          <th scope="col">cell</th>
          ${h.rows.map((r) => html`<th scope="col" class="market"><a href="/ui/markets?q=${r.market}">${r.market}</a></th>`)}
        </tr>
      </thead>
      <tbody>
        ${cells.map(
          (c) =>
            html`<tr data-cell="${c}">
              <th scope="row">${c}</th>
              ${h.rows.map((r) => {
                const v = r.byCell[c];
                const load = v && h.max > 0 ? Math.min(1, v / h.max).toFixed(2) : '0';
                return html`<td
                  class="num heat"
                  data-market="${r.market}"
                  data-load="${load}"
                  style="--load:${load}"
                  title="${c} ${r.market}: ${fmt(v) || 0} orders/s"
                >
                  ${fmt(v)}
                </td>`;
              })}
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

/** The Markets page: search, filter and server-side pages of the market map; frozen and migrating rows stand out. */
import { html } from 'hono/html';
import type { MarketPage, MarketQuery } from '../market-page.js';
import type { Snapshot } from '../snapshot.js';
import { heatRegion } from './heat.js';
import type { Html } from './layout.js';
import { action } from './regions.js';

const link = (q: MarketQuery, page: number) => {
  const p = new URLSearchParams();
  if (q.q) p.set('q', q.q);
  if (q.cell) p.set('cell', q.cell);
  if (q.state) p.set('state', q.state);
  p.set('page', String(page));
  return `/ui/markets?${p.toString()}`;
};

/** The Markets page's body. */
export function marketsBody(p: MarketPage, q: MarketQuery, cells: string[], canAct: boolean, snap: Snapshot): Html {
  const opt = (v: string, cur: string | undefined, label = v) =>
    html`<option value="${v}" ${v === (cur ?? '') ? 'selected' : ''}>${label}</option>`;
  return html`<section>
      <h2>Load by cell and market</h2>
      ${heatRegion(snap)}
    </section>
    <form method="get" action="/ui/markets" class="filters" id="market-filter">
      <input name="q" value="${q.q ?? ''}" placeholder="search markets" aria-label="search markets" id="market-search" />
      <select name="cell" id="market-cell" aria-label="cell">
        ${opt('', q.cell, 'any cell')}${cells.map((c) => opt(c, q.cell))}
      </select>
      <select name="state" id="market-state" aria-label="state">
        ${opt('', q.state, 'any state')}${['active', 'frozen', 'migrating'].map((s) => opt(s, q.state))}
      </select>
      <button type="submit">Filter</button>
    </form>
    <p class="summary" id="market-count">${p.matched.toLocaleString('en-US')} markets match · page ${p.page} of ${p.pages}</p>
    <table id="markets">
      <thead>
        <tr>
          <th>market</th>
          <th>cell</th>
          <th>state</th>
          <th>epoch</th>
          ${canAct ? html`<th>move to</th>` : ''}
        </tr>
      </thead>
      <tbody>
        ${p.rows.map(
          (r) =>
            html`<tr data-market="${r.market}" class="${r.migrating ? 'migrating' : ''} ${r.state === 'frozen' ? 'frozen' : ''}">
              <td>${r.market}</td>
              <td class="cell">${r.cell}</td>
              <td>${r.state}${r.migrating ? ' (migrating)' : ''}</td>
              <td class="num">${r.epoch}</td>
              ${
                canAct
                  ? html`<td>
                      ${action('/migrations', `Migrate ${r.market}`, 'Migrate', {
                        fields: html`<input type="hidden" name="market" value="${r.market}" /><select
                            name="to"
                            aria-label="move ${r.market} to"
                          >
                            ${cells.filter((c) => c !== r.cell).map((c) => html`<option>${c}</option>`)}
                          </select>`,
                      })}
                    </td>`
                  : ''
              }
            </tr>`,
        )}
      </tbody>
    </table>
    <nav class="pages">
      ${p.page > 1 ? html`<a href="${link(q, p.page - 1)}" rel="prev">← previous</a>` : ''}
      ${p.page < p.pages ? html`<a href="${link(q, p.page + 1)}" rel="next" id="next-page">next →</a>` : ''}
    </nav>`;
}

/** The Overview and Operations pages: their live regions at first paint, plus the operator's forms. */
import { html } from 'hono/html';
import type { Snapshot } from '../snapshot.js';
import type { Html } from './layout.js';
import { action, cellsRegion, evacuationsRegion, migrationsRegion, planesRegion, ratesRegion, rolloutsRegion } from './regions.js';

/** The Overview's body. */
export function overviewBody(s: Snapshot, canAct: boolean): Html {
  return html`<section>
      <h2>Cells</h2>
      ${cellsRegion(s, canAct)}
    </section>
    <section>
      <h2>Traffic per plane</h2>
      ${ratesRegion(s, canAct)}
      <div id="charts" class="charts"></div>
    </section>
    ${planesRegion(s, canAct)}`;
}

/** The Operations page's body. */
export function operationsBody(s: Snapshot, canAct: boolean): Html {
  const cells = s.cells.map((c) => c.id);
  return html`${
      canAct
        ? html`<section class="forms">
            <h2>Act</h2>
            ${action('/migrations', 'Migrate a market', 'Migrate', {
              fields: html`<input name="market" aria-label="market" placeholder="market" required pattern="[a-z0-9][a-z0-9-]{0,62}" />
                <select name="to" aria-label="to cell">
                  ${cells.map((c) => html`<option>${c}</option>`)}
                </select>`,
            })}
            ${action('/rollouts', 'Start a rollout', 'Start rollout', {
              fields: html`<input name="version" aria-label="version" placeholder="version, e.g. v2" required />
                <input name="bakeMs" type="number" min="0" aria-label="bake ms" placeholder="bake ms (default)" />
                <label><input name="allowIdle" type="checkbox" /> allow an idle bake</label>`,
            })}
          </section>`
        : ''
    }
    <section>
      <h2>Migrations</h2>
      ${migrationsRegion(s, canAct)}
    </section>
    <section>
      <h2>Evacuations</h2>
      ${evacuationsRegion(s, canAct)}
    </section>
    <section>
      <h2>Rollouts</h2>
      ${rolloutsRegion(s, canAct)}
    </section>`;
}

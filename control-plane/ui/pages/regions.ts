/**
 * The live parts of the pages, rendered on the server from one {@link Snapshot}: a page
 * includes them at first paint, and the SSE stream sends them again after every poll (the
 * client swaps each `[data-region]`). Action forms only for an operator session.
 */
import { html } from 'hono/html';
import type { DeliveryVerdict, MigrationRecord, RolloutRecord } from '../../../shared/kv.js';
import type { Evacuation } from '../../admin/evacuation.js';
import { BEFORE_FLIP } from '../../migration/options.js';
import type { InstanceView } from '../../admin/views.js';
import type { Snapshot } from '../snapshot.js';
import { heatRegion } from './heat.js';
import type { Html } from './layout.js';

/** A region's name and its renderer. */
export type Region = (s: Snapshot, canAct: boolean) => Html;

/** An action: a form the client confirms, dry-runs (unless `dry` is false) and POSTs to the admin API through /ui/api. */
export function action(path: string, title: string, label: string, o: { dry?: boolean; fields?: Html; danger?: boolean } = {}): Html {
  return html`<form class="act" data-path="${path}" data-title="${title}" data-dry="${o.dry === false ? 'no' : 'yes'}">
    ${o.fields ?? ''}<button type="submit" class="${o.danger ? 'danger' : ''}">${label}</button>
  </form>`;
}

/** A version as `1-3bb99f59` (count and the hash's first 8). */
const short = (v: string | undefined) => (v === undefined ? '-' : v.replace(/^([0-9]+-[0-9a-f]{8})[0-9a-f]*$/, '$1'));
const badge = (text: string, kind: string) => html`<span class="badge ${kind}">${text}</span>`;
const instance = (i: InstanceView) =>
  html`<span class="inst ${i.status}" title="${i.id} ${i.address}:${i.port}"
    >${i.meta.color ?? ''} ${i.meta.version ?? ''} ${i.status}</span
  >`;

/** A cell's reconciliation alert: its last run found mismatches (docs/cells.md §Reconciliation). */
function reconcileBadge(s: Snapshot, cell: string): Html | '' {
  const n = s.heat?.reconcile[cell] ?? 0;
  return n > 0
    ? html` <span class="badge unhealthy reconcile" title="its last reconciliation found ${n} mismatches between orders and deliveries"
        >reconciliation: ${n}</span
      >`
    : '';
}

/** Overview: every cell. */
export const cellsRegion: Region = (s, canAct) =>
  html`<table id="cells" data-region="cells">
    <thead>
      <tr>
        <th>cell</th>
        <th>state</th>
        <th>version</th>
        <th>color</th>
        <th>health</th>
        <th>instances</th>
        <th>markets</th>
        ${canAct ? html`<th>actions</th>` : ''}
      </tr>
    </thead>
    <tbody>
      ${s.cells.map(
        (c) =>
          html`<tr data-cell="${c.id}" class="${c.health}">
            <td>
              ${c.id} ${c.canary ? badge('canary', 'canary') : ''} ${c.global ? badge('global', 'global') : ''}${reconcileBadge(s, c.id)}
            </td>
            <td>${c.state}</td>
            <td class="version">${c.version}</td>
            <td>${c.activeColor}</td>
            <td class="health">${badge(c.health, c.health)}</td>
            <td>${c.instances.map(instance)}</td>
            <td class="num">${c.markets.toLocaleString('en-US')}</td>
            ${
              canAct
                ? html`<td class="actions">
                    ${
                      c.state === 'active'
                        ? action(`/cells/${c.id}/drain`, `Drain ${c.id}`, 'Drain')
                        : action(`/cells/${c.id}/activate`, `Activate ${c.id}`, 'Activate')
                    }
                    ${action(`/cells/${c.id}/evacuate`, `Evacuate ${c.id}: move every market off it`, 'Evacuate', { danger: true })}
                    ${action(`/cells/${c.id}/rollback`, `Roll ${c.id} back to its previous version`, 'Roll back', { danger: true })}
                  </td>`
                : ''
            }
          </tr>`,
      )}
    </tbody>
  </table>`;

/** Overview: routers, control-plane replicas, Envoys with their xDS ACK/NACK state. */
export const planesRegion: Region = (s) =>
  html`<div data-region="planes" class="planes">
    <section>
      <h2>Routers</h2>
      <ul id="routers">
        ${s.routers.map((r) => html`<li class="${r.status}">${r.id} ${badge(r.status, r.status)}</li>`)}
      </ul>
    </section>
    <section>
      <h2>Control planes</h2>
      <ul id="control-planes">
        ${s.controlPlanes.map((r) => html`<li class="${r.status}">${r.id} ${badge(r.status, r.status)}${r.id.endsWith(s.controlPlane) ? ' (this one)' : ''}</li>`)}
      </ul>
    </section>
    <section>
      <h2>Envoys (xDS)</h2>
      <table id="envoys">
        <thead>
          <tr>
            <th>node</th>
            <th>stream</th>
            <th>type: ACKed version</th>
            <th>NACKs</th>
          </tr>
        </thead>
        <tbody>
          ${s.envoys.map(
            (e) =>
              html`<tr data-envoy="${e.id}" class="${e.connected ? 'healthy' : 'unhealthy'}">
                <td>${e.id}</td>
                <td>${badge(e.connected ? 'connected' : 'disconnected', e.connected ? 'healthy' : 'unhealthy')}</td>
                <td>
                  ${e.types.map((t) => html`<span class="xds ${t.acked === t.sent ? 'ack' : 'pending'}" title="${t.acked ?? ''}">${t.type}: ${short(t.acked)}</span> `)}
                </td>
                <td>
                  ${e.types.map((t) => (t.nacks ? html`<span class="xds nack" title="${t.lastNack ?? ''}">${t.type} ${t.nacks}</span> ` : ''))}${e.types.some((t) => t.nacks) ? '' : 'none'}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </section>
    <p class="summary">
      ${s.markets.total.toLocaleString('en-US')} markets, ${s.markets.frozen} frozen · read ${s.at} by ${s.controlPlane}
    </p>
  </div>`;

const migrationRow = (m: MigrationRecord, canAct: boolean) =>
  html`<tr data-migration="${m.market}" class="mig-${m.state}">
    <td>${m.market}</td>
    <td>${m.from} → ${m.to}</td>
    <td class="state">${m.state}</td>
    <td class="steps">${m.history.map((h) => html`<span class="step" title="${h.at}${h.note ? ` ${h.note}` : ''}">${h.state}</span>`)}</td>
    <td class="num">${m.freezeMs === undefined ? '-' : `${Math.round(m.freezeMs)} ms`}</td>
    <td>${m.by}</td>
    <td>${m.error ?? ''}</td>
    ${canAct ? html`<td>${!BEFORE_FLIP.has(m.state) ? '' : action(`/migrations/${m.market}/abort`, `Abort the migration of ${m.market}`, 'Abort', { dry: false, danger: true })}</td>` : ''}
  </tr>`;

/** Operations: migrations with every step and their freeze window. */
export const migrationsRegion: Region = (s, canAct) =>
  html`<table id="migrations" data-region="migrations">
    <thead>
      <tr>
        <th>market</th>
        <th>move</th>
        <th>state</th>
        <th>steps</th>
        <th>freeze</th>
        <th>by</th>
        <th>error</th>
        ${canAct ? html`<th></th>` : ''}
      </tr>
    </thead>
    <tbody>
      ${
        s.migrations.length
          ? s.migrations.map((m) => migrationRow(m, canAct))
          : html`<tr>
              <td colspan="8">no migration</td>
            </tr>`
      }
    </tbody>
  </table>`;

const evacuationRow = (e: Evacuation) =>
  html`<tr data-evacuation="${e.cell}">
    <td>${e.cell}</td>
    <td>${e.state}</td>
    <td class="num">${e.moved.length} / ${e.total}</td>
    <td>${e.running.join(', ')}</td>
    <td>${e.failed.map((f) => `${f.market}: ${f.error}`).join('; ')}</td>
  </tr>`;

/** Operations: evacuations of draining cells. */
export const evacuationsRegion: Region = (s) =>
  html`<table id="evacuations" data-region="evacuations">
    <thead>
      <tr>
        <th>cell</th>
        <th>state</th>
        <th>moved</th>
        <th>moving</th>
        <th>failed</th>
      </tr>
    </thead>
    <tbody>
      ${
        s.evacuations.length
          ? s.evacuations.map(evacuationRow)
          : html`<tr>
              <td colspan="5">no evacuation</td>
            </tr>`
      }
    </tbody>
  </table>`;

/** A delivery rollout's verdict of one cell: its new instances, the consumer group's lag, the order events they handled. */
const deliveryVerdict = (v: DeliveryVerdict) =>
  html`<span class="verdict ${v.pass ? 'pass' : 'breach'}" data-cell="${v.cell}"
    >${v.cell} ${v.pass ? 'pass' : 'breach'}: ${v.reason} (${v.instances} instances on the new version, lag ${v.lag.start} → ${v.lag.end},
    highest ${v.lag.max}, ${v.events} order events)</span
  >`;

const rolloutBlock = (r: RolloutRecord, canAct: boolean) =>
  html`<div class="rollout rollout-${r.state}" data-rollout="${r.id}" data-role="${r.role ?? 'cells'}">
    <h3>
      ${r.id}: ${r.version} <span class="state">${r.state}</span>
      ${
        r.role === 'delivery'
          ? html`<span class="role">delivery service</span> <small>by ${r.by}, bake ${r.bakeMs} ms, lag bound ${r.maxLag ?? '-'}</small>`
          : html`<small>by ${r.by}, bake ${r.bakeMs} ms</small>`
      }
    </h3>
    ${canAct && r.state === 'running' ? action('/rollouts/abort', `Abort rollout ${r.id}`, 'Abort rollout', { dry: false, danger: true }) : ''}
    <ol class="waves">
      ${r.waves.map(
        (w, i) =>
          html`<li data-wave="${i}" class="wave-${w.state}">
            wave ${i}: ${w.cells.join(', ')} <span class="state">${w.state}</span>
            ${
              w.verdict
                ? html`<span class="verdict ${w.verdict.pass ? 'pass' : 'breach'}"
                    >${w.verdict.pass ? 'pass' : 'breach'}: ${w.verdict.reason} (${w.verdict.requests} requests, errors
                    ${(w.verdict.errorRate * 100).toFixed(2)} %, p99 ${w.verdict.p99Ms ?? '-'} ms)</span
                  >`
                : ''
            }
            ${(w.delivery ?? []).map(deliveryVerdict)}
          </li>`,
      )}
    </ol>
    ${r.rollbackMs === undefined ? '' : html`<p>rolled back in ${Math.round(r.rollbackMs)} ms</p>`}
  </div>`;

/** Operations: the running rollout and the latest others, with each wave's verdict. */
export const rolloutsRegion: Region = (s, canAct) =>
  html`<div id="rollouts" data-region="rollouts">
    ${s.rollouts.length ? s.rollouts.map((r) => rolloutBlock(r, canAct)) : html`<p>no rollout</p>`}
  </div>`;

const fmt = (n: number | null | undefined, digits = 1) => (n === null || n === undefined ? '-' : n.toFixed(digits));

/** Overview: request rate, 5xx share and p99 of each plane over the last poll, and each cell's rate per plane. */
export const ratesRegion: Region = (s) => {
  const cells = s.cells.map((c) => c.id);
  return html`<table id="rates" data-region="rates">
    <thead>
      <tr>
        <th>plane</th>
        <th>answered</th>
        <th>req/s</th>
        <th>5xx %</th>
        <th>p99 ms</th>
        ${cells.map((c) => html`<th>${c} req/s</th>`)}
      </tr>
    </thead>
    <tbody>
      ${s.rates.map(
        (p) =>
          html`<tr data-plane="${p.plane}">
            <td>${p.plane === 'router' ? 'routers' : 'Envoys'}</td>
            <td class="num">${p.answered} / ${p.targets}</td>
            <td class="num rps">${fmt(p.last?.rps)}</td>
            <td class="num">${fmt(p.last?.errorPct, 2)}</td>
            <td class="num">${fmt(p.last?.p99Ms, 0)}</td>
            ${cells.map((c) => html`<td class="num heat" style="--load:${heat(p.byCell[c], p.last?.rps)}">${fmt(p.byCell[c])}</td>`)}
          </tr>`,
      )}
    </tbody>
  </table>`;
};

/** A cell's share of its plane's traffic, 0 to 1, for the heat colour. */
function heat(cell: number | undefined, total: number | undefined): string {
  return cell && total ? Math.min(1, cell / total).toFixed(2) : '0';
}

/** Every live region by name (what the SSE stream sends). */
export const REGIONS: Record<string, Region> = {
  cells: cellsRegion,
  planes: planesRegion,
  migrations: migrationsRegion,
  evacuations: evacuationsRegion,
  rollouts: rolloutsRegion,
  rates: ratesRegion,
  heat: heatRegion,
};

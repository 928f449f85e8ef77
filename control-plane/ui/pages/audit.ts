/** The Audit & reports page: the audit log (read through the admin API with the session's token) and the drill reports under reports/. */
import { html } from 'hono/html';
import type { AuditRecord } from '../../../shared/kv.js';
import type { Html } from './layout.js';

/** A drill report's folder and the files it has. */
export interface ReportEntry {
  name: string;
  files: string[];
  mtime: string;
}

/** The page's body. */
export function auditBody(audit: AuditRecord[], reports: ReportEntry[]): Html {
  return html`<section>
      <h2>Audit log</h2>
      <table id="audit">
        <thead>
          <tr>
            <th>at</th>
            <th>who</th>
            <th>claimed</th>
            <th>action</th>
            <th>target</th>
            <th>result</th>
            <th>error</th>
          </tr>
        </thead>
        <tbody>
          ${audit.map(
            (a) =>
              html`<tr class="audit-${a.result}">
                <td>${a.at}</td>
                <td>${a.who}</td>
                <td>${a.claimed ?? ''}</td>
                <td>${a.action}</td>
                <td>${a.target}</td>
                <td>${a.result}</td>
                <td>${a.error ?? ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </section>
    <section>
      <h2>Drill reports</h2>
      ${
        reports.length
          ? html`<ul id="reports">
              ${reports.map(
                (r) =>
                  html`<li>
                    ${r.name} <small>${r.mtime}</small> ${r.files.map((f) => html`<a href="/ui/reports/${r.name}/${f}">${f}</a> `)}
                  </li>`,
              )}
            </ul>`
          : html`<p id="reports">no drill report yet (<code>cellctl drill &lt;name&gt;</code> writes one under reports/)</p>`
      }
    </section>`;
}

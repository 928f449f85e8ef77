/** The console's page shell: head (own CSS and script, nothing from a CDN), navigation, who is logged in. */
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { ConsoleSession } from '../sessions.js';

/** A rendered piece of HTML. */
export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const NAV = [
  ['/ui/', 'Overview'],
  ['/ui/markets', 'Markets'],
  ['/ui/operations', 'Operations'],
  ['/ui/audit', 'Audit & reports'],
] as const;

/** A whole page: `live` names the SSE regions the client keeps fresh; `charts` loads uPlot. */
export function page(o: { title: string; session: ConsoleSession; path: string; body: Html; live?: boolean; charts?: boolean }): Html {
  const operator = o.session.token.scope === 'operator';
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${o.title} · cellsim console</title>
        <link rel="stylesheet" href="/ui/static/console.css" />
        ${
          o.charts
            ? html`<link rel="stylesheet" href="/ui/static/uPlot.min.css" />
                <script src="/ui/static/uPlot.iife.min.js" defer></script>`
            : ''
        }
        <script src="/ui/static/console.js" defer></script>
      </head>
      <body data-scope="${o.session.token.scope}" data-live="${o.live ? 'on' : 'off'}">
        <header>
          <strong>cellsim</strong>
          <nav>${NAV.map(([href, label]) => html`<a href="${href}" class="${o.path === href ? 'here' : ''}">${label}</a>`)}</nav>
          <span class="who" id="who">${o.session.token.name} (${operator ? 'operator' : 'read-only'})</span>
          <span class="conn" id="conn" title="live updates">●</span>
          <form method="post" action="/ui/logout"><button type="submit" id="logout">Log out</button></form>
        </header>
        <main>
          <h1>${o.title}</h1>
          ${o.body}
        </main>
        ${operator ? dialog() : ''}
      </body>
    </html>`;
}

/** The confirmation dialog every action goes through (dry run first, then the real call). */
function dialog(): Html {
  return html`<dialog id="confirm" aria-labelledby="confirm-title">
    <div>
      <h2 id="confirm-title"></h2>
      <pre id="confirm-plan"></pre>
      <menu>
        <button type="button" id="confirm-dry">Dry run</button>
        <button type="button" id="confirm-go" class="danger">Confirm</button>
        <button type="button" id="confirm-cancel">Cancel</button>
      </menu>
      <p id="confirm-result" role="status"></p>
    </div>
  </dialog>`;
}

/** The login page (a form POSTing the token; the token goes in the body, never the URL). */
export function loginPage(error?: string): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>Log in · cellsim console</title>
        <link rel="stylesheet" href="/ui/static/console.css" />
      </head>
      <body class="login">
        <main>
          <h1>cellsim console</h1>
          <form method="post" action="/ui/login" id="login">
            <label>Admin API token (operator or read) <input type="password" name="token" id="token" autocomplete="off" required /></label>
            <button type="submit">Log in</button>
            ${error ? html`<p class="error" id="login-error">${error}</p>` : ''}
          </form>
          <p class="hint">
            ${raw('The tokens are in <code>&lt;data&gt;/tokens/operator</code> and <code>&lt;data&gt;/tokens/read</code>.')}
          </p>
        </main>
      </body>
    </html>`;
}

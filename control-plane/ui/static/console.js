// cellsim console: the small client of the server-rendered pages (docs/console.md §Client).
// Swaps live regions sent over server-sent events, runs actions through a confirmation dialog
// with a dry run, and draws the traffic charts with uPlot when the page loads it.
'use strict';

(function () {
  const live = document.body.dataset.live === 'on';
  const conn = document.getElementById('conn');

  // A region swapped between a press and its release would take the pressed button with it and
  // the click would be lost, so swaps wait while a pointer is down and play on release.
  let pressed = false;
  let held = null;
  document.addEventListener('pointerdown', () => (pressed = true), true);
  const release = () =>
    setTimeout(() => {
      pressed = false;
      if (held) swapRegions(held);
      held = null;
    }, 0);
  document.addEventListener('pointerup', release, true);
  document.addEventListener('pointercancel', release, true);

  function swapRegions(regions) {
    if (pressed) {
      held = { ...held, ...regions };
      return;
    }
    for (const [name, htmlText] of Object.entries(regions)) {
      const el = document.querySelector(`[data-region="${name}"]`);
      if (!el || el.dataset.html === htmlText) continue;
      const tpl = document.createElement('template');
      tpl.innerHTML = htmlText.trim();
      const next = tpl.content.firstElementChild;
      if (!next) continue;
      next.dataset.html = htmlText;
      el.replaceWith(next);
    }
  }

  // Charts (Overview): one uPlot per figure, routers and Envoys side by side, fed by each event.
  const chartRoot = document.getElementById('charts');
  if (chartRoot && window.uPlot) {
    const figures = [
      ['rps', 'requests/s'],
      ['errorPct', '5xx %'],
      ['p99Ms', 'p99 ms'],
    ];
    const charts = {};
    const columns = (rates, key) => {
      const planes = ['router', 'envoy'].map((name) => rates.find((p) => p.plane === name));
      const times = [...new Set(planes.flatMap((p) => (p ? p.series.map((x) => x.t) : [])))].sort((a, b) => a - b);
      const column = (p) => {
        const byT = new Map((p ? p.series : []).map((x) => [x.t, x[key]]));
        return times.map((t) => (byT.has(t) ? byT.get(t) : null));
      };
      return [times.map((t) => t / 1000), column(planes[0]), column(planes[1])];
    };
    window.cellsimCharts = (rates) => {
      for (const [key, title] of figures) {
        const data = columns(rates, key);
        if (charts[key]) {
          charts[key].setData(data);
          continue;
        }
        const el = document.createElement('div');
        el.className = 'chart';
        el.id = `chart-${key}`;
        chartRoot.appendChild(el);
        const series = [{}, { label: 'routers', stroke: '#1565c0', width: 2 }, { label: 'Envoys', stroke: '#e65100', width: 2 }];
        charts[key] = new window.uPlot({ title, width: 400, height: 200, series }, data, el);
      }
    };
  }

  // Events while the tab is visible: a hidden tab gives its connection back (a browser holds at
  // most 6 HTTP/1.1 connections per host) and reconnects, with a fresh state, when shown again.
  let es = null;
  const connect = () => {
    if (es) return;
    es = new EventSource('/ui/events');
    es.addEventListener('regions', (ev) => {
      const msg = JSON.parse(ev.data);
      swapRegions(msg.regions);
      document.body.dataset.seq = String(msg.seq);
      if (msg.rates && window.cellsimCharts) window.cellsimCharts(msg.rates);
    });
    es.onopen = () => conn && conn.classList.add('up');
    es.onerror = () => conn && conn.classList.remove('up');
  };
  const disconnect = () => {
    if (es) es.close();
    es = null;
    if (conn) conn.classList.remove('up');
  };
  if (live && window.EventSource) {
    connect();
    document.addEventListener('visibilitychange', () => (document.hidden ? disconnect() : connect()));
  }

  // Actions: every form.act, confirmed in the dialog; "Dry run" asks the API for the plan.
  const dialog = document.getElementById('confirm');
  let pending = null;

  function bodyOf(form) {
    const body = {};
    for (const el of form.querySelectorAll('[name]')) {
      if (el.type === 'checkbox') {
        if (el.checked) body[el.name] = true;
        continue;
      }
      if (el.value === '') continue;
      body[el.name] = el.type === 'number' ? Number(el.value) : el.value;
    }
    return body;
  }

  async function post(path, body) {
    const res = await fetch(`/ui/api${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cellsim-console': '1' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
    let json = null;
    try {
      json = await res.json();
    } catch {
      json = null;
    }
    return { status: res.status, json };
  }

  function show(text, ok) {
    const out = document.getElementById('confirm-result');
    out.textContent = text;
    out.className = ok ? 'ok' : 'error';
  }

  document.addEventListener('submit', (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains('act')) return;
    ev.preventDefault();
    if (!dialog) return;
    pending = { path: form.dataset.path, body: bodyOf(form), dry: form.dataset.dry === 'yes' };
    document.getElementById('confirm-title').textContent = form.dataset.title;
    document.getElementById('confirm-plan').textContent = `POST ${pending.path} ${JSON.stringify(pending.body)}`;
    document.getElementById('confirm-dry').disabled = !pending.dry;
    document.getElementById('confirm-go').disabled = false;
    show('', true);
    dialog.showModal();
  });

  if (dialog) {
    document.getElementById('confirm-cancel').addEventListener('click', () => dialog.close());
    document.getElementById('confirm-dry').addEventListener('click', async () => {
      if (!pending) return;
      const r = await post(pending.path, { ...pending.body, dryRun: true });
      document.getElementById('confirm-plan').textContent = JSON.stringify(r.json, null, 2);
      show(
        r.status < 300 ? `dry run: ${r.status}` : `refused: ${r.status} ${r.json && r.json.error ? r.json.error.code : ''}`,
        r.status < 300,
      );
    });
    document.getElementById('confirm-go').addEventListener('click', async () => {
      if (!pending) return;
      document.getElementById('confirm-go').disabled = true;
      const r = await post(pending.path, pending.body);
      const ok = r.status < 300;
      show(
        ok ? `done: ${r.status}` : `refused: ${r.status} ${r.json && r.json.error ? `${r.json.error.code}: ${r.json.error.message}` : ''}`,
        ok,
      );
      if (ok) setTimeout(() => dialog.open && dialog.close(), 800);
    });
  }
})();

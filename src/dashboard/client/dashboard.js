// The dashboard's one client module. Pages work without it (they are server-rendered forms and
// links); it adds live updates with a pause toggle, charts (uPlot, served from the same origin),
// "select all" in lists and saved views. It never inserts text as HTML except fragments the server
// rendered and escaped, and it never contacts another origin.
(function () {
  'use strict';

  const LIVE_KEY = 'ballast.live';
  const VIEWS_KEY = 'ballast.views';

  function storage(key, fallback) {
    try {
      const value = window.localStorage.getItem(key);
      return value === null ? fallback : JSON.parse(value);
    } catch {
      return fallback;
    }
  }

  function store(key, value) {
    try {
      window.localStorage.setItem(key, JSON.stringify(value));
    } catch {
      // private mode or full: the setting lasts for this page only
    }
  }

  // ---- charts

  const charts = [];

  function tone(name) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(`--tone-${name}`).trim();
    return value || '#888';
  }

  function formatValue(unit, value) {
    if (value === null || value === undefined) return '—';
    if (unit === 'ms') return value >= 1000 ? `${(value / 1000).toFixed(value >= 10000 ? 0 : 1)} s` : `${value} ms`;
    return String(Math.round(value * 100) / 100);
  }

  function drawCharts(root) {
    if (typeof window.uPlot !== 'function') return;
    for (let i = charts.length - 1; i >= 0; i--) {
      if (!document.body.contains(charts[i].root)) {
        charts[i].destroy();
        charts.splice(i, 1);
      }
    }
    for (const element of root.querySelectorAll('.chart-canvas[data-chart]')) {
      const spec = JSON.parse(element.getAttribute('data-chart'));
      const axis = { stroke: tone('text-muted'), grid: { stroke: tone('grid'), width: 1 }, ticks: { stroke: tone('grid'), width: 1 } };
      const options = {
        width: Math.max(240, element.clientWidth),
        height: 200,
        scales: { x: { time: true } },
        series: [{}].concat(
          spec.series.map((series) => ({
            label: series.label,
            stroke: tone(series.tone),
            width: series.tone === 'muted' ? 1 : 1.75,
            dash: series.tone === 'muted' ? [4, 4] : undefined,
            // A lone value (a window with one busy minute) is drawn as a dot.
            points: { show: (u, seriesIndex) => u.data[seriesIndex].filter((value) => value !== null).length < 3, size: 5 },
            value: (_u, value) => formatValue(spec.unit, value),
          })),
        ),
        axes: [axis, Object.assign({}, axis, { size: 64, values: (_u, values) => values.map((value) => formatValue(spec.unit, value)) })],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
      };
      const data = [spec.x].concat(spec.series.map((series) => series.values));
      element.textContent = '';
      charts.push(new window.uPlot(options, data, element));
    }
  }

  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const chart of charts) chart.setSize({ width: Math.max(240, chart.root.parentElement.clientWidth), height: 200 });
    }, 150);
  });

  // ---- lists: select all, keep each tab's own form token in refreshed fragments

  function enhance(root) {
    const token = document.querySelector('meta[name="ballast-csrf"]');
    for (const input of root.querySelectorAll('input[name="_csrf"]')) if (token) input.value = token.content;
    for (const all of root.querySelectorAll('input.select-all')) {
      all.hidden = false;
      all.addEventListener('change', () => {
        for (const box of document.querySelectorAll('input[type="checkbox"][name="id"]')) box.checked = all.checked;
      });
    }
    drawCharts(root);
  }

  // ---- live updates

  function startLive() {
    const region = document.getElementById('live');
    const toggle = document.getElementById('live-toggle');
    const status = document.getElementById('live-status');
    if (!region || !region.dataset.live || typeof window.EventSource !== 'function') return;
    let paused = storage(LIVE_KEY, 'on') === 'paused';
    let source = null;

    function say(text) {
      status.hidden = text === '';
      status.textContent = text;
    }

    function render() {
      toggle.setAttribute('aria-pressed', String(!paused));
      toggle.querySelector('.label').textContent = paused ? 'Paused' : 'Live';
      toggle.classList.toggle('paused', paused);
      toggle.title = paused ? 'Live updates are paused: press to resume' : 'Live updates are on: press to pause';
    }

    function busy() {
      // Do not pull the page from under someone who is selecting, typing or moving through it
      // with the keyboard: a replaced region would lose their focus.
      if (region.querySelector('input[type="checkbox"][name="id"]:checked')) return true;
      const active = document.activeElement;
      return Boolean(active && active !== document.body && region.contains(active));
    }

    function connect() {
      if (source) return;
      source = new EventSource(region.dataset.live);
      source.addEventListener('ready', () => say(''));
      source.addEventListener('update', (event) => {
        if (paused) return;
        if (busy()) {
          say('Live updates are held while you work in this part of the page.');
          return;
        }
        say('');
        const open = new Set([...region.querySelectorAll('details[open]')].map((details) => details.id || details.querySelector('summary')?.textContent));
        region.innerHTML = event.data;
        for (const details of region.querySelectorAll('details')) {
          if (open.has(details.id || details.querySelector('summary')?.textContent)) details.open = true;
        }
        enhance(region);
      });
      source.addEventListener('failure', (event) => say(event.data));
      source.addEventListener('error', () => say('Live updates lost their connection; reconnecting…'));
    }

    function disconnect() {
      if (source) source.close();
      source = null;
      say('');
    }

    toggle.hidden = false;
    toggle.addEventListener('click', () => {
      paused = !paused;
      store(LIVE_KEY, paused ? 'paused' : 'on');
      render();
      if (paused) disconnect();
      else connect();
    });
    render();
    if (!paused) connect();
  }

  // ---- saved views: named links to filtered lists, kept in this browser

  function startSavedViews() {
    const section = document.getElementById('saved-views');
    if (!section) return;
    const list = section.querySelector('ul');
    const form = section.querySelector('form');

    function show() {
      const views = storage(VIEWS_KEY, []);
      list.textContent = '';
      for (const saved of views) {
        const item = document.createElement('li');
        const link = document.createElement('a');
        link.href = saved.url;
        link.textContent = saved.name;
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'link';
        remove.textContent = 'remove';
        remove.setAttribute('aria-label', `Remove saved view ${saved.name}`);
        remove.addEventListener('click', () => {
          store(VIEWS_KEY, storage(VIEWS_KEY, []).filter((other) => other.name !== saved.name));
          show();
        });
        item.append(link, ' ', remove);
        list.append(item);
      }
    }

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const name = form.elements['view-name'].value.trim();
      if (name === '') return;
      const views = storage(VIEWS_KEY, []).filter((other) => other.name !== name);
      views.push({ name, url: window.location.pathname + window.location.search });
      store(VIEWS_KEY, views);
      form.reset();
      show();
    });
    section.hidden = false;
    show();
  }

  function start() {
    enhance(document);
    startLive();
    startSavedViews();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

// The pieces every screen is made of: the page frame, status badges, times, tables of numbers,
// charts with their data as a table, payloads as escaped JSON. Hono's JSX escapes every value.
import type { Context } from 'hono';
import { html } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { WorkflowStatus } from '../store/records.js';
import { ASSET_NAMES } from './assets.js';
import { formatRelative, formatTime, prettyJson } from './format.js';
import { FRAGMENT_HEADER, type DashboardEnv, type View } from './view.js';

const NAV: Array<[string, string]> = [
  ['/', 'Overview'],
  ['/workflows', 'Workflows'],
  ['/queues', 'Queues'],
  ['/fleet', 'Executors & versions'],
  ['/schedules', 'Schedules'],
];

export interface PageProps {
  title: string;
  /** The section of the navigation this page belongs to. */
  active?: string;
  children?: Child;
  /** What live updates refresh: re-rendered on the server, at most once per interval, for every tab watching. */
  live?: Child;
  /** Controls beside the title. */
  actions?: Child;
  /** After the live region. */
  footer?: Child;
}

/** Answers a page: the whole document, or only its live region when the live hub asks for it. */
export function render(c: Context<DashboardEnv>, props: PageProps, status: 200 | 201 | 400 | 403 | 404 | 409 = 200): Response | Promise<Response> {
  if (c.req.header(FRAGMENT_HEADER)) return c.html(<>{props.live ?? null}</>, status);
  return c.html(html`<!DOCTYPE html>${<Layout view={c.get('view')} {...props} />}`, status);
}

export function Layout(props: PageProps & { view: View }) {
  const { view } = props;
  const asset = (name: string) => view.href(`/assets/${name}`);
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <meta name="ballast-csrf" content={view.csrf} />
        <title>{`${props.title} · Ballast`}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href={asset(ASSET_NAMES.uplotStyle)} />
        <link rel="stylesheet" href={asset(ASSET_NAMES.style)} />
        <script src={asset(ASSET_NAMES.uplotScript)} defer></script>
        <script src={asset(ASSET_NAMES.script)} defer></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href={view.href('/')}>
            <span aria-hidden="true">⚓</span> Ballast
          </a>
          <nav aria-label="Sections">
            <ul>
              {NAV.map(([path, label]) => (
                <li>
                  <a href={view.href(path)} aria-current={props.active === path ? 'page' : undefined}>
                    {label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <div class="who">
            <button type="button" id="live-toggle" class="live-toggle" aria-pressed="true" hidden>
              <span class="dot" aria-hidden="true"></span> <span class="label">Live</span>
            </button>
            <Access view={view} />
          </div>
        </header>
        <main id="main">
          <div class="title-row">
            <h1>{props.title}</h1>
            {props.actions}
          </div>
          <p id="live-status" class="live-status" role="status" hidden></p>
          {props.children}
          {props.live === undefined ? null : (
            <div id="live" data-live={view.href('/live', { page: view.page })}>
              {props.live}
            </div>
          )}
          {props.footer}
        </main>
      </body>
    </html>
  );
}

/** Who is looking, and how to get more rights. */
function Access({ view }: { view: View }) {
  const { caller } = view;
  const policy = view.settings.policy;
  const label = caller.role === 'operator' ? 'Operator' : caller.role === 'viewer' ? 'Viewer' : 'Anonymous';
  const how = { authorize: 'your login', token: 'token', session: 'signed in', loopback: 'this machine, no token configured', anonymous: 'read-only' }[caller.via];
  return (
    <div class="access">
      <span class={`role role-${caller.role ?? 'anonymous'}`} title={how}>
        {label}
        <span class="sr-only">, {how}</span>
      </span>
      {caller.via === 'session' ? (
        <form method="post" action={view.href('/sign-out')} class="inline">
          <input type="hidden" name="_csrf" value={view.csrf} />
          <button type="submit" class="link">
            Sign out
          </button>
        </form>
      ) : policy.signInEnabled && caller.role === null ? (
        <a href={view.href('/sign-in', { next: view.page })}>Sign in</a>
      ) : null}
    </div>
  );
}

/** Why this visitor sees no controls, when that is the case. */
export function ReadOnlyNotice({ view }: { view: View }) {
  const policy = view.settings.policy;
  let text: string;
  if (policy.readOnly) text = 'This server is read-only: actions are switched off in its admin options.';
  else if (view.caller.via === 'loopback') {
    text = 'No admin token is configured: you may act because you are on this machine; anyone else may only read. Set BALLAST_ADMIN_TOKEN (and BALLAST_VIEWER_TOKEN) before others need access.';
  } else if (view.caller.role === 'operator') return null;
  else if (!policy.secured) {
    text = 'No admin token is configured, so only this machine (loopback) may act. Set BALLAST_ADMIN_TOKEN (and BALLAST_VIEWER_TOKEN) to sign in from elsewhere.';
  } else if (view.caller.role === 'viewer') text = 'You are signed in as a viewer: you can see everything and change nothing.';
  else text = 'You are not signed in: you see no inputs, outputs or errors, and cannot act. Sign in with a viewer or operator token.';
  return (
    <p class="notice" role="note">
      {text}
    </p>
  );
}

const STATUS_MARKS: Record<WorkflowStatus, string> = {
  ENQUEUED: '○',
  DELAYED: '◷',
  PENDING: '●',
  SUCCESS: '✓',
  ERROR: '✕',
  CANCELLED: '⊘',
  DEAD_LETTER: '☠',
};

/** A status in words with a mark, so it reads without colour. */
export function Status({ status }: { status: WorkflowStatus }) {
  return (
    <span class={`status status-${status.toLowerCase().replace('_', '-')}`}>
      <span aria-hidden="true">{STATUS_MARKS[status]}</span> {status}
    </span>
  );
}

export function Time({ at, now }: { at: Date | number | null | undefined; now: number }) {
  if (at === null || at === undefined) return <span class="muted">—</span>;
  const date = at instanceof Date ? at : new Date(at);
  return (
    <time datetime={date.toISOString()} title={formatTime(date)}>
      {formatRelative(date, now)}
    </time>
  );
}

export function Empty({ children }: { children: Child }) {
  return <p class="empty">{children}</p>;
}

/** A number with its label, for the tiles at the top of a screen. */
export function Stat(props: { label: string; value: Child; detail?: Child; tone?: 'bad' | 'warn' | 'good' }) {
  return (
    <div class={`stat${props.tone ? ` stat-${props.tone}` : ''}`}>
      <dt>{props.label}</dt>
      <dd>
        <span class="value">{props.value}</span>
        {props.detail === undefined ? null : <span class="detail">{props.detail}</span>}
      </dd>
    </div>
  );
}

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
  /** A colour class of the stylesheet: good, bad, warn, info, muted, accent. */
  tone: string;
}

/**
 * A time chart drawn by uPlot in the browser from the data attribute; the same numbers are in a
 * table beside it (for screen readers, and without JavaScript).
 */
export function Chart(props: { id: string; title: string; unit: string; times: Date[]; series: ChartSeries[]; stepMs: number }) {
  const data = {
    unit: props.unit,
    x: props.times.map((time) => time.getTime() / 1000),
    series: props.series.map((series) => ({ label: series.label, tone: series.tone, values: series.values })),
  };
  return (
    <figure class="chart" aria-labelledby={`${props.id}-title`}>
      <figcaption id={`${props.id}-title`}>{props.title}</figcaption>
      <div class="chart-canvas" data-chart={JSON.stringify(data)} aria-hidden="true"></div>
      <details class="chart-data">
        <summary>Data</summary>
        <table class="numbers">
          <thead>
            <tr>
              <th scope="col">Time</th>
              {props.series.map((series) => (
                <th scope="col">{series.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.times.map((time, i) => (
              <tr>
                <th scope="row">{formatTime(time)}</th>
                {props.series.map((series) => (
                  <td>{series.values[i] ?? '—'}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

const JSON_PREVIEW_CHARS = 20_000;

/** A workflow value as escaped, indented JSON, cut after a preview length, with its raw download. */
export function JsonBlock(props: { label: string; value: unknown; rawHref?: string }) {
  if (props.value === undefined) return null;
  const { text, truncated, bytes } = prettyJson(props.value, JSON_PREVIEW_CHARS);
  return (
    <section class="payload" aria-label={props.label}>
      <h3>
        {props.label}
        {props.rawHref ? (
          <a class="raw" href={props.rawHref} download>
            raw{truncated ? ` (${bytes.toLocaleString('en-US')} bytes, shown in part)` : ''}
          </a>
        ) : null}
      </h3>
      <pre tabindex={0}>
        <code>{text}</code>
      </pre>
    </section>
  );
}

export function ErrorPage(props: { view: View; status: number; title: string; message: string }) {
  return (
    <Layout view={props.view} title={props.title}>
      <p class="error-message" role="alert">
        <strong>{props.status}</strong> {props.message}
      </p>
      <p>
        <a href={props.view.href('/')}>Back to the overview</a>
      </p>
    </Layout>
  );
}

/** The hidden form token every POST form carries. */
export function CsrfField({ view }: { view: View }) {
  return <input type="hidden" name="_csrf" value={view.csrf} />;
}

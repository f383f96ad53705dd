// Overview: runs per point and their duration percentiles over a window against the window before,
// queue depth and oldest waiting work, live executors per version, and what needs attention.
import type { Hono } from 'hono';
import type { VersionInfo } from '../../fleet/registry.js';
import type { QueueMetrics } from '../../queues/service.js';
import type { History, RunCounts, WorkflowTotals } from '../../telemetry/history.js';
import type { WorkflowInfo } from '../../engine/types.js';
import { Chart, Empty, ReadOnlyNotice, render, Stat, Time } from '../components.js';
import { formatCount, formatDuration } from '../format.js';
import type { DashboardEnv, View } from '../view.js';

export const WINDOWS = ['1h', '6h', '24h', '7d'] as const;
export type Window = (typeof WINDOWS)[number];
const WINDOW_MS: Record<Window, number> = { '1h': 3_600_000, '6h': 21_600_000, '24h': 86_400_000, '7d': 604_800_000 };
const DEAD_LETTER_SHOWN = 50;

interface Problem {
  tone: 'bad' | 'warn';
  text: string;
  href: string;
}

export function registerOverview(app: Hono<DashboardEnv>): void {
  app.get('/', async (c) => {
    const view = c.get('view');
    const window = windowParam(c.req.query('window'));
    const { source } = view;
    const stats = source.stats;
    const [current, previous, breakdown, queues, versions, deadLetters] = await Promise.all([
      stats?.history({ window }),
      // The window before: every window is a whole number of points, so it ends where this one starts.
      stats?.history({ window, to: Date.now() - WINDOW_MS[window] }),
      stats?.breakdown({ window }),
      source.queues.allMetrics(),
      source.versions.list(),
      source.workflows.list({ status: 'DEAD_LETTER', limit: DEAD_LETTER_SHOWN }),
    ]);
    const problems = findProblems(view, window, queues, versions, breakdown ?? [], deadLetters);
    return render(c, {
      title: 'Overview',
      active: '/',
      children: (
        <>
          <ReadOnlyNotice view={view} />
          <nav class="segmented" aria-label="Window">
            {WINDOWS.map((w) => (
              <a href={view.href('/', { window: w })} aria-current={w === window ? 'true' : undefined}>
                {w}
              </a>
            ))}
          </nav>
        </>
      ),
      live: (
        <>
          <Problems problems={problems} />
          {current && previous ? <Throughput current={current} previous={previous} window={window} /> : <Empty>This process keeps no history (it has no stats API).</Empty>}
          <div class="columns">
            <QueuesTable view={view} queues={queues} />
            <VersionsTable view={view} versions={versions} />
          </div>
        </>
      ),
    });
  });
}

export function windowParam(value: string | undefined): Window {
  return (WINDOWS as readonly string[]).includes(value ?? '') ? (value as Window) : '1h';
}

function findProblems(view: View, window: Window, queues: QueueMetrics[], versions: VersionInfo[], breakdown: WorkflowTotals[], deadLetters: WorkflowInfo[]): Problem[] {
  const problems: Problem[] = [];
  const tooLong = view.settings.waitingTooLongMs;
  for (const queue of queues) {
    if (queue.oldestEnqueuedAgeMs !== null && queue.oldestEnqueuedAgeMs > tooLong) {
      problems.push({
        tone: 'warn',
        text: `Queue ${queue.queue}: the oldest of ${formatCount(queue.enqueued)} waiting workflows has waited ${formatDuration(queue.oldestEnqueuedAgeMs)}.`,
        href: view.href(`/queues/${encodeURIComponent(queue.queue)}`),
      });
    }
  }
  const failing = new Map<string, { failed: number; finished: number }>();
  for (const entry of breakdown) {
    if (entry.failed === 0) continue;
    const seen = failing.get(entry.workflowName) ?? { failed: 0, finished: 0 };
    seen.failed += entry.failed;
    seen.finished += entry.failed + entry.succeeded + entry.cancelled;
    failing.set(entry.workflowName, seen);
  }
  for (const [name, { failed, finished }] of failing) {
    problems.push({
      tone: 'bad',
      text: `Workflow ${name}: ${formatCount(failed)} of ${formatCount(finished)} runs failed in the last ${window}.`,
      href: view.href('/workflows', { status: 'ERROR', name }),
    });
  }
  if (deadLetters.length > 0) {
    problems.push({
      tone: 'bad',
      text: `${deadLetters.length >= DEAD_LETTER_SHOWN ? `${DEAD_LETTER_SHOWN} or more workflows are` : deadLetters.length === 1 ? '1 workflow is' : `${deadLetters.length} workflows are`} in DEAD_LETTER: recovered too often without finishing.`,
      href: view.href('/workflows', { status: 'DEAD_LETTER' }),
    });
  }
  for (const version of versions) {
    const backlog = version.backlog.enqueued + version.backlog.delayed + version.backlog.pending;
    if (backlog > 0 && version.executors.length === 0) {
      problems.push({
        tone: 'bad',
        text: `Version ${version.version} is stranded: ${formatCount(backlog)} workflows and no live executor to run them.`,
        href: view.href('/fleet'),
      });
    }
  }
  return problems;
}

function Problems({ problems }: { problems: Problem[] }) {
  return (
    <section aria-labelledby="problems-title" class="problems">
      <h2 id="problems-title">Problems</h2>
      {problems.length === 0 ? (
        <p class="all-clear">
          <span aria-hidden="true">✓</span> Nothing needs attention.
        </p>
      ) : (
        <ul>
          {problems.map((problem) => (
            <li class={`problem problem-${problem.tone}`}>
              <span aria-hidden="true">{problem.tone === 'bad' ? '✕' : '!'}</span> <a href={problem.href}>{problem.text}</a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** "+12 %" against the previous window, or nothing when there is nothing to compare with. */
function delta(now: number | null, before: number | null): string | undefined {
  if (now === null || before === null || before === 0) return undefined;
  const change = Math.round(((now - before) / before) * 100);
  return `${change >= 0 ? '+' : ''}${change} % vs previous`;
}

function Throughput({ current, previous, window }: { current: History; previous: History; window: Window }) {
  const now: RunCounts = current.totals;
  const before: RunCounts = previous.totals;
  const finished = now.succeeded + now.failed + now.cancelled;
  const times = current.points.map((point) => point.at);
  const step = formatDuration(current.stepMs);
  return (
    <section aria-labelledby="runs-title">
      <h2 id="runs-title">Runs in the last {window}</h2>
      <dl class="stats">
        <Stat label="Started" value={formatCount(now.started)} detail={delta(now.started, before.started)} />
        <Stat label="Succeeded" value={formatCount(now.succeeded)} detail={delta(now.succeeded, before.succeeded)} tone="good" />
        <Stat
          label="Failed"
          value={formatCount(now.failed)}
          detail={finished > 0 ? `${((now.failed / finished) * 100).toFixed(1)} % of finished` : undefined}
          tone={now.failed > 0 ? 'bad' : undefined}
        />
        <Stat label="Run time p50" value={formatDuration(now.p50Ms)} detail={before.p50Ms === null ? undefined : `was ${formatDuration(before.p50Ms)}`} />
        <Stat label="p95" value={formatDuration(now.p95Ms)} detail={before.p95Ms === null ? undefined : `was ${formatDuration(before.p95Ms)}`} />
        <Stat label="p99" value={formatDuration(now.p99Ms)} detail={before.p99Ms === null ? undefined : `was ${formatDuration(before.p99Ms)}`} />
      </dl>
      <div class="columns">
        <Chart
          id="throughput"
          title={`Runs per ${step}`}
          unit="runs"
          stepMs={current.stepMs}
          times={times}
          series={[
            { label: 'started', values: current.points.map((p) => p.started), tone: 'info' },
            { label: 'succeeded', values: current.points.map((p) => p.succeeded), tone: 'good' },
            { label: 'failed', values: current.points.map((p) => p.failed), tone: 'bad' },
            { label: 'started, previous window', values: previous.points.map((p) => p.started), tone: 'muted' },
          ]}
        />
        <Chart
          id="latency"
          title={`Run time per ${step} (upper bound of its bucket)`}
          unit="ms"
          stepMs={current.stepMs}
          times={times}
          series={[
            { label: 'p50', values: current.points.map((p) => p.p50Ms), tone: 'good' },
            { label: 'p95', values: current.points.map((p) => p.p95Ms), tone: 'warn' },
            { label: 'p99', values: current.points.map((p) => p.p99Ms), tone: 'bad' },
          ]}
        />
      </div>
    </section>
  );
}

function QueuesTable({ view, queues }: { view: View; queues: QueueMetrics[] }) {
  return (
    <section aria-labelledby="queues-title">
      <h2 id="queues-title">Queues</h2>
      {queues.length === 0 ? (
        <Empty>No queues yet.</Empty>
      ) : (
        <table class="numbers">
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col">Waiting</th>
              <th scope="col">Running</th>
              <th scope="col">Delayed</th>
              <th scope="col">Oldest waiting</th>
            </tr>
          </thead>
          <tbody>
            {queues.map((queue) => (
              <tr>
                <th scope="row">
                  <a href={view.href(`/queues/${encodeURIComponent(queue.queue)}`)}>{queue.queue}</a>
                </th>
                <td>{formatCount(queue.enqueued)}</td>
                <td>{formatCount(queue.pending)}</td>
                <td>{formatCount(queue.delayed)}</td>
                <td class={queue.oldestEnqueuedAgeMs !== null && queue.oldestEnqueuedAgeMs > view.settings.waitingTooLongMs ? 'warn' : undefined}>
                  {queue.oldestEnqueuedAgeMs === null ? '—' : formatDuration(queue.oldestEnqueuedAgeMs)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function VersionsTable({ view, versions }: { view: View; versions: VersionInfo[] }) {
  return (
    <section aria-labelledby="executors-title">
      <h2 id="executors-title">Executors per version</h2>
      {versions.length === 0 ? (
        <Empty>No executor has registered yet.</Empty>
      ) : (
        <table class="numbers">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Live executors</th>
              <th scope="col">Backlog</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {versions.map((version) => (
              <tr>
                <th scope="row">
                  <a href={view.href('/fleet')}>{version.version}</a>
                  {version.latest ? <span class="tag">latest</span> : null}
                </th>
                <td class={version.executors.length === 0 && version.backlog.enqueued + version.backlog.pending + version.backlog.delayed > 0 ? 'bad' : undefined}>
                  {version.executors.length}
                </td>
                <td>{formatCount(version.backlog.enqueued + version.backlog.delayed + version.backlog.pending)}</td>
                <td>
                  <Time at={version.lastSeenAt} now={view.now} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

// Queues: each queue's limits against what runs now (fleet-wide, per executor, per partition, in the
// rate window), its depth by status and version over time, its oldest waiting workflow, why work
// waits when it does, and a form that changes the limits fleet-wide.
import type { Hono } from 'hono';
import { auditLine } from '../../admin/access.js';
import type { ExecutorInfo, VersionInfo } from '../../fleet/registry.js';
import type { QueueLimits, QueueOptions } from '../../queues/options.js';
import type { QueueMetrics } from '../../queues/service.js';
import type { QueueUsage } from '../../store/sql/queues.js';
import { ValidationError } from '../../errors.js';
import { Chart, CsrfField, Empty, ReadOnlyNotice, render, Time } from '../components.js';
import { formatCount, formatDuration } from '../format.js';
import type { DashboardEnv, View } from '../view.js';
import { WINDOWS, windowParam } from './overview.js';

type Usage = QueueUsage & { limits: QueueLimits };

interface QueueState {
  metrics: QueueMetrics;
  usage: Usage;
  /** Waiting workflows per version. */
  waitingByVersion: Map<string, number>;
}

async function loadQueue(view: View, metrics: QueueMetrics, versions: VersionInfo[]): Promise<QueueState> {
  const queues = view.source.queues;
  const [usage, ...perVersion] = await Promise.all([
    queues.usage(metrics.queue),
    ...(metrics.enqueued > 0 ? versions.map((version) => queues.metrics(metrics.queue, { version: version.version })) : []),
  ]);
  const waitingByVersion = new Map<string, number>();
  perVersion.forEach((depth, i) => {
    if (depth.enqueued > 0) waitingByVersion.set((versions[i] as VersionInfo).version, depth.enqueued);
  });
  return { metrics, usage, waitingByVersion };
}

export function registerQueues(app: Hono<DashboardEnv>): void {
  app.get('/queues', async (c) => {
    const view = c.get('view');
    const [all, versions, executors] = await Promise.all([view.source.queues.allMetrics(), view.source.versions.list(), view.source.executors.list()]);
    const states = await Promise.all(all.map((metrics) => loadQueue(view, metrics, versions)));
    return render(c, {
      title: 'Queues',
      active: '/queues',
      live:
        states.length === 0 ? (
          <Empty>No queue has been declared yet.</Empty>
        ) : (
          <table class="list queues">
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col">Waiting</th>
                <th scope="col">Running / fleet limit</th>
                <th scope="col">Delayed</th>
                <th scope="col">Oldest waiting</th>
                <th scope="col">Why work waits</th>
              </tr>
            </thead>
            <tbody>
              {states.map((state) => (
                <tr>
                  <th scope="row">
                    <a href={view.href(`/queues/${encodeURIComponent(state.metrics.queue)}`)}>{state.metrics.queue}</a>
                  </th>
                  <td>{formatCount(state.metrics.enqueued)}</td>
                  <td>
                    {formatCount(state.metrics.pending)}
                    {state.usage.limits.concurrency === null ? '' : ` / ${formatCount(state.usage.limits.concurrency)}`}
                  </td>
                  <td>{formatCount(state.metrics.delayed)}</td>
                  <td>{state.metrics.oldestEnqueuedAgeMs === null ? '—' : formatDuration(state.metrics.oldestEnqueuedAgeMs)}</td>
                  <td>
                    <Reasons reasons={explain(state, executors)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ),
    });
  });

  app.get('/queues/:name', async (c) => {
    const view = c.get('view');
    const name = c.req.param('name');
    const window = windowParam(c.req.query('window'));
    const [metrics, versions, executors, history] = await Promise.all([
      view.source.queues.metrics(name),
      view.source.versions.list(),
      view.source.executors.list(),
      view.source.stats?.queueDepth(name, { window }),
    ]);
    const state = await loadQueue(view, metrics, versions);
    const versionNames = [...new Set(history?.points.flatMap((point) => Object.keys(point.byVersion)) ?? [])].sort();
    return render(c, {
      title: `Queue ${name}`,
      active: '/queues',
      children: (
        <>
          <ReadOnlyNotice view={view} />
          <nav class="segmented" aria-label="Window">
            {WINDOWS.map((w) => (
              <a href={view.href(`/queues/${encodeURIComponent(name)}`, { window: w })} aria-current={w === window ? 'true' : undefined}>
                {w}
              </a>
            ))}
          </nav>
        </>
      ),
      live: (
        <>
          <section aria-labelledby="why-title">
            <h2 id="why-title">Why work waits</h2>
            <Reasons reasons={explain(state, executors)} />
          </section>
          <Limits view={view} state={state} executors={executors} />
          {history ? (
            <div class="columns">
              <Chart
                id="depth-status"
                title={`Depth by status, sampled once a minute (last ${window})`}
                unit="workflows"
                stepMs={history.stepMs}
                times={history.points.map((point) => point.at)}
                series={[
                  { label: 'waiting', values: history.points.map((p) => p.enqueued), tone: 'warn' },
                  { label: 'running', values: history.points.map((p) => p.pending), tone: 'info' },
                  { label: 'delayed', values: history.points.map((p) => p.delayed), tone: 'muted' },
                ]}
              />
              <Chart
                id="depth-version"
                title="Waiting and running by version"
                unit="workflows"
                stepMs={history.stepMs}
                times={history.points.map((point) => point.at)}
                series={versionNames.map((version, i) => ({
                  label: version,
                  values: history.points.map((p) => p.byVersion[version] ?? 0),
                  tone: ['accent', 'info', 'good', 'warn', 'bad', 'muted'][i % 6] as string,
                }))}
              />
            </div>
          ) : null}
        </>
      ),
      footer: view.can('limits') ? <LimitsForm view={view} limits={state.usage.limits} /> : null,
    });
  });

  app.post('/queues/:name/limits', async (c) => {
    const view = c.get('view');
    const name = c.req.param('name');
    const form = await c.req.parseBody();
    const options = limitsFrom(form);
    const { policy, logger } = view.settings;
    try {
      policy.requireAction(view.caller, 'limits');
      await view.source.queues.update(name, options);
      logger.info(auditLine(view.caller, 'dashboard limits', { queue: name, limits: options }, 'done'));
    } catch (error) {
      logger.info(auditLine(view.caller, 'dashboard limits', { queue: name, limits: options }, `refused: ${(error as { code?: string }).code ?? 'INTERNAL'}`));
      throw error;
    }
    return c.redirect(view.href(`/queues/${encodeURIComponent(name)}`), 303);
  });
}

function limitsFrom(form: Record<string, unknown>): QueueOptions {
  const number = (field: string): number | undefined => {
    const value = typeof form[field] === 'string' ? (form[field] as string).trim() : '';
    if (value === '') return undefined;
    if (!/^\d+$/.test(value)) throw new ValidationError(`${field} must be a whole number, or empty for no limit; got "${value}".`);
    return Number(value);
  };
  const options: QueueOptions = {};
  const worker = number('workerConcurrency');
  const concurrency = number('concurrency');
  const partition = number('partitionConcurrency');
  const rate = number('rateLimit');
  if (worker !== undefined) options.workerConcurrency = worker;
  if (concurrency !== undefined) options.concurrency = concurrency;
  if (partition !== undefined) options.partitionConcurrency = partition;
  if (rate !== undefined) {
    const period = typeof form.ratePeriod === 'string' && form.ratePeriod.trim() !== '' ? form.ratePeriod.trim() : '1m';
    options.rateLimit = { limit: rate, period: /^\d+$/.test(period) ? Number(period) : period };
  }
  return options;
}

export interface Reason {
  tone: 'bad' | 'warn' | 'info' | 'good';
  text: string;
}

/** Why the queue's waiting work is not running, from its limits and what uses them now. */
export function explain(state: QueueState, executors: ExecutorInfo[]): Reason[] {
  const { metrics, usage } = state;
  const { limits } = usage;
  const reasons: Reason[] = [];
  if (metrics.delayed > 0) {
    reasons.push({ tone: 'info', text: `${formatCount(metrics.delayed)} delayed: the next falls due ${usage.nextDelayedAt === null ? 'soon' : `at ${new Date(usage.nextDelayedAt).toISOString()}`}.` });
  }
  if (metrics.enqueued === 0) return [{ tone: 'good', text: 'Nothing waits.' }, ...reasons];
  const dispatchers = executors.filter((executor) => executor.alive && executor.queues.includes(metrics.queue));
  for (const [version, waiting] of state.waitingByVersion) {
    if (!dispatchers.some((executor) => executor.appVersion === version)) {
      reasons.push({ tone: 'bad', text: `${formatCount(waiting)} of version ${version} wait: no live executor of that version dispatches this queue.` });
    }
  }
  if (limits.concurrency !== null && metrics.pending >= limits.concurrency) {
    reasons.push({ tone: 'warn', text: `Fleet-wide concurrency is full: ${formatCount(metrics.pending)} running of ${formatCount(limits.concurrency)}.` });
  }
  if (limits.rateLimit !== null && limits.ratePeriodMs !== null && usage.startedInWindow >= limits.rateLimit) {
    const next = usage.oldestStartInWindow === null ? null : usage.oldestStartInWindow + limits.ratePeriodMs;
    reasons.push({
      tone: 'warn',
      text: `Rate limit reached: ${formatCount(usage.startedInWindow)} started in the last ${formatDuration(limits.ratePeriodMs)} (limit ${formatCount(limits.rateLimit)}); the next may start ${next === null ? 'soon' : `in ${formatDuration(next - usage.now)}`}.`,
    });
  }
  if (limits.workerConcurrency !== null && dispatchers.length > 0) {
    const running = new Map(usage.runningByOwner.map((entry) => [entry.owner, entry.n]));
    if (dispatchers.every((executor) => (running.get(executor.id) ?? 0) >= (limits.workerConcurrency as number))) {
      reasons.push({ tone: 'warn', text: `Every executor of this queue runs its workerConcurrency (${limits.workerConcurrency}): add executors or raise it.` });
    }
  }
  if (limits.partitionConcurrency !== null) {
    const full = usage.busiestPartitions.filter((partition) => partition.n >= (limits.partitionConcurrency as number));
    if (full.length > 0) {
      reasons.push({ tone: 'info', text: `Partitions at their limit (${limits.partitionConcurrency}): ${full.map((p) => p.key).join(', ')}; their work waits, others' does not.` });
    }
  }
  if (reasons.every((reason) => reason.tone === 'info')) {
    reasons.push({ tone: 'good', text: `No limit holds it back: executors pick it up as slots free (oldest waiting ${formatDuration(metrics.oldestEnqueuedAgeMs)}).` });
  }
  return reasons;
}

function Reasons({ reasons }: { reasons: Reason[] }) {
  return (
    <ul class="reasons">
      {reasons.map((reason) => (
        <li class={`reason reason-${reason.tone}`}>
          <span aria-hidden="true">{{ bad: '✕', warn: '!', info: 'i', good: '✓' }[reason.tone]}</span> {reason.text}
        </li>
      ))}
    </ul>
  );
}

/** A value against its limit: a meter when there is a limit, the plain number when there is none. */
function Against({ value, limit, label }: { value: number; limit: number | null; label: string }) {
  if (limit === null) return <span>{formatCount(value)} (no limit)</span>;
  return (
    <span class="against">
      <meter min={0} max={limit} high={limit * 0.8} optimum={0} value={Math.min(value, limit)} aria-label={label}></meter> {formatCount(value)} / {formatCount(limit)}
    </span>
  );
}

function Limits({ view, state, executors }: { view: View; state: QueueState; executors: ExecutorInfo[] }) {
  const { metrics, usage } = state;
  const { limits } = usage;
  const running = new Map(usage.runningByOwner.map((entry) => [entry.owner, entry.n]));
  const dispatchers = executors.filter((executor) => executor.queues.includes(metrics.queue));
  return (
    <section aria-labelledby="limits-title">
      <h2 id="limits-title">Limits and what runs now</h2>
      <dl class="facts">
        <div>
          <dt>Running, fleet-wide</dt>
          <dd>
            <Against value={metrics.pending} limit={limits.concurrency} label="Running against the fleet-wide concurrency" />
          </dd>
        </div>
        <div>
          <dt>Rate window</dt>
          <dd>
            {limits.rateLimit === null || limits.ratePeriodMs === null ? (
              'no rate limit'
            ) : (
              <>
                <Against value={usage.startedInWindow} limit={limits.rateLimit} label="Starts in the rate window" /> per {formatDuration(limits.ratePeriodMs)}
              </>
            )}
          </dd>
        </div>
        <div>
          <dt>Waiting</dt>
          <dd>{formatCount(metrics.enqueued)}</dd>
        </div>
        <div>
          <dt>Oldest waiting</dt>
          <dd>{metrics.oldestEnqueuedAgeMs === null ? '—' : formatDuration(metrics.oldestEnqueuedAgeMs)}</dd>
        </div>
        <div>
          <dt>Delayed</dt>
          <dd>
            {formatCount(metrics.delayed)}
            {usage.nextDelayedAt === null ? '' : ', next due '}
            {usage.nextDelayedAt === null ? null : <Time at={usage.nextDelayedAt} now={view.now} />}
          </dd>
        </div>
      </dl>
      <h3>Per executor (workerConcurrency {limits.workerConcurrency ?? 'not set: at most 100 a claim'})</h3>
      {dispatchers.length === 0 ? (
        <Empty>No live executor dispatches this queue.</Empty>
      ) : (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Executor</th>
              <th scope="col">Version</th>
              <th scope="col">Running here</th>
            </tr>
          </thead>
          <tbody>
            {dispatchers.map((executor) => (
              <tr>
                <td>{executor.id}</td>
                <td>{executor.appVersion}</td>
                <td>
                  <Against value={running.get(executor.id) ?? 0} limit={limits.workerConcurrency} label={`Running on ${executor.id}`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {limits.partitionConcurrency === null ? null : (
        <>
          <h3>Busiest partitions (limit {limits.partitionConcurrency} each)</h3>
          {usage.busiestPartitions.length === 0 ? (
            <Empty>No partition runs anything.</Empty>
          ) : (
            <ul class="partitions">
              {usage.busiestPartitions.map((partition) => (
                <li>
                  <code>{partition.key}</code> <Against value={partition.n} limit={limits.partitionConcurrency} label={`Running in partition ${partition.key}`} />
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </section>
  );
}

function LimitsForm({ view, limits }: { view: View; limits: QueueLimits }) {
  const field = (name: string, label: string, value: number | null, hint: string) => (
    <label>
      <span>{label}</span>
      <input type="text" inputmode="numeric" name={name} value={value === null ? '' : String(value)} aria-describedby={`${name}-hint`} />
      <small id={`${name}-hint`}>{hint}</small>
    </label>
  );
  return (
    <section aria-labelledby="change-title">
      <h2 id="change-title">Change limits</h2>
      <p class="legend">
        Replaces all of the queue's limits fleet-wide; executors apply them within a second. They hold until an executor that declares the queue launches
        again. Leave a field empty for no limit.
      </p>
      <form method="post" action={view.href(`/queues/${encodeURIComponent(limits.name)}/limits`)} class="limits-form">
        <CsrfField view={view} />
        {field('workerConcurrency', 'Per executor', limits.workerConcurrency, 'running at once in one process')}
        {field('concurrency', 'Fleet-wide', limits.concurrency, 'running at once across all executors')}
        {field('partitionConcurrency', 'Per partition', limits.partitionConcurrency, 'running at once per partition key')}
        {field('rateLimit', 'Rate: starts', limits.rateLimit, 'at most this many starts…')}
        <label>
          <span>…per</span>
          <input type="text" name="ratePeriod" value={limits.ratePeriodMs === null ? '1m' : formatPeriod(limits.ratePeriodMs)} aria-describedby="ratePeriod-hint" />
          <small id="ratePeriod-hint">a duration: 10s, 1m, 1h</small>
        </label>
        <button type="submit">Save limits</button>
      </form>
    </section>
  );
}

function formatPeriod(ms: number): string {
  for (const [size, unit] of [[86_400_000, 'd'], [3_600_000, 'h'], [60_000, 'm'], [1_000, 's']] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

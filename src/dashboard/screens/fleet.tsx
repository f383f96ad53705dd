// Executors and versions: each executor's lease (time to expiry), host, pid, version, queues and
// running count; each version's live executors and backlog, which one is the latest, and what an
// old version still has to drain before its executors can go.
import type { Hono } from 'hono';
import type { ExecutorInfo, VersionInfo } from '../../fleet/registry.js';
import { Empty, render, Time } from '../components.js';
import { formatCount, formatDuration } from '../format.js';
import type { DashboardEnv, View } from '../view.js';

export function registerFleet(app: Hono<DashboardEnv>): void {
  app.get('/fleet', async (c) => {
    const view = c.get('view');
    const includeDead = c.req.query('all') === '1';
    const [executors, versions] = await Promise.all([view.source.executors.list({ includeDead }), view.source.versions.list()]);
    return render(c, {
      title: 'Executors & versions',
      active: '/fleet',
      children: (
        <p>
          {includeDead ? (
            <a href={view.href('/fleet')}>Show live executors only</a>
          ) : (
            <a href={view.href('/fleet', { all: '1' })}>Also show executors whose lease ran out</a>
          )}
        </p>
      ),
      live: (
        <>
          <Versions view={view} versions={versions} />
          <Executors view={view} executors={executors} />
        </>
      ),
    });
  });
}

function drainState(version: VersionInfo): { tone: string; text: string } {
  const { enqueued, delayed, pending, parked, pendingWithoutLiveOwner } = version.backlog;
  const backlog = enqueued + delayed + pending;
  if (backlog > 0 && version.executors.length === 0) return { tone: 'bad', text: `stranded: ${formatCount(backlog)} workflows, no live executor` };
  if (version.latest) return { tone: 'good', text: 'latest: new work goes here' };
  if (backlog === 0) return { tone: 'good', text: 'drained: its executors can be retired' };
  return {
    tone: 'warn',
    text: `draining: ${formatCount(backlog)} left (${formatCount(pending - parked)} running${parked > 0 ? `, ${formatCount(parked)} parked` : ''}${pendingWithoutLiveOwner > 0 ? `, ${formatCount(pendingWithoutLiveOwner)} without a live owner` : ''})`,
  };
}

function Versions({ view, versions }: { view: View; versions: VersionInfo[] }) {
  return (
    <section aria-labelledby="versions-title">
      <h2 id="versions-title">Versions</h2>
      {versions.length === 0 ? (
        <Empty>No version has registered yet.</Empty>
      ) : (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">State</th>
              <th scope="col" class="num">Live executors</th>
              <th scope="col" class="num">Waiting</th>
              <th scope="col" class="num">Delayed</th>
              <th scope="col" class="num">Running</th>
              <th scope="col">First seen</th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {versions.map((version) => {
              const state = drainState(version);
              return (
                <tr>
                  <th scope="row">
                    <a href={view.href('/workflows', { version: version.version })}>{version.version}</a>
                  </th>
                  <td class={state.tone}>{state.text}</td>
                  <td class="num">{version.executors.length}</td>
                  <td class="num">{formatCount(version.backlog.enqueued)}</td>
                  <td class="num">{formatCount(version.backlog.delayed)}</td>
                  <td class="num">{formatCount(version.backlog.pending)}</td>
                  <td>
                    <Time at={version.firstSeenAt} now={view.now} />
                  </td>
                  <td>
                    <Time at={version.lastSeenAt} now={view.now} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Executors({ view, executors }: { view: View; executors: ExecutorInfo[] }) {
  return (
    <section aria-labelledby="executors-title">
      <h2 id="executors-title">Executors</h2>
      {executors.length === 0 ? (
        <Empty>No live executor.</Empty>
      ) : (
        <table class="list">
          <thead>
            <tr>
              <th scope="col">Executor</th>
              <th scope="col">Version</th>
              <th scope="col">Host</th>
              <th scope="col" class="num">PID</th>
              <th scope="col">Queues</th>
              <th scope="col" class="num">Running</th>
              <th scope="col">Lease</th>
              <th scope="col">Heartbeat</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {executors.map((executor) => {
              const left = executor.leaseExpiresAt.getTime() - view.now;
              return (
                <tr class={executor.alive ? undefined : 'dead'}>
                  <th scope="row">
                    <a href={view.href('/workflows', { executor: executor.id })}>{executor.id}</a>
                  </th>
                  <td>{executor.appVersion}</td>
                  <td>{executor.hostname ?? '—'}</td>
                  <td class="num">{executor.pid ?? '—'}</td>
                  <td>{executor.queues.length === 0 ? <span class="muted">none</span> : executor.queues.join(', ')}</td>
                  <td class="num">{executor.running}</td>
                  <td class={executor.alive ? (left < 2_000 ? 'warn' : 'good') : 'bad'}>
                    {executor.alive ? `expires in ${formatDuration(left)}` : executor.recoveredAt ? 'expired, work handed over' : 'expired'}
                  </td>
                  <td>
                    <Time at={executor.lastHeartbeatAt} now={view.now} />
                  </td>
                  <td>
                    <Time at={executor.startedAt} now={view.now} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

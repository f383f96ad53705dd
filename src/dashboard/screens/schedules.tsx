// Schedules: cron and time zone, the next runs, the last runs with their outcome, and pause, resume
// and trigger.
import type { Hono } from 'hono';
import { auditLine } from '../../admin/access.js';
import type { WorkflowInfo } from '../../engine/types.js';
import { CronSchedule } from '../../schedule/cron.js';
import type { ScheduleInfo } from '../../schedule/service.js';
import { CsrfField, Empty, ReadOnlyNotice, render, Status, Time } from '../components.js';
import { formatTime } from '../format.js';
import type { DashboardEnv, View } from '../view.js';

const NEXT_RUNS = 3;
const LAST_RUNS = 5;
const SCHEDULE_ACTIONS = ['pause', 'resume', 'trigger'] as const;

function nextRuns(schedule: ScheduleInfo, count: number): Date[] {
  if (schedule.nextRunAt === null) return [];
  try {
    const cron = CronSchedule.parse(schedule.name, schedule.cron, schedule.timezone);
    const runs = [schedule.nextRunAt];
    while (runs.length < count) {
      const next = cron.next(runs[runs.length - 1] as Date);
      if (next === null) break;
      runs.push(next);
    }
    return runs;
  } catch {
    return [schedule.nextRunAt];
  }
}

export function registerSchedules(app: Hono<DashboardEnv>): void {
  app.get('/schedules', async (c) => {
    const view = c.get('view');
    const schedules = view.source.schedules ? await view.source.schedules.list() : [];
    // A schedule's runs have IDs that start with its name (see tickWorkflowId), so the list finds them through the primary key.
    const lastRuns = await Promise.all(schedules.map((schedule) => view.source.workflows.list({ idPrefix: `sched:${schedule.name}:`, limit: LAST_RUNS })));
    return render(c, {
      title: 'Schedules',
      active: '/schedules',
      children: <ReadOnlyNotice view={view} />,
      live:
        schedules.length === 0 ? (
          <Empty>No schedule is declared (ballast.schedule(name, cron, workflow)).</Empty>
        ) : (
          <table class="list schedules">
            <thead>
              <tr>
                <th scope="col">Schedule</th>
                <th scope="col">Cron</th>
                <th scope="col">Workflow</th>
                <th scope="col">State</th>
                <th scope="col">Next runs</th>
                <th scope="col">Last runs</th>
                {view.can('schedules') ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {schedules.map((schedule, i) => (
                <Row view={view} schedule={schedule} runs={lastRuns[i] ?? []} />
              ))}
            </tbody>
          </table>
        ),
    });
  });

  for (const action of SCHEDULE_ACTIONS) {
    app.post(`/schedules/:name/${action}`, async (c) => {
      const view = c.get('view');
      const name = c.req.param('name');
      const { policy, logger } = view.settings;
      try {
        policy.requireAction(view.caller, 'schedules');
        const schedules = view.source.schedules;
        if (!schedules) throw new Error('This process has no schedules API.');
        const result = action === 'trigger' ? await schedules.trigger(name) : await schedules[action](name);
        logger.info(auditLine(view.caller, `dashboard schedule ${action}`, { schedule: name, ...('workflowId' in result ? { workflowId: result.workflowId } : {}) }, 'done'));
      } catch (error) {
        logger.info(auditLine(view.caller, `dashboard schedule ${action}`, { schedule: name }, `refused: ${(error as { code?: string }).code ?? 'INTERNAL'}`));
        throw error;
      }
      return c.redirect(view.href('/schedules'), 303);
    });
  }
}

function Row({ view, schedule, runs }: { view: View; schedule: ScheduleInfo; runs: WorkflowInfo[] }) {
  const state = !schedule.declared ? 'undeclared' : schedule.paused ? 'paused' : 'active';
  return (
    <tr>
      <th scope="row">{schedule.name}</th>
      <td>
        <code>{schedule.cron}</code>
        <div class="muted">{schedule.timezone}</div>
      </td>
      <td>
        {schedule.workflowName}
        <div class="muted">
          {schedule.queue ? `queue ${schedule.queue}` : 'direct'} · version {schedule.appVersion}
        </div>
      </td>
      <td>
        <span class={`state state-${state}`}>
          <span aria-hidden="true">{{ active: '▶', paused: '❚❚', undeclared: '–' }[state]}</span> {state}
        </span>
      </td>
      <td>
        <ul class="plain">
          {nextRuns(schedule, NEXT_RUNS).map((at) => (
            <li>
              <time datetime={at.toISOString()}>{formatTime(at)}</time>
            </li>
          ))}
        </ul>
      </td>
      <td>
        {runs.length === 0 ? (
          <span class="muted">none yet</span>
        ) : (
          <ul class="plain">
            {runs.map((run) => (
              <li>
                <a href={view.href(`/workflows/${encodeURIComponent(run.id)}`)}>
                  <Status status={run.status} />
                </a>{' '}
                <Time at={run.createdAt} now={view.now} />
              </li>
            ))}
          </ul>
        )}
      </td>
      {view.can('schedules') ? (
        <td class="row-actions">
          {SCHEDULE_ACTIONS.filter((action) => (action === 'pause' ? !schedule.paused : action === 'resume' ? schedule.paused : schedule.declared)).map((action) => (
            <form method="post" action={view.href(`/schedules/${encodeURIComponent(schedule.name)}/${action}`)}>
              <CsrfField view={view} />
              <button type="submit" class="secondary" aria-label={`${action} ${schedule.name}`}>
                {action}
              </button>
            </form>
          ))}
        </td>
      ) : null}
    </tr>
  );
}

// Actions: cancel (with children), resume, fork from a chosen step onto a chosen version, delete;
// and bulk cancel, resume or delete of a selection or of everything a filter matches, with a count
// first, a typed confirmation, progress while it runs and a report of what failed. Every action
// goes through the same management API as the CLI and /api, is checked against the caller's rights
// again on the server, and leaves an audit line.
import { randomUUID } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { auditLine, type AdminAction } from '../../admin/access.js';
import type { StepInfo, WorkflowInfo } from '../../engine/types.js';
import { BallastError, ValidationError } from '../../errors.js';
import type { BulkResult, WorkflowFilter } from '../../management.js';
import { ACTIVE_STATUSES, FINAL_STATUSES, type WorkflowStatus } from '../../store/records.js';
import { RESUMABLE_STATUSES } from '../../store/sql/workflows.js';
import { CsrfField, Empty, render } from '../components.js';
import { formatCount, formatDuration } from '../format.js';
import type { DashboardEnv, View } from '../view.js';
import { capitalise, pageFilter, WorkflowTable } from './workflows.js';

type BulkAction = 'cancel' | 'resume' | 'delete';
const BULK_ACTIONS: readonly BulkAction[] = ['cancel', 'resume', 'delete'];
/** The statuses each bulk action applies to (the library skips the others). */
const APPLIES_TO: Record<BulkAction, readonly WorkflowStatus[]> = { cancel: ACTIVE_STATUSES, resume: RESUMABLE_STATUSES, delete: FINAL_STATUSES };
const COUNT_LIMIT = 10_000;
const SELECTION_LIMIT = 1_000;
const JOBS_KEPT = 50;
const PREVIEW_ROWS = 20;

/** What a finished single action says on the workflow's page (fixed texts: nothing from the URL is shown). */
export const DONE_MESSAGES: Record<string, string> = {
  cancelled: 'Cancelled. A running workflow stops at its next durable operation.',
  'not-cancelled': 'Nothing to cancel: the workflow had already finished.',
  resumed: 'Resumed: it carries on from its last checkpoint.',
  forked: 'Forked: this is the new workflow.',
};

interface BulkJob {
  id: string;
  action: BulkAction;
  /** What it applies to, in words. */
  target: string;
  expected: number | null;
  startedAt: number;
  finishedAt: number | null;
  result: BulkResult;
  error: string | null;
}

export function registerActions(app: Hono<DashboardEnv>): void {
  const jobs = new Map<string, BulkJob>();

  const act = async (c: Context<DashboardEnv>, action: AdminAction, target: Record<string, unknown>, run: () => Promise<string>) => {
    const view = c.get('view');
    const { policy, logger } = view.settings;
    try {
      policy.requireAction(view.caller, action);
      const location = await run();
      logger.info(auditLine(view.caller, `dashboard ${action}`, target, 'done'));
      return c.redirect(location, 303);
    } catch (error) {
      logger.info(auditLine(view.caller, `dashboard ${action}`, target, `refused: ${(error as { code?: string }).code ?? 'INTERNAL'}`));
      throw error;
    }
  };
  const page = (view: View, id: string, done: string) => view.href(`/workflows/${encodeURIComponent(id)}`, { done });

  app.post('/workflows/:id/cancel', async (c) => {
    const id = c.req.param('id');
    const form = await c.req.parseBody();
    const children = form.children === 'on';
    return act(c, 'cancel', { workflowId: id, children }, async () => {
      const cancelled = await c.get('view').source.workflows.cancel(id, { children });
      return page(c.get('view'), id, cancelled ? 'cancelled' : 'not-cancelled');
    });
  });

  app.post('/workflows/:id/resume', async (c) => {
    const id = c.req.param('id');
    return act(c, 'resume', { workflowId: id }, async () => {
      await c.get('view').source.workflows.resume(id);
      return page(c.get('view'), id, 'resumed');
    });
  });

  app.post('/workflows/:id/fork', async (c) => {
    const id = c.req.param('id');
    const form = await c.req.parseBody();
    const fromStep = Number(form.fromStep ?? 0);
    const appVersion = typeof form.appVersion === 'string' && form.appVersion !== '' ? form.appVersion : undefined;
    const newId = typeof form.newId === 'string' && form.newId.trim() !== '' ? form.newId.trim() : undefined;
    return act(c, 'fork', { workflowId: id, fromStep, appVersion, newId }, async () => {
      const handle = await c.get('view').source.workflows.fork(id, { fromStep, appVersion, id: newId });
      return page(c.get('view'), handle.id, 'forked');
    });
  });

  app.post('/workflows/:id/delete', async (c) => {
    const id = c.req.param('id');
    const form = await c.req.parseBody();
    return act(c, 'delete', { workflowId: id }, async () => {
      if (form.confirm !== id) throw new ValidationError(`Type the workflow's ID (${id}) to confirm that it is deleted for good.`);
      await c.get('view').source.workflows.delete(id);
      return c.get('view').href('/workflows', { deleted: id });
    });
  });

  // ---- bulk: choose → confirm (count, typed confirmation) → run in the background → progress and report

  app.post('/bulk', async (c) => {
    const view = c.get('view');
    const form = await c.req.parseBody({ all: true });
    const { action, scope } = parseBulkAction(form.action);
    view.settings.policy.requireAction(view.caller, 'bulk');
    view.settings.policy.requireAction(view.caller, action);
    const filterQuery = typeof form.filter === 'string' ? form.filter : '';
    if (scope === 'selected') {
      const ids = selectedIds(form.id);
      if (ids.length === 0) throw new ValidationError('Select at least one workflow first (the check boxes in the list).');
      return render(c, { title: `${capitalise(action)} ${formatCount(ids.length)} selected workflows`, active: '/workflows', children: <Confirm view={view} action={action} ids={ids} count={ids.length} filterQuery="" sample={[]} /> });
    }
    const filter = bulkFilter(pageFilter(new URLSearchParams(filterQuery), view.now), action);
    const matching = filter ? await view.source.workflows.list({ ...filter, limit: COUNT_LIMIT }) : [];
    return render(c, {
      title: `${capitalise(action)} all workflows that match`,
      active: '/workflows',
      children: <Confirm view={view} action={action} ids={[]} count={matching.length} filterQuery={filterQuery} sample={matching.slice(0, PREVIEW_ROWS)} />,
    });
  });

  app.post('/bulk/run', async (c) => {
    const view = c.get('view');
    const form = await c.req.parseBody({ all: true });
    const { action, scope } = parseBulkAction(form.action);
    const { policy, logger } = view.settings;
    policy.requireAction(view.caller, 'bulk');
    policy.requireAction(view.caller, action);
    const expected = Number(form.expected);
    const typed = typeof form.confirm === 'string' ? form.confirm.trim().toLowerCase() : '';
    if (typed !== `${action} ${expected}`) {
      throw new ValidationError(`The confirmation did not match: type "${action} ${expected}" to ${action} those workflows.`);
    }
    const workflows = view.source.workflows;
    const job: BulkJob = { id: randomUUID(), action, target: '', expected, startedAt: Date.now(), finishedAt: null, result: { applied: [], failed: [] }, error: null };
    let run: () => Promise<BulkResult>;
    let audit: Record<string, unknown>;
    if (scope === 'selected') {
      const ids = selectedIds(form.id);
      job.target = `${formatCount(ids.length)} selected workflows`;
      audit = { ids };
      run = () => applyEach(ids, action, view, job.result);
    } else {
      const filterQuery = typeof form.filter === 'string' ? form.filter : '';
      const filter = bulkFilter(pageFilter(new URLSearchParams(filterQuery), Date.now()), action);
      job.target = `every workflow matching ${describeFilter(filterQuery)}`;
      audit = { filter: filterQuery };
      const onBatch = (soFar: BulkResult) => (job.result = { applied: [...soFar.applied], failed: [...soFar.failed] });
      run = async () => {
        if (!filter) return { applied: [], failed: [] };
        if (action === 'cancel') return workflows.cancelMany(filter, { onBatch });
        return action === 'resume' ? workflows.resumeMany(filter, { onBatch }) : workflows.deleteMany(filter, { onBatch });
      };
    }
    jobs.set(job.id, job);
    for (const old of [...jobs.keys()].slice(0, Math.max(0, jobs.size - JOBS_KEPT))) jobs.delete(old);
    logger.info(auditLine(view.caller, `dashboard bulk ${action}`, { job: job.id, ...audit }, 'started'));
    void run().then(
      (result) => {
        job.result = result;
        job.finishedAt = Date.now();
        logger.info(auditLine(view.caller, `dashboard bulk ${action}`, { job: job.id, applied: result.applied.length, failed: result.failed.length }, 'finished'));
      },
      (error: unknown) => {
        job.error = (error as Error).message;
        job.finishedAt = Date.now();
        logger.info(auditLine(view.caller, `dashboard bulk ${action}`, { job: job.id }, `failed: ${job.error}`));
      },
    );
    return c.redirect(view.href(`/bulk/jobs/${job.id}`), 303);
  });

  app.get('/bulk/jobs/:job', (c) => {
    const view = c.get('view');
    const job = jobs.get(c.req.param('job'));
    if (!job) return render(c, { title: 'Bulk action', active: '/workflows', children: <Empty>This job is unknown here: jobs are kept in the process that ran them, the last {JOBS_KEPT} only.</Empty> }, 404);
    return render(c, { title: `Bulk ${job.action}`, active: '/workflows', live: <JobReport view={view} job={job} /> });
  });
}

function parseBulkAction(value: unknown): { action: BulkAction; scope: 'selected' | 'filter' } {
  const [action, scope] = typeof value === 'string' ? value.split(':') : [];
  if (!BULK_ACTIONS.includes(action as BulkAction) || (scope !== 'selected' && scope !== 'filter')) {
    throw new ValidationError('Choose a bulk action: cancel, resume or delete, of the selected workflows or of all that match the filter.');
  }
  return { action: action as BulkAction, scope };
}

function selectedIds(value: unknown): string[] {
  const ids = (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((id): id is string => typeof id === 'string' && id !== '');
  if (ids.length > SELECTION_LIMIT) throw new ValidationError(`Select at most ${SELECTION_LIMIT} workflows at once, or act on all that match a filter.`);
  return [...new Set(ids)];
}

/** The filter narrowed to the statuses the action applies to; null when it asks for none of them. */
function bulkFilter(filter: WorkflowFilter, action: BulkAction): WorkflowFilter | null {
  const asked = filter.status === undefined ? null : Array.isArray(filter.status) ? filter.status : [filter.status];
  const statuses = APPLIES_TO[action].filter((status) => asked === null || asked.includes(status));
  return statuses.length === 0 ? null : { ...filter, status: [...statuses] };
}

function describeFilter(query: string): string {
  const parts = [...new URLSearchParams(query)].map(([key, value]) => `${key}=${value}`);
  return parts.length === 0 ? 'no filter (all workflows)' : parts.join(', ');
}

async function applyEach(ids: string[], action: BulkAction, view: View, result: BulkResult): Promise<BulkResult> {
  const workflows = view.source.workflows;
  for (const id of ids) {
    try {
      if (action === 'cancel') {
        if (await workflows.cancel(id)) result.applied.push(id);
        else result.failed.push({ id, code: 'INVALID_WORKFLOW_STATE', message: 'It had already finished.' });
      } else {
        await (action === 'resume' ? workflows.resume(id) : workflows.delete(id));
        result.applied.push(id);
      }
    } catch (error) {
      if (!(error instanceof BallastError)) throw error;
      result.failed.push({ id, code: error.code, message: error.message });
    }
  }
  return result;
}

function Confirm(props: { view: View; action: BulkAction; ids: string[]; count: number; filterQuery: string; sample: WorkflowInfo[] }) {
  const { view, action, count } = props;
  const phrase = `${action} ${count}`;
  const statuses = APPLIES_TO[action].join(', ');
  return (
    <>
      <p class="notice" role="note">
        {props.ids.length > 0
          ? `${capitalise(action)} ${formatCount(count)} selected workflows. Those not in ${statuses} are left as they are and reported.`
          : count >= COUNT_LIMIT
            ? `${formatCount(COUNT_LIMIT)} or more workflows in ${statuses} match ${describeFilter(props.filterQuery)}. All of them will be affected, including any that start to match while it runs.`
            : `${formatCount(count)} workflows in ${statuses} match ${describeFilter(props.filterQuery)} now.`}
        {action === 'delete' ? ' Deleting removes their steps, events and messages for good.' : ''}
      </p>
      {props.sample.length > 0 ? (
        <details>
          <summary>The first {props.sample.length}</summary>
          <WorkflowTable view={view} workflows={props.sample} selectable={false} />
        </details>
      ) : null}
      {count === 0 ? (
        <Empty>Nothing to do.</Empty>
      ) : (
        <form method="post" action={view.href('/bulk/run')} class="confirm">
          <CsrfField view={view} />
          <input type="hidden" name="action" value={`${action}:${props.ids.length > 0 ? 'selected' : 'filter'}`} />
          <input type="hidden" name="filter" value={props.filterQuery} />
          <input type="hidden" name="expected" value={String(count)} />
          {props.ids.map((id) => (
            <input type="hidden" name="id" value={id} />
          ))}
          <label>
            <span>
              Type <kbd>{phrase}</kbd> to confirm
            </span>
            <input type="text" name="confirm" required autocomplete="off" pattern={phrase} />
          </label>
          <button type="submit" class={action === 'delete' ? 'danger' : undefined}>
            {capitalise(action)}
          </button>
          <a href={view.href('/workflows', new URLSearchParams(props.filterQuery))}>Back to the list</a>
        </form>
      )}
    </>
  );
}

function JobReport({ view, job }: { view: View; job: BulkJob }) {
  const done = job.result.applied.length + job.result.failed.length;
  const elapsed = (job.finishedAt ?? view.now) - job.startedAt;
  return (
    <section aria-labelledby="job-title">
      <h2 id="job-title">
        {capitalise(job.action)} {job.target}
      </h2>
      <p>
        {job.finishedAt === null ? 'Running' : job.error ? 'Stopped by an error' : 'Finished'} after {formatDuration(elapsed)}:{' '}
        <strong>{formatCount(job.result.applied.length)}</strong> done, <strong>{formatCount(job.result.failed.length)}</strong> failed
        {job.expected !== null ? ` (about ${formatCount(job.expected)} expected)` : ''}.
      </p>
      {job.expected ? <progress max={job.expected} value={Math.min(done, job.expected)} aria-label="Progress"></progress> : null}
      {job.error ? (
        <p class="error-message" role="alert">
          {job.error}
        </p>
      ) : null}
      {job.result.failed.length > 0 ? (
        <table class="list">
          <caption>What failed</caption>
          <thead>
            <tr>
              <th scope="col">Workflow</th>
              <th scope="col">Code</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {job.result.failed.slice(0, 500).map((failure) => (
              <tr>
                <td class="id">
                  <a href={view.href(`/workflows/${encodeURIComponent(failure.id)}`)}>{failure.id}</a>
                </td>
                <td>
                  <code>{failure.code}</code>
                </td>
                <td>{failure.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/** The actions an operator may take on one workflow, shown on its page. */
export function WorkflowActions(props: { view: View; workflow: WorkflowInfo; steps: StepInfo[]; versions: string[] }) {
  const { view, workflow, steps } = props;
  const id = encodeURIComponent(workflow.id);
  const active = (ACTIVE_STATUSES as readonly string[]).includes(workflow.status);
  const resumable = (RESUMABLE_STATUSES as readonly string[]).includes(workflow.status);
  const shown = {
    cancel: view.can('cancel') && active,
    resume: view.can('resume') && resumable,
    fork: view.can('fork'),
    delete: view.can('delete') && !active,
  };
  const done = new URL(`http://x${view.page}`).searchParams.get('done');
  const message = done === null ? undefined : DONE_MESSAGES[done];
  if (!Object.values(shown).some(Boolean)) return message ? <p class="done" role="status">{message}</p> : null;
  const versions = props.versions.includes(workflow.appVersion) ? props.versions : [workflow.appVersion, ...props.versions];
  return (
    <section class="actions" aria-labelledby="actions-title">
      <h2 id="actions-title" class="sr-only">
        Actions
      </h2>
      {message ? (
        <p class="done" role="status">
          {message}
        </p>
      ) : null}
      <div class="action-row">
        {shown.cancel ? (
          <form method="post" action={view.href(`/workflows/${id}/cancel`)}>
            <CsrfField view={view} />
            <label class="check">
              <input type="checkbox" name="children" /> with its children
            </label>
            <button type="submit">Cancel</button>
          </form>
        ) : null}
        {shown.resume ? (
          <form method="post" action={view.href(`/workflows/${id}/resume`)}>
            <CsrfField view={view} />
            <button type="submit">Resume</button>
          </form>
        ) : null}
        {shown.fork ? (
          <details class="action">
            <summary>Fork…</summary>
            <form method="post" action={view.href(`/workflows/${id}/fork`)} class="stacked">
              <CsrfField view={view} />
              <label>
                <span>Run again from</span>
                <select name="fromStep">
                  {[...steps.map((step) => step.index), steps.length].map((index) => (
                    <option value={String(index)}>
                      {index === steps.length ? `step ${index} (after the last checkpoint)` : `step ${index}: ${steps[index]?.name ?? ''}`}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <span>On version</span>
                <select name="appVersion">
                  {versions.map((version) => (
                    <option value={version} selected={version === workflow.appVersion}>
                      {version}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <span>New ID (optional)</span>
                <input type="text" name="newId" autocomplete="off" />
              </label>
              <button type="submit">Fork</button>
            </form>
          </details>
        ) : null}
        {shown.delete ? (
          <details class="action">
            <summary>Delete…</summary>
            <form method="post" action={view.href(`/workflows/${id}/delete`)} class="stacked">
              <CsrfField view={view} />
              <label>
                <span>
                  Type the ID <kbd>{workflow.id}</kbd> to delete it with its steps, events and messages
                </span>
                <input type="text" name="confirm" required autocomplete="off" />
              </label>
              <button type="submit" class="danger">
                Delete
              </button>
            </form>
          </details>
        ) : null}
      </div>
    </section>
  );
}

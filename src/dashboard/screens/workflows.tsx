// Workflows: the list, filtered by the same query parameters as GET /api/workflows (so a filter is
// a link), with a time-bounded search over payloads, keyset pagination, saved views, and selection
// or filter for bulk actions.
import type { Hono } from 'hono';
import { LIST_PARAMETERS, listFilter } from '../../admin/routes.js';
import type { WorkflowInfo } from '../../engine/types.js';
import type { WorkflowFilter } from '../../management.js';
import { ACTIVE_STATUSES, FINAL_STATUSES, type WorkflowStatus } from '../../store/records.js';
import { CsrfField, Empty, ReadOnlyNotice, render, Status, Time } from '../components.js';
import { formatDuration } from '../format.js';
import type { DashboardEnv, View } from '../view.js';

const PAGE_SIZE = 50;
const SINCE: Record<string, number> = { '15m': 900_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000 };
const FILTER_PARAMETERS = LIST_PARAMETERS.filter((name) => !['limit', 'offset', 'order', 'withPayloads', 'queuedOnly'].includes(name));

/** The page's query as a library filter (what a bulk action by filter applies to). */
export function pageFilter(query: URLSearchParams, now: number): WorkflowFilter {
  const listed = new URLSearchParams();
  for (const [key, value] of query) {
    const listable = (FILTER_PARAMETERS as readonly string[]).includes(key) || key.startsWith('attr.');
    if (listable && value.trim() !== '') listed.append(key, value);
  }
  const filter = listFilter(listed);
  const since = query.get('since');
  if (since && SINCE[since] !== undefined && filter.createdAfter === undefined) filter.createdAfter = now - SINCE[since];
  const search = query.get('search')?.trim();
  if (search) {
    filter.search = search;
    filter.createdAfter ??= now - SINCE['24h']!; // a search is always bounded in time
  }
  return filter;
}

/** "1733330412000.order-42": where a page ends, for the next one to start after. */
function cursorOf(workflow: WorkflowInfo): string {
  return `${workflow.createdAt.getTime()}.${workflow.id}`;
}

function parseCursor(value: string | null): { createdAt: number; id: string } | undefined {
  const match = value === null ? null : /^(\d+)\.(.+)$/.exec(value);
  return match ? { createdAt: Number(match[1]), id: match[2] as string } : undefined;
}

export function registerWorkflows(app: Hono<DashboardEnv>): void {
  app.get('/workflows', async (c) => {
    const view = c.get('view');
    const query = new URL(c.req.url).searchParams;
    const filter = pageFilter(query, view.now);
    const after = parseCursor(query.get('after'));
    const before = parseCursor(query.get('before'));
    // One more than a page says whether there is a next one; "before" reads towards newer workflows, then turns the page around.
    const found = await view.source.workflows.list({
      ...filter,
      limit: PAGE_SIZE + 1,
      order: before ? 'asc' : 'desc',
      after: before ?? after,
    });
    const more = found.length > PAGE_SIZE;
    const page = found.slice(0, PAGE_SIZE);
    if (before) page.reverse();
    const hasOlder = before ? true : more;
    const hasNewer = before ? more : after !== undefined;
    const base = new URLSearchParams(query);
    for (const key of ['after', 'before']) base.delete(key);
    const first = page[0];
    const last = page[page.length - 1];
    return render(c, {
      title: 'Workflows',
      active: '/workflows',
      children: (
        <>
          <ReadOnlyNotice view={view} />
          <Filters view={view} query={query} />
          <SavedViews />
          <BulkBar view={view} filter={base} />
        </>
      ),
      live: (
        <>
          {page.length === 0 ? (
            <Empty>No workflow matches{filter.search ? ` (searched in the last ${formatDuration(view.now - (filter.createdAfter as number))})` : ''}.</Empty>
          ) : (
            <WorkflowTable view={view} workflows={page} selectable={view.can('cancel') || view.can('resume') || view.can('delete')} />
          )}
          <nav class="pager" aria-label="Pages">
            {hasNewer && first ? <a href={view.href('/workflows', withParam(base, 'before', cursorOf(first)))}>← Newer</a> : <span />}
            {hasOlder && last ? <a href={view.href('/workflows', withParam(base, 'after', cursorOf(last)))}>Older →</a> : <span />}
          </nav>
        </>
      ),
    });
  });
}

function withParam(query: URLSearchParams, key: string, value: string): URLSearchParams {
  const copy = new URLSearchParams(query);
  copy.set(key, value);
  return copy;
}

const ALL_STATUSES: readonly WorkflowStatus[] = [...ACTIVE_STATUSES, ...FINAL_STATUSES];

function Filters({ view, query }: { view: View; query: URLSearchParams }) {
  const selected = new Set(query.getAll('status').flatMap((value) => value.split(',')));
  const text = (name: string, label: string, placeholder = '') => (
    <label>
      <span>{label}</span>
      <input type="text" name={name} value={query.get(name) ?? ''} placeholder={placeholder} autocomplete="off" />
    </label>
  );
  return (
    <form method="get" action={view.href('/workflows')} class="filters" role="search" aria-label="Filter workflows">
      <fieldset class="statuses">
        <legend>Status</legend>
        {ALL_STATUSES.map((status) => (
          <label class="check">
            <input type="checkbox" name="status" value={status} checked={selected.has(status)} /> <Status status={status} />
          </label>
        ))}
      </fieldset>
      <div class="fields">
        {text('name', 'Workflow')}
        {text('queue', 'Queue')}
        {text('version', 'Version')}
        {text('executor', 'Executor')}
        {text('parent', 'Parent ID')}
        {text('idPrefix', 'ID starts with')}
        <label>
          <span>Created</span>
          <select name="since">
            <option value="">any time</option>
            {Object.keys(SINCE).map((since) => (
              <option value={since} selected={query.get('since') === since}>
                in the last {since}
              </option>
            ))}
          </select>
        </label>
        {text('createdAfter', 'Created after', 'ISO 8601 or epoch ms')}
        {text('createdBefore', 'Created before', 'ISO 8601 or epoch ms')}
        <label class="wide">
          <span>Search input, output and error</span>
          <input type="search" name="search" value={query.get('search') ?? ''} placeholder="text (within the time range; the last 24 h if none)" maxlength={200} />
        </label>
      </div>
      <div class="buttons">
        <button type="submit">Apply</button>
        <a href={view.href('/workflows')}>Clear</a>
      </div>
    </form>
  );
}

/** Filled by the client module from this browser's saved views (links to filtered lists). */
function SavedViews() {
  return (
    <section id="saved-views" class="saved-views" aria-labelledby="saved-views-title" hidden>
      <h2 id="saved-views-title">Saved views</h2>
      <ul></ul>
      <form class="save-view">
        <label>
          <span>Save this view as</span>
          <input type="text" name="view-name" required maxlength={60} />
        </label>
        <button type="submit">Save</button>
      </form>
    </section>
  );
}

/** The form that the list's check boxes belong to (by its id: the list itself is refreshed live, the form is not). */
function BulkBar({ view, filter }: { view: View; filter: URLSearchParams }) {
  const actions = (['cancel', 'resume', 'delete'] as const).filter((action) => view.can(action) && view.can('bulk'));
  if (actions.length === 0) return null;
  const filtered = [...filter.keys()].length > 0;
  return (
    <form id="bulk-form" method="post" action={view.href('/bulk')} class="bulk-bar" aria-label="Bulk actions">
      <CsrfField view={view} />
      <input type="hidden" name="filter" value={filter.toString()} />
      {actions.map((action) => (
        <button type="submit" name="action" value={`${action}:selected`}>
          {capitalise(action)} selected…
        </button>
      ))}
      {filtered
        ? actions.map((action) => (
            <button type="submit" name="action" value={`${action}:filter`} class="secondary">
              {capitalise(action)} all that match…
            </button>
          ))
        : null}
    </form>
  );
}

export function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

export function WorkflowTable({ view, workflows, selectable }: { view: View; workflows: WorkflowInfo[]; selectable: boolean }) {
  return (
    <table class="list">
      <thead>
        <tr>
          {selectable ? (
            <th scope="col" class="select">
              <input type="checkbox" class="select-all" aria-label="Select all on this page" hidden />
            </th>
          ) : null}
          <th scope="col">ID</th>
          <th scope="col">Workflow</th>
          <th scope="col">Status</th>
          <th scope="col">Queue</th>
          <th scope="col">Version</th>
          <th scope="col">Executor</th>
          <th scope="col">Created</th>
          <th scope="col">Run time</th>
          <th scope="col" class="num">Attempts</th>
        </tr>
      </thead>
      <tbody>
        {workflows.map((workflow) => (
          <tr>
            {selectable ? (
              <td class="select">
                <input type="checkbox" name="id" value={workflow.id} form="bulk-form" aria-label={`Select ${workflow.id}`} />
              </td>
            ) : null}
            <td class="id">
              <a href={view.href(`/workflows/${encodeURIComponent(workflow.id)}`)}>{workflow.id}</a>
            </td>
            <td>{workflow.name}</td>
            <td>
              <Status status={workflow.status} />
            </td>
            <td>{workflow.queue ?? <span class="muted">direct</span>}</td>
            <td>{workflow.appVersion}</td>
            <td>{workflow.executorId ?? <span class="muted">—</span>}</td>
            <td>
              <Time at={workflow.createdAt} now={view.now} />
            </td>
            <td>{runTime(workflow, view.now)}</td>
            <td class="num">{workflow.attempts}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function runTime(workflow: WorkflowInfo, now: number): string {
  if (!workflow.startedAt) return '—';
  const end = workflow.completedAt?.getTime() ?? now;
  return `${formatDuration(end - workflow.startedAt.getTime())}${workflow.completedAt ? '' : ' so far'}`;
}

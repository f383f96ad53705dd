// A workflow: its status, times, attempts and version, its payloads (escaped, cut, with a raw
// download), the step waterfall with its children inline, the calls that reproduce what the page
// shows, an export, and the actions an operator may take on it.
import type { Hono } from 'hono';
import { stepJson, stored, visiblePayload, workflowJson, type PayloadView } from '../../admin/views.js';
import type { StepInfo, WorkflowInfo } from '../../engine/types.js';
import { WorkflowNotFoundError } from '../../errors.js';
import type { AdminSource } from '../../admin/routes.js';
import { Empty, JsonBlock, ReadOnlyNotice, render, Status, Time } from '../components.js';
import { formatDuration, formatTime } from '../format.js';
import type { DashboardEnv, View } from '../view.js';
import { WorkflowActions } from './actions.js';
import { runTime } from './workflows.js';

/** Children shown inline with their own steps; more are listed as links. */
const CHILDREN_INLINE = 20;
const PAYLOAD_FIELDS = ['input', 'output', 'error'] as const;

interface Loaded {
  workflow: WorkflowInfo;
  steps: StepInfo[];
  children: Map<string, { workflow: WorkflowInfo; steps: StepInfo[] }>;
}

async function load(source: AdminSource, id: string, payloads: PayloadView): Promise<Loaded> {
  const [workflow, steps] = await Promise.all([source.workflows.get(id, { withPayloads: payloads.visible }), source.workflows.steps(id)]);
  if (!workflow) throw new WorkflowNotFoundError(id);
  const childIds = steps.map((step) => step.childWorkflowId).filter((child): child is string => child !== null).slice(0, CHILDREN_INLINE);
  const children = new Map<string, { workflow: WorkflowInfo; steps: StepInfo[] }>();
  await Promise.all(
    childIds.map(async (childId) => {
      const [child, childSteps] = await Promise.all([source.workflows.get(childId), source.workflows.steps(childId)]);
      if (child) children.set(childId, { workflow: child, steps: childSteps });
    }),
  );
  return { workflow, steps, children };
}

export function registerWorkflow(app: Hono<DashboardEnv>): void {
  app.get('/workflows/:id', async (c) => {
    const view = c.get('view');
    const id = c.req.param('id');
    const loaded = await load(view.source, id, view.payloads);
    const versions = view.can('fork') ? await view.source.versions.list() : [];
    const origin = new URL(c.req.url).origin;
    return render(c, {
      title: `Workflow ${id}`,
      active: '/workflows',
      actions: (
        <a class="button secondary" href={view.href(`/workflows/${encodeURIComponent(id)}/export.json`)} download>
          Export JSON
        </a>
      ),
      children: (
        <>
          <ReadOnlyNotice view={view} />
          <WorkflowActions view={view} workflow={loaded.workflow} steps={loaded.steps} versions={versions.map((v) => v.version)} />
        </>
      ),
      live: (
        <>
          <Summary view={view} workflow={loaded.workflow} />
          <Payloads view={view} workflow={loaded.workflow} />
          <Waterfall view={view} loaded={loaded} />
        </>
      ),
      footer: <Reproduce view={view} workflow={loaded.workflow} origin={origin} />,
    });
  });

  app.get('/workflows/:id/raw/:field', async (c) => {
    const view = c.get('view');
    const id = c.req.param('id');
    const field = c.req.param('field') as (typeof PAYLOAD_FIELDS)[number];
    if (!PAYLOAD_FIELDS.includes(field)) return c.text('Unknown field: use input, output or error.', 404);
    if (!view.payloads.visible) return c.text('Payloads need a viewer or operator: sign in.', 403);
    const workflow = await view.source.workflows.get(id, { withPayloads: true });
    if (!workflow) throw new WorkflowNotFoundError(id);
    const json = workflowJson(workflow, view.payloads);
    return c.body(`${JSON.stringify(json[field] ?? null, null, 2)}\n`, 200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Disposition': `attachment; filename="${safeFileName(`${id}-${field}.json`)}"`,
    });
  });

  app.get('/workflows/:id/export.json', async (c) => {
    const view = c.get('view');
    const id = c.req.param('id');
    const loaded = await load(view.source, id, view.payloads);
    const document = {
      workflow: workflowJson(loaded.workflow, view.payloads),
      steps: loaded.steps.map((step) => stepJson(step, id, view.payloads)),
      exportedAt: new Date(view.now).toISOString(),
    };
    return c.body(`${JSON.stringify(document, null, 2)}\n`, 200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Disposition': `attachment; filename="${safeFileName(`${id}.json`)}"`,
    });
  });
}

function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

function Summary({ view, workflow }: { view: View; workflow: WorkflowInfo }) {
  const row = (label: string, value: unknown) => (
    <div>
      <dt>{label}</dt>
      <dd>{value ?? <span class="muted">—</span>}</dd>
    </div>
  );
  return (
    <section aria-labelledby="summary-title">
      <h2 id="summary-title" class="sr-only">
        Summary
      </h2>
      <dl class="facts">
        {row('Status', <Status status={workflow.status} />)}
        {row('Workflow', workflow.name)}
        {row('Queue', workflow.queue ?? 'direct (no queue)')}
        {row('Version', workflow.appVersion)}
        {row('Executor', workflow.executorId)}
        {row('Parent', workflow.parentId ? <a href={view.href(`/workflows/${encodeURIComponent(workflow.parentId)}`)}>{workflow.parentId}</a> : null)}
        {row('Attributes', Object.keys(workflow.attributes).length > 0 ? <Attributes view={view} attributes={workflow.attributes} /> : null)}
        {row('Created', <Time at={workflow.createdAt} now={view.now} />)}
        {row('Started', <Time at={workflow.startedAt} now={view.now} />)}
        {row('Completed', <Time at={workflow.completedAt} now={view.now} />)}
        {row('Run time', runTime(workflow, view.now))}
        {row('Attempts', workflow.attempts)}
        {row('Recoveries', workflow.recoveries)}
      </dl>
    </section>
  );
}

/** Each attribute links to the list of workflows that carry it. */
function Attributes({ view, attributes }: { view: View; attributes: WorkflowInfo['attributes'] }) {
  return (
    <>
      {Object.entries(attributes).map(([key, value], i) => (
        <>
          {i > 0 ? ' ' : ''}
          <a href={view.href('/workflows', { [`attr.${key}`]: value })}>{`${key}=${value}`}</a>
        </>
      ))}
    </>
  );
}

function Payloads({ view, workflow }: { view: View; workflow: WorkflowInfo }) {
  if (!view.payloads.visible) {
    return <p class="muted">Input, output and error are shown to signed-in viewers and operators.</p>;
  }
  const raw = (field: string) => view.href(`/workflows/${encodeURIComponent(workflow.id)}/raw/${field}`);
  const shown = PAYLOAD_FIELDS.map((field) => [field, visiblePayload(workflow[field], { workflowId: workflow.id, field }, view.payloads)] as const);
  return (
    <div class="payloads" aria-describedby="payloads-legend">
      <p id="payloads-legend" class="legend">
        Values in their stored form, as the admin API and <code>ballast … --json</code> show them: JSON as itself, other types as{' '}
        <code>{'{"$": type, …}'}</code>.
      </p>
      {shown.map(([field, value]) => (value === undefined ? null : <JsonBlock label={capitalised(field)} value={stored(value)} rawHref={raw(field)} />))}
    </div>
  );
}

function capitalised(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** What a checkpoint is, in words: Ballast records its own operations under reserved names. */
export function describeStep(name: string): { label: string; kind: 'step' | 'sleep' | 'message' | 'event' | 'child' | 'record' } {
  const [op, arg = ''] = name.startsWith('ballast.') ? [name.slice(8, name.includes(':') ? name.indexOf(':') : undefined), name.slice(name.indexOf(':') + 1)] : [null, ''];
  switch (op) {
    case null:
      return { label: name, kind: 'step' };
    case 'sleep':
      return { label: 'sleep', kind: 'sleep' };
    case 'recv':
      return { label: `receive “${arg}”`, kind: 'message' };
    case 'recv-deadline':
      return { label: `receive “${arg}” deadline`, kind: 'record' };
    case 'send':
      return { label: `send “${arg}”`, kind: 'message' };
    case 'setEvent':
      return { label: `set event “${arg}”`, kind: 'event' };
    case 'start':
      return { label: `start child ${arg}`, kind: 'child' };
    case 'enqueue':
      return { label: `enqueue child ${arg}`, kind: 'child' };
    case 'patch':
      return { label: `patch ${arg}`, kind: 'record' };
    default:
      return { label: op, kind: 'record' };
  }
}

interface Span {
  from: number;
  to: number;
}

/** The time axis of a waterfall: from creation to completion (or now), children included. */
function axisOf(workflow: WorkflowInfo, steps: StepInfo[], now: number): Span {
  const from = workflow.createdAt.getTime();
  const ends = [workflow.completedAt?.getTime() ?? now, ...steps.map((step) => step.completedAt.getTime())];
  return { from, to: Math.max(from + 1, ...ends) };
}

/** A bar (or a mark, for an instant) on the axis, in an SVG 1000 units wide. */
function Bar({ axis, span, kind, failed, retried = false }: { axis: Span; span: Span; kind: string; failed: boolean; retried?: boolean }) {
  const scale = (t: number) => Math.max(0, Math.min(1000, ((t - axis.from) / (axis.to - axis.from)) * 1000));
  const x = scale(span.from);
  const width = Math.max(span.to > span.from ? 2 : 3, scale(span.to) - x);
  return (
    <svg class="bar" viewBox="0 0 1000 12" preserveAspectRatio="none" aria-hidden="true" focusable="false">
      <rect class="track" x="0" y="5" width="1000" height="2" />
      <rect
        class={`fill kind-${kind}${failed ? ' failed' : ''}${retried ? ' retried' : ''}${span.to > span.from ? '' : ' mark'}`}
        x={x.toFixed(1)}
        y="1"
        width={width.toFixed(1)}
        height="10"
      />
    </svg>
  );
}

function Waterfall({ view, loaded }: { view: View; loaded: Loaded }) {
  const { workflow, steps, children } = loaded;
  const axis = axisOf(workflow, steps, view.now);
  return (
    <section aria-labelledby="steps-title">
      <h2 id="steps-title">Steps</h2>
      <p class="legend">
        Bars run from a step's first attempt to its checkpoint (retries included, striped, with their count beside the
        outcome); marks are instants (messages sent, events set, clocks). The axis spans {formatDuration(axis.to - axis.from)} from creation.
      </p>
      <StepTable view={view} workflow={workflow} steps={steps} axis={axis} children={children} depth={0} />
    </section>
  );
}

function StepTable(props: { view: View; workflow: WorkflowInfo; steps: StepInfo[]; axis: Span; children: Loaded['children']; depth: number }) {
  const { workflow, steps, axis } = props;
  const queued = workflow.startedAt ? { from: workflow.createdAt.getTime(), to: workflow.startedAt.getTime() } : undefined;
  if (steps.length === 0 && !queued) return <Empty>No steps recorded yet.</Empty>;
  return (
    <table class="waterfall">
      <thead>
        <tr>
          <th scope="col" class="num">#</th>
          <th scope="col">Step</th>
          <th scope="col">At</th>
          <th scope="col">Took</th>
          <th scope="col">Outcome</th>
          <th scope="col" class="timeline">Timeline</th>
        </tr>
      </thead>
      <tbody>
        {queued ? (
          <tr class="queue-wait">
            <td class="num">—</td>
            <td>{workflow.queue ? `waiting in queue ${workflow.queue}` : 'waiting to start'}</td>
            <td>+0 ms</td>
            <td>{formatDuration(queued.to - queued.from)}</td>
            <td class="muted">queued</td>
            <td class="timeline">
              <Bar axis={axis} span={queued} kind="queue" failed={false} />
            </td>
          </tr>
        ) : null}
        {steps.map((step) => (
          <StepRow {...props} step={step} />
        ))}
      </tbody>
    </table>
  );
}

function StepRow(props: { view: View; workflow: WorkflowInfo; step: StepInfo; axis: Span; children: Loaded['children']; depth: number }) {
  const { view, workflow, step, axis } = props;
  const { label, kind } = describeStep(step.name);
  const end = step.completedAt.getTime();
  const span = { from: step.startedAt?.getTime() ?? end, to: end };
  const failed = step.error !== undefined;
  const child = step.childWorkflowId ? props.children.get(step.childWorkflowId) : undefined;
  const site = { workflowId: workflow.id, field: 'step' as const, step: step.index };
  const value = visiblePayload(failed ? step.error : step.output, site, view.payloads);
  return (
    <>
      <tr class={failed ? 'failed' : undefined}>
        <td class="num">{step.index}</td>
        <td>
          <span class={`kind kind-${kind}`}>{label}</span>
          {value === undefined ? null : (
            <details class="step-value">
              <summary>{failed ? 'error' : 'output'}</summary>
              <pre>
                <code>{JSON.stringify(stored(value), null, 2)?.slice(0, 4_000) ?? 'undefined'}</code>
              </pre>
            </details>
          )}
        </td>
        <td title={formatTime(span.from)}>+{formatDuration(span.from - axis.from)}</td>
        <td>{span.to > span.from ? formatDuration(span.to - span.from) : <span class="muted">instant</span>}</td>
        <td>
          {failed ? <span class="status status-error"><span aria-hidden="true">✕</span> failed</span> : <span class="muted">ok</span>}
          {step.attempts > 1 ? <span class="attempts"> after {step.attempts} attempts</span> : null}
        </td>
        <td class="timeline">
          <Bar axis={axis} span={span} kind={kind} failed={failed} retried={step.attempts > 1} />
        </td>
      </tr>
      {step.childWorkflowId ? (
        <tr class="child">
          <td></td>
          <td colspan={5}>
            <details open={props.depth === 0 && child !== undefined && child.steps.length <= 10}>
              <summary>
                child {step.childWorkflowId}{' '}
                {child ? (
                  <>
                    {child.workflow.name} <Status status={child.workflow.status} /> · {child.steps.length} steps
                  </>
                ) : null}
              </summary>
              <p class="legend">
                <a href={view.href(`/workflows/${encodeURIComponent(step.childWorkflowId)}`)}>Open child {step.childWorkflowId}</a>
              </p>
              {child && props.depth === 0 ? <StepTable view={view} workflow={child.workflow} steps={child.steps} axis={axis} children={new Map()} depth={1} /> : null}
            </details>
          </td>
        </tr>
      ) : null}
    </>
  );
}

function Reproduce({ view, workflow, origin }: { view: View; workflow: WorkflowInfo; origin: string }) {
  const api = `${origin}${view.settings.basePath}/api/workflows/${encodeURIComponent(workflow.id)}`;
  const token = view.settings.policy.signInEnabled ? ' -H "Authorization: Bearer $BALLAST_VIEWER_TOKEN"' : '';
  const quoted = `'${workflow.id.replace(/'/g, `'\\''`)}'`;
  const lines = [
    `curl${token} ${api}`,
    `curl${token} ${api}/steps`,
    `ballast workflows get ${quoted} --input`,
    `ballast workflows steps ${quoted}`,
  ];
  return (
    <section aria-labelledby="reproduce-title">
      <h2 id="reproduce-title">Reproduce</h2>
      <p class="legend">The same data from the admin API and the CLI:</p>
      <pre class="commands" tabindex={0}>
        <code>{lines.join('\n')}</code>
      </pre>
    </section>
  );
}

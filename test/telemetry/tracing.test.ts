// Tracing with a real OpenTelemetry SDK registered, as an application would: a span per workflow
// run and per step, with the workflow's ID, name, queue and attempt, and the producer's trace
// carried across the enqueue (through the row), so one trace spans producer and worker.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { context, propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Ballast } from '../../src/index.js';
import { capturingLogger } from '../support/backends.js';
import { testDatabase } from '../support/postgres.js';

const exporter = new InMemorySpanExporter();
let db: { url: string; close(): Promise<void> };
let app: Ballast;
let defs: { traced: ReturnType<Ballast['workflow']>; broken: ReturnType<Ballast['workflow']> };

before(async () => {
  const contextManager = new AsyncLocalStorageContextManager();
  contextManager.enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

  db = await testDatabase('tracing');
  app = new Ballast({ name: 'trace-app', databaseUrl: db.url, executorId: 'trace-executor', logger: capturingLogger() });
  app.queue('traced', { workerConcurrency: 2 });
  defs = {
    traced: app.workflow('traced', async (ctx, n: number) => {
      const doubled = await ctx.step('double', () => {
        // Spans the step's code makes are children of the step's span.
        trace.getTracer('app').startActiveSpan('inside-step', (span) => span.end());
        return n * 2;
      });
      return ctx.step('add', () => doubled + 1);
    }),
    broken: app.workflow('broken', async (ctx) => ctx.step('explode', () => {
      throw new Error('boom');
    })),
  };
  await app.launch();
});

after(async () => {
  await app.shutdown({ drainMs: 0 });
  await db.close();
  trace.disable();
  propagation.disable();
  context.disable();
});

const byName = (spans: ReadableSpan[], name: string) => spans.filter((span) => span.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

test('an enqueued workflow continues the producer\'s trace: run span, step spans, attributes', async () => {
  const producer = trace.getTracer('app');
  const { id, traceId, producerSpanId } = await producer.startActiveSpan('http POST /orders', async (span) => {
    const handle = await defs.traced.enqueue(20, { queue: 'traced' });
    span.end();
    return { id: handle.id, traceId: span.spanContext().traceId, producerSpanId: span.spanContext().spanId };
  });
  assert.equal(await app.result(id, { timeout: '10s' }), 41);

  const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
  const [run] = byName(spans, 'workflow traced');
  assert.ok(run, `a run span in the producer's trace; spans: ${spans.map((s) => s.name).join(', ')}`);
  assert.equal(parentOf(run), producerSpanId, 'the run is a child of the producer, across the queue');
  assert.deepEqual(
    { id: run.attributes['ballast.workflow.id'], name: run.attributes['ballast.workflow.name'], queue: run.attributes['ballast.queue'], attempt: run.attributes['ballast.workflow.attempt'] },
    { id, name: 'traced', queue: 'traced', attempt: 1 },
  );
  assert.equal(run.attributes['ballast.workflow.status'], 'SUCCESS');
  const steps = [...byName(spans, 'step double'), ...byName(spans, 'step add')];
  assert.equal(steps.length, 2);
  for (const step of steps) {
    assert.equal(parentOf(step), run.spanContext().spanId, `${step.name} is a child of the run`);
    assert.equal(step.attributes['ballast.workflow.id'], id);
  }
  const [inside] = byName(spans, 'inside-step');
  assert.equal(parentOf(inside as ReadableSpan), byName(spans, 'step double')[0]?.spanContext().spanId, "the step's own spans nest under it");
});

test('a directly started workflow is traced under its caller; a failing step marks its span and the run span', async () => {
  const { traceId, callerSpanId } = await trace.getTracer('app').startActiveSpan('job', async (span) => {
    const handle = await defs.broken.start(undefined);
    await handle.result().catch(() => undefined);
    span.end();
    return { traceId: span.spanContext().traceId, callerSpanId: span.spanContext().spanId };
  });
  const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
  const [run] = byName(spans, 'workflow broken');
  const [step] = byName(spans, 'step explode');
  assert.ok(run && step, spans.map((s) => s.name).join(', '));
  assert.equal(parentOf(run), callerSpanId);
  assert.equal(run.status.code, SpanStatusCode.ERROR);
  assert.equal(run.attributes['ballast.workflow.status'], 'ERROR');
  assert.equal(step.status.code, SpanStatusCode.ERROR);
  assert.equal(step.status.message, 'boom');
  assert.ok(step.events.some((event) => event.name === 'exception'), 'the exception is recorded on the step span');
});

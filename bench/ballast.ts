// The benchmark workloads on Ballast, run by bench/run.ts as a child process. The driver is shared
// with the DBOS peer (bench/lib/workloads.ts); this file only maps it onto Ballast's API.

import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Ballast } from '../src/index.js';
import { runChild } from './lib/child.js';
import { workflowStarted, type BenchSystem, type QueueSpec, type WorkflowRun } from './lib/workloads.js';

/** An OpenTelemetry SDK as an application registers it, exporting to nowhere: tracing's own cost. */
function registerTracing(): void {
  const discard: SpanExporter = { export: (_spans, done) => done({ code: ExportResultCode.SUCCESS }), shutdown: async () => undefined };
  const contextManager = new AsyncLocalStorageContextManager();
  contextManager.enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard)] }));
}

if (process.env.BALLAST_BENCH_TRACING === '1') registerTracing();

const quietLogger = {
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`[ballast] ${message}\n`),
  error: (message: string, error?: unknown) => process.stderr.write(`[ballast] ${message} ${String(error ?? '')}\n`),
};

function setUp(databaseUrl: string) {
  const ballast = new Ballast({ name: 'bench', databaseUrl, logger: quietLogger });
  const threeSteps = ballast.workflow('three-steps', async (ctx, i: number) => {
    workflowStarted(i);
    const a = await ctx.step('a', async () => i + 1);
    const b = await ctx.step('b', async () => a + 1);
    return ctx.step('c', async () => b + 1);
  });
  return { ballast, threeSteps };
}

let app: ReturnType<typeof setUp> | undefined;
let queue: ReturnType<Ballast['queue']> | undefined;

function launched(): ReturnType<typeof setUp> {
  if (!app) throw new Error('Ballast is not launched');
  return app;
}

const ballastSystem: BenchSystem = {
  name: 'ballast',

  async launch(databaseUrl: string, spec: QueueSpec | undefined) {
    app = setUp(databaseUrl);
    if (spec) {
      queue = app.ballast.queue(spec.name, {
        workerConcurrency: spec.workerConcurrency,
        ...(spec.held ? { rateLimit: { limit: 1, period: '1h' } } : {}),
      });
    }
    await app.ballast.launch();
    return undefined;
  },

  async start(i: number): Promise<WorkflowRun> {
    const handle = await launched().threeSteps.start(i);
    return { result: () => handle.result() };
  },

  async enqueue(i: number): Promise<WorkflowRun> {
    if (!queue) throw new Error('no queue launched for this workload');
    const handle = await launched().threeSteps.enqueue(i, { queue });
    return { result: () => handle.result() };
  },

  async shutdown() {
    await app?.ballast.shutdown();
  },
};

await runChild(ballastSystem);

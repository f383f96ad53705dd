// Tracing through @opentelemetry/api: a span per workflow run and per step. Without an
// OpenTelemetry SDK registered by the application, every call here is the API's no-op.
import {
  context,
  isSpanContextValid,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';

const tracer = trace.getTracer('ballast');

interface Carrier {
  traceparent?: string;
  tracestate?: string;
}

/**
 * Whether the application registered a tracer provider (an OpenTelemetry SDK): the global provider
 * is a proxy that has a delegate only then. Asked per run, so an SDK registered after Ballast was
 * loaded is seen.
 */
function tracerRegistered(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer('ballast') !== undefined;
}

/** The W3C trace context active now (the span of whatever starts or enqueues a workflow), or null. */
export function currentTraceContext(): string | null {
  if (!tracerRegistered()) return null;
  const carrier: Carrier = {};
  propagation.inject(context.active(), carrier);
  if (carrier.traceparent === undefined) return null;
  return carrier.tracestate === undefined ? carrier.traceparent : `${carrier.traceparent};${carrier.tracestate}`;
}

/** The context a recorded trace context stands for; the active one when none was recorded. */
function parentOf(recorded: string | null): Context {
  if (recorded === null) return context.active();
  const [traceparent, tracestate] = recorded.split(';', 2);
  return propagation.extract(ROOT_CONTEXT, tracestate === undefined ? { traceparent } : { traceparent, tracestate });
}

export interface RunSpanInfo {
  id: string;
  name: string;
  queue: string | null;
  attempt: number;
  traceContext: string | null;
}

/** A span and the context it is active in. */
export interface Traced {
  span: Span;
  context: Context;
}

/**
 * The span of a run, or undefined when nothing traces it: no SDK records it and no trace reaches it
 * (the API's no-op span, with no valid context to carry on). Steps of an untraced run then skip
 * span and context work altogether, which keeps the hot path free of it.
 */
export function startRunSpan(run: RunSpanInfo): Traced | undefined {
  if (!tracerRegistered()) return undefined;
  const parent = parentOf(run.traceContext);
  const span = tracer.startSpan(
    `workflow ${run.name}`,
    {
      attributes: {
        'ballast.workflow.id': run.id,
        'ballast.workflow.name': run.name,
        'ballast.workflow.attempt': run.attempt,
        ...(run.queue === null ? {} : { 'ballast.queue': run.queue }),
      },
    },
    parent,
  );
  if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return undefined;
  return { span, context: trace.setSpan(parent, span) };
}

export function startStepSpan(run: Traced, workflowId: string, stepName: string, attempt: number): Traced {
  const span = tracer.startSpan(
    `step ${stepName}`,
    { attributes: { 'ballast.workflow.id': workflowId, 'ballast.step.name': stepName, 'ballast.step.attempt': attempt } },
    run.context,
  );
  return { span, context: trace.setSpan(run.context, span) };
}

export function within<T>(traced: Traced, fn: () => T): T {
  return context.with(traced.context, fn);
}

/** Ends a span, marking it failed with the error when there is one. */
export function endSpan(span: Span, error: unknown, attributes: Record<string, string> = {}): void {
  span.setAttributes(attributes);
  if (error !== undefined) {
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
}

// Counters and histograms updated on the hot path (a step, a run, a flush), exposed through a
// prom-client registry. prom-client's own observe() validates and hashes the labels and allocates
// a closure on every call, even on a labelled child: a measurable share of a step's CPU at thousands
// of workflows a second. Here each label set gets its accumulator once; an update is an array
// increment, and the registry formats the values only when it is scraped.
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;

interface MetricValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

/** One label set of a LocalHistogram. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        return;
      }
    }
  }
}

/** One label set of a LocalCounter. */
export class CounterSeries {
  value = 0;

  constructor(readonly labels: Labels) {}

  inc(by = 1): void {
    this.value += by;
  }
}

/** The part of prom-client's metric interface a Registry reads (see Registry.registerMetric). */
abstract class LocalMetric<Series> {
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The accumulator of a label set, made on first use; keep it, and update it without labels. */
  labels(labels: Labels = {}): Series {
    const key = JSON.stringify(labels);
    let series = this.series.get(key);
    if (!series) {
      series = this.create(labels);
      this.series.set(key, series);
    }
    return series;
  }

  protected abstract create(labels: Labels): Series;
  protected abstract valuesOf(series: Series): MetricValue[];

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    const values = [...this.series.values()].flatMap((series) => this.valuesOf(series));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}

export class LocalCounter extends LocalMetric<CounterSeries> {
  constructor(name: string, help: string, registry: Registry) {
    super(name, help, 'counter', registry);
  }

  protected create(labels: Labels): CounterSeries {
    return new CounterSeries(labels);
  }

  protected valuesOf(series: CounterSeries): MetricValue[] {
    return [{ labels: series.labels, value: series.value }];
  }
}

export class LocalHistogram extends LocalMetric<HistogramSeries> {
  constructor(
    name: string,
    help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    super(name, help, 'histogram', registry);
  }

  protected create(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  protected valuesOf(series: HistogramSeries): MetricValue[] {
    const values: MetricValue[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += series.counts[i] as number;
      values.push({ labels: { ...series.labels, le: String(bound) }, value: cumulative, metricName: `${this.name}_bucket` });
    });
    values.push(
      { labels: { ...series.labels, le: '+Inf' }, value: series.count, metricName: `${this.name}_bucket` },
      { labels: series.labels, value: series.sum, metricName: `${this.name}_sum` },
      { labels: series.labels, value: series.count, metricName: `${this.name}_count` },
    );
    return values;
  }
}

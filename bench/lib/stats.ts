// Numbers and output: percentiles, peak RSS, and the JSON lines `npm run bench` prints.

export type SystemName = 'ballast' | 'dbos';

export const WORKLOADS = ['direct', 'queue', 'lone', 'batch-enqueue', 'enqueue-to-start'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

/** One measured workload of one system: one JSON line. */
export interface ResultLine {
  system: SystemName;
  workload: WorkloadName;
  workflows: number;
  seconds: number;
  workflowsPerSec: number;
  p50Ms: number | null;
  p99Ms: number | null;
  peakRssMb: number;
}

/** A workload a system could not run (for instance a feature not built yet). */
export interface SkippedLine {
  system: SystemName;
  workload: WorkloadName;
  skipped: string;
}

export type ChildReport = ResultLine | SkippedLine;

export function isSkipped(report: ChildReport): report is SkippedLine {
  return 'skipped' in report;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; null when there are none. */
export function percentile(samples: readonly number[], p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? null;
}

/** The process's resident-set high-water mark in MB (kernel-accounted, so short spikes count). */
export function peakRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1); // maxRSS is in KB
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Builds a result line from a timed run. `latenciesMs` may be empty when a workload measures none. */
export function resultLine(
  system: SystemName,
  workload: WorkloadName,
  workflows: number,
  elapsedMs: number,
  latenciesMs: readonly number[],
): ResultLine {
  const p50 = percentile(latenciesMs, 50);
  const p99 = percentile(latenciesMs, 99);
  return {
    system,
    workload,
    workflows,
    seconds: round(elapsedMs / 1000, 3),
    workflowsPerSec: round(workflows / (elapsedMs / 1000), 1),
    p50Ms: p50 === null ? null : round(p50, 2),
    p99Ms: p99 === null ? null : round(p99, 2),
    peakRssMb: peakRssMb(),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function medianOrNull(values: ReadonlyArray<number | null>): number | null {
  const present = values.filter((value): value is number => value !== null);
  return present.length === 0 ? null : round(median(present), 2);
}

/** Repeated runs of one system and workload summed up: the median of each number, the peak RSS's maximum. */
export interface SummaryLine extends ResultLine {
  summary: string;
}

export function summaryLine(runs: readonly ResultLine[]): SummaryLine {
  const first = runs[0];
  if (!first) throw new Error('summaryLine needs at least one run');
  return {
    system: first.system,
    workload: first.workload,
    summary: `median of ${runs.length} run${runs.length === 1 ? '' : 's'}`,
    workflows: median(runs.map((run) => run.workflows)),
    seconds: round(median(runs.map((run) => run.seconds)), 3),
    workflowsPerSec: round(median(runs.map((run) => run.workflowsPerSec)), 1),
    p50Ms: medianOrNull(runs.map((run) => run.p50Ms)),
    p99Ms: medianOrNull(runs.map((run) => run.p99Ms)),
    peakRssMb: Math.max(...runs.map((run) => run.peakRssMb)),
  };
}

/** Which number of a workload its ratio compares, and which direction is better. */
const RATIO_METRICS: Record<WorkloadName, ReadonlyArray<'workflowsPerSec' | 'p50Ms' | 'p99Ms'>> = {
  direct: ['workflowsPerSec'],
  queue: ['workflowsPerSec'],
  lone: ['p50Ms', 'p99Ms'],
  'batch-enqueue': ['workflowsPerSec'],
  'enqueue-to-start': ['p50Ms', 'p99Ms'],
};

export interface RatioLine {
  ratio: WorkloadName;
  metric: 'workflowsPerSec' | 'p50Ms' | 'p99Ms';
  better: 'higher' | 'lower';
  ballastOverDbos: number;
}

/** Ballast ÷ DBOS for every workload both systems measured. */
export function ratios(results: readonly ResultLine[]): RatioLine[] {
  const lines: RatioLine[] = [];
  for (const workload of WORKLOADS) {
    const b = results.find((r) => r.system === 'ballast' && r.workload === workload);
    const d = results.find((r) => r.system === 'dbos' && r.workload === workload);
    if (!b || !d) continue;
    for (const metric of RATIO_METRICS[workload]) {
      const bv = b[metric];
      const dv = d[metric];
      if (bv === null || dv === null || dv === 0) continue;
      lines.push({
        ratio: workload,
        metric,
        better: metric === 'workflowsPerSec' ? 'higher' : 'lower',
        ballastOverDbos: round(bv / dv, 3),
      });
    }
  }
  return lines;
}

export function printLine(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

// `npm run bench`: every selected workload on Ballast and on DBOS, on the same Postgres server, each
// run in its own child process against its own fresh database, one after another. The two systems
// take turns, run by run, so that a change in the machine's speed meets both alike. Prints JSON
// lines: the server first, then one line per run, then per system and workload the median of its
// runs, then the Ballast ÷ DBOS ratios of those medians. The `failover` workload (Ballast only, see
// bench/failover.ts) comes last: three worker processes, one SIGKILLed, and the time until its
// workflows have started again elsewhere, under the default lease or --lease.
//
// With --tracing, Ballast runs with an OpenTelemetry SDK registered (spans batched to an exporter
// that drops them): the cost of tracing a span per workflow and per step.
//
// The scale measurements (bench/scale.ts) run only when asked for, after everything else:
// `--workload scale` for all of them, or some by name (`--workload parked,sleepers,fairness`), with
// `--quick` for their smaller sizes, `--rows N` for history-size, `--queue-options JSON` for the one
// queue fairness runs Ballast with (without it: FIFO, then `fairness: 'partition'`).
//
//   npm run bench -- [--only ballast|dbos] [--workload direct,queue,...,failover,scale] [--workflows N] [--repeat N] [--lease MS] [--tracing]

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { WORKLOAD_ENTRIES, runScript, spawnChild } from './lib/child.js';
import { openServer } from './lib/postgres.js';
import {
  WORKLOADS,
  isSkipped,
  printLine,
  ratios,
  summaryLine,
  type ResultLine,
  type SystemName,
  type WorkloadName,
} from './lib/stats.js';
import { DEFAULT_WORKFLOWS } from './lib/workloads.js';
import type { FailoverLine } from './failover.js';
import { SCALE_NAMES, runScale, type ScaleOptions } from './scale.js';

const DBOS_DIR = fileURLToPath(new URL('./peers/dbos/', import.meta.url));
const FAILOVER_ENTRY = fileURLToPath(new URL('./failover.ts', import.meta.url));
/** The library's default lease: the fail-over a deployment that changes nothing gets. */
const DEFAULT_LEASE_MS = 10_000;
const FAILOVER_WORKFLOWS = 300;

interface Options {
  systems: SystemName[];
  workloads: WorkloadName[];
  failover: boolean;
  leaseMs: number;
  workflows: number | undefined;
  repeat: number;
  /** Scale measurements to run after the rest (bench/scale.ts); none by default. */
  scale: string[];
  scaleOptions: Omit<ScaleOptions, 'systems'>;
}

const USAGE =
  `npm run bench -- [--only ballast|dbos] [--workload ${WORKLOADS.join(',')},failover,scale] [--workflows N] [--repeat N] [--lease MS] [--tracing]` +
  ` [--quick] [--rows N] [--queue-options JSON]`;

/** Runs of each system and workload; the medians are compared. */
const DEFAULT_REPEAT = 3;

function parseArgs(argv: string[]): Options {
  const options: Options = {
    systems: ['ballast', 'dbos'],
    workloads: [...WORKLOADS],
    failover: true,
    leaseMs: DEFAULT_LEASE_MS,
    workflows: undefined,
    repeat: DEFAULT_REPEAT,
    scale: [],
    scaleOptions: { quick: false, rows: undefined, queueOptions: undefined },
  };
  for (let k = 0; k < argv.length; k++) {
    const [flag, inline] = (argv[k] ?? '').split('=', 2) as [string, string | undefined];
    const value = (): string => {
      const v = inline ?? argv[++k];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--only') {
      const v = value();
      if (v !== 'ballast' && v !== 'dbos') throw new Error(`--only takes ballast or dbos, not ${v}`);
      options.systems = [v];
    } else if (flag === '--workload' || flag === '--workloads') {
      const names = value()
        .split(',')
        .map((w) => w.trim())
        .filter(Boolean);
      options.failover = names.includes('failover');
      options.scale = names.includes('scale') ? [...SCALE_NAMES] : names.filter((w) => SCALE_NAMES.includes(w));
      options.workloads = names
        .filter((w) => w !== 'failover' && w !== 'scale' && !SCALE_NAMES.includes(w))
        .map((w) => {
          if (!(WORKLOADS as readonly string[]).includes(w)) {
            throw new Error(`unknown workload ${w}; known: ${WORKLOADS.join(', ')}, failover, scale (${SCALE_NAMES.join(', ')})`);
          }
          return w as WorkloadName;
        });
    } else if (flag === '--workflows') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error('--workflows takes a positive integer');
      options.workflows = n;
    } else if (flag === '--tracing') {
      // Read by bench/ballast.ts in each child (fork passes the environment on).
      process.env.BALLAST_BENCH_TRACING = '1';
    } else if (flag === '--lease') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 100) throw new Error('--lease takes a lease in milliseconds, at least 100');
      options.leaseMs = n;
    } else if (flag === '--repeat') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error('--repeat takes a positive integer');
      options.repeat = n;
    } else if (flag === '--quick') {
      options.scaleOptions.quick = true;
    } else if (flag === '--rows') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error('--rows takes a positive integer (finished workflows for history-size)');
      options.scaleOptions.rows = n;
    } else if (flag === '--queue-options') {
      const parsed: unknown = JSON.parse(value());
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('--queue-options takes a JSON object, e.g. \'{"fairness":"partition"}\'');
      options.scaleOptions.queueOptions = parsed as Record<string, unknown>;
    } else {
      throw new Error(`unknown flag ${flag}; usage: ${USAGE}`);
    }
  }
  return options;
}

/** The DBOS peer has its own lockfile and is installed on first use, never by the root package. */
function ensureDbosInstalled(): void {
  if (existsSync(new URL('./peers/dbos/node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url))) return;
  process.stderr.write('bench: installing the DBOS peer (npm ci --prefix bench/peers/dbos)\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const res = spawnSync(npm, ['ci', '--prefix', DBOS_DIR, '--no-audit', '--no-fund'], { stdio: ['ignore', 2, 2] });
  if (res.status !== 0) throw new Error('npm ci for bench/peers/dbos failed');
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (options.systems.includes('dbos')) ensureDbosInstalled();

  const server = await openServer();
  let failures = 0;
  try {
    const { version, synchronousCommit } = await server.info();
    printLine({
      tracing: process.env.BALLAST_BENCH_TRACING === '1',
      postgres: version,
      synchronousCommit,
      server: server.source,
      node: process.version,
      cpus: os.cpus().length,
    });

    const runs: ResultLine[] = [];
    for (const workload of options.workloads) {
      for (let run = 1; run <= options.repeat; run++) {
        for (const system of options.systems) {
          const databaseUrl = await server.createDatabase(`bench_${system}_${workload}`);
          try {
            const workflows = options.workflows ?? DEFAULT_WORKFLOWS[workload];
            const report = await spawnChild(WORKLOAD_ENTRIES[system], system, { workload, workflows, databaseUrl });
            printLine({ ...report, run });
            if (!isSkipped(report)) runs.push(report);
          } catch (err) {
            failures++;
            printLine({ system, workload, run, error: err instanceof Error ? err.message : String(err) });
          } finally {
            await server.dropDatabase(databaseUrl);
          }
        }
      }
    }
    const summaries = options.workloads.flatMap((workload) =>
      options.systems.flatMap((system) => {
        const measured = runs.filter((line) => line.system === system && line.workload === workload);
        return measured.length === 0 ? [] : [summaryLine(measured)];
      }),
    );
    for (const line of summaries) printLine(line);
    for (const line of ratios(summaries)) printLine(line);
    if (options.failover) failures += await benchFailover(server, options);
    if (options.scale.length > 0) failures += await runScale(options.scale, server, { ...options.scaleOptions, systems: options.systems }, printLine);
  } finally {
    await server.stop();
  }
  return failures === 0 ? 0 : 1;
}

/** The fail-over workload: Ballast's runs and their median; DBOS is reported as skipped. */
async function benchFailover(server: Awaited<ReturnType<typeof openServer>>, options: Options): Promise<number> {
  if (options.systems.includes('dbos')) {
    printLine({
      system: 'dbos',
      workload: 'failover',
      skipped: 'DBOS Transact recovers a dead executor\'s workflows only through Conductor (commercial) or a restart under the same executor ID',
    });
  }
  if (!options.systems.includes('ballast')) return 0;
  const lines: FailoverLine[] = [];
  let failures = 0;
  for (let run = 1; run <= options.repeat; run++) {
    const databaseUrl = await server.createDatabase('bench_ballast_failover');
    try {
      const config = { databaseUrl, leaseMs: options.leaseMs, workflows: options.workflows ?? FAILOVER_WORKFLOWS };
      const line = await runFailover(config);
      printLine({ ...line, run });
      lines.push(line);
    } catch (err) {
      failures++;
      printLine({ system: 'ballast', workload: 'failover', run, error: err instanceof Error ? err.message : String(err) });
    } finally {
      await server.dropDatabase(databaseUrl);
    }
  }
  if (lines.length > 0) {
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
    printLine({
      system: 'ballast',
      workload: 'failover',
      summary: `median of ${lines.length} run${lines.length === 1 ? '' : 's'}`,
      leaseMs: options.leaseMs,
      lastRestartMs: median(lines.map((line) => line.lastRestartMs)),
      lastRestartOverLeaseMs: median(lines.map((line) => line.lastRestartMs - line.leaseMs)),
    });
  }
  return failures;
}

function runFailover(config: object): Promise<FailoverLine> {
  return runScript(FAILOVER_ENTRY, [JSON.stringify(config)]) as Promise<FailoverLine>;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);

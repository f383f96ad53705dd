// The chaos schedule: from a seed, a random sequence of faults every 3–10 s against a fleet of
// worker processes under steady load from a producer, then the invariants. The same seed replays
// the same sequence of faults (BALLAST_CHAOS_SEED); what the processes do in between is real
// timing, so a failure replays its faults, not every instruction.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosFleet, type ChaosWorker } from './chaos-fleet.js';
import { checkInvariants, type ChaosSummary } from './invariants.js';

export const FAULT_KINDS = [
  'postgres-restart',
  'kill',
  'pause-past-lease',
  'terminate',
  'freeze-one-past-lease',
  'reset-one',
  'freeze-fleet-past-lease',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ChaosOptions {
  name: string;
  seed: number;
  /** How long faults are injected. */
  durationMs: number;
  leaseMs: number;
  workers: number;
  /** Orders per second from the producer. */
  rate: number;
  /** Told each fault as it is injected (a test's diagnostics). */
  log?: (line: string) => void;
}

export interface InjectedFault {
  kind: FaultKind;
  worker?: string;
  at: number;
  /** When the fault was over: thawed, resumed, replaced, restarted. */
  endedAt: number;
}

export interface ChaosOutcome extends ChaosSummary {
  seed: number;
  faults: Record<FaultKind, number>;
  /** From the end of the last fault until nothing was waiting or running. */
  drainedAfterLastFaultMs: number;
  timeline: InjectedFault[];
}

/** mulberry32: a small, well-mixed generator whose whole state is the seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function chaosSeed(): number {
  const given = process.env.BALLAST_CHAOS_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`BALLAST_CHAOS_SEED must be a non-negative integer, got ${given}`);
    return seed;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

export async function runChaos(options: ChaosOptions): Promise<ChaosOutcome> {
  const log = options.log ?? (() => undefined);
  const random = seededRandom(options.seed);
  const between = (low: number, high: number) => low + Math.floor(random() * (high - low));
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T;
  const pastLease = () => options.leaseMs + between(1_000, 3_000);

  const fleet = await ChaosFleet.open({ name: options.name, leaseMs: options.leaseMs });
  try {
    for (let i = 0; i < options.workers; i++) await fleet.spawn();
    const window = fleet.sampler.open();
    fleet.startProducer(options.rate);
    const timeline: InjectedFault[] = [];

    const inject = async (kind: FaultKind): Promise<string | undefined> => {
      const target = (): ChaosWorker => pick(fleet.running());
      switch (kind) {
        case 'postgres-restart':
          await fleet.server.restart('immediate');
          return undefined;
        case 'kill': {
          const worker = target();
          await fleet.kill(worker);
          await fleet.spawn();
          return worker.id;
        }
        case 'terminate': {
          const worker = target();
          await fleet.stop(worker);
          await fleet.spawn();
          return worker.id;
        }
        case 'pause-past-lease': {
          const worker = target();
          fleet.pause(worker);
          await sleep(pastLease());
          fleet.resume(worker);
          return worker.id;
        }
        case 'freeze-one-past-lease': {
          const worker = target();
          worker.proxy.freeze();
          await sleep(pastLease());
          worker.proxy.thaw();
          return worker.id;
        }
        case 'reset-one': {
          const worker = target();
          worker.proxy.reset();
          return worker.id;
        }
        case 'freeze-fleet-past-lease': {
          const frozen = fleet.present();
          for (const worker of frozen) worker.proxy.freeze();
          await sleep(pastLease());
          for (const worker of frozen) worker.proxy.thaw();
          return undefined;
        }
      }
    };

    const started = Date.now();
    await sleep(between(1_000, 3_000));
    while (Date.now() - started < options.durationMs) {
      const kind = pick([...FAULT_KINDS]);
      const at = Date.now();
      const worker = await inject(kind);
      const fault = { kind, worker, at, endedAt: Date.now() };
      timeline.push(fault);
      log(`+${((at - started) / 1_000).toFixed(1)} s ${kind}${worker ? ` ${worker}` : ''} (${fault.endedAt - at} ms)`);
      const next = at + between(3_000, 10_000);
      if (Date.now() < next) await sleep(next - Date.now());
    }

    const lastFaultEnd = Math.max(...timeline.map((fault) => fault.endedAt));
    let summary: ChaosSummary;
    let drainedAt: number;
    try {
      const orders = await fleet.stopProducer();
      drainedAt = await fleet.drained(2 * orders, 120_000);
      await fleet.stopAll();
      summary = checkInvariants(await fleet.report(), orders, fleet.sampler.close(window));
    } catch (error) {
      // Everything needed to replay and read the run.
      const faults = timeline.map((fault) => `  +${((fault.at - started) / 1_000).toFixed(1)} s ${fault.kind} ${fault.worker ?? ''}`).join('\n');
      throw new Error(`chaos run with seed ${options.seed} failed (replay: BALLAST_CHAOS_SEED=${options.seed}); faults:\n${faults}\n${(error as Error).message}`, { cause: error });
    }
    const faults = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, timeline.filter((fault) => fault.kind === kind).length])) as Record<FaultKind, number>;
    return { seed: options.seed, ...summary, faults, drainedAfterLastFaultMs: drainedAt - lastFaultEnd, timeline };
  } finally {
    await fleet.close();
  }
}

/**
 * The chaos test itself, short or soak: three workers, 15 orders a second, lease 2 s, faults for
 * `durationMs`; the seed comes first (on stderr too, so a run cut short still shows it).
 */
export async function chaosTest(t: TestContext, name: string, durationMs: number): Promise<void> {
  const leaseMs = 2_000;
  const seed = chaosSeed();
  process.stderr.write(`${name}: seed ${seed} (replay with BALLAST_CHAOS_SEED=${seed})\n`);
  t.diagnostic(`seed ${seed} (replay with BALLAST_CHAOS_SEED=${seed})`);
  const outcome = await runChaos({ name, seed, durationMs, leaseMs, workers: 3, rate: 15, log: (line) => t.diagnostic(line) });
  const { timeline, ...summary } = outcome;
  t.diagnostic(JSON.stringify(summary));
  const least = Math.floor(durationMs / 10_000);
  assert.ok(timeline.length >= least, `at least ${least} faults (${timeline.length})`);
  assert.ok(outcome.drainedAfterLastFaultMs <= leaseMs + 10_000, `drained ${outcome.drainedAfterLastFaultMs} ms after the last fault`);
}

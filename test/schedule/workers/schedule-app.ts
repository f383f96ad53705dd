// What the schedule acceptance test and its worker processes share.
export const APP_NAME = 'schedule-app';
/** Declared by every worker, each every second: started directly, enqueued, and started directly with backfill. */
export const SCHEDULES = ['catch-up', 'direct', 'queued'] as const;
export const EVERY_SECOND = '* * * * * *';

export interface RunLine {
  workflowId: string;
  executor: string;
  at: number;
}

/** The lines pulse's step appends: `<workflowId> <executorId> <epoch ms>`. */
export function parseRunLines(text: string): RunLine[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [workflowId, executor, at] = line.split(' ');
      if (workflowId === undefined || executor === undefined || at === undefined) throw new Error(`bad run line ${JSON.stringify(line)}`);
      return { workflowId, executor, at: Number(at) };
    });
}

// The life of a worker process in multi-process tests: launch, print `ready <executorId>` (after
// `afterLaunch`, if given), and on SIGTERM shut down with `drainMs`, print `stopped` and exit 0. A
// failed launch or shutdown exits 1 with the stack on stderr. Nothing else is caught: a fault that
// would crash a user's service crashes the worker, and the test sees it.
import type { Ballast } from '../../src/index.js';

export function runWorker(ballast: Ballast, options: { drainMs: number; afterLaunch?: () => Promise<void> }): void {
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    ballast.shutdown({ drainMs: options.drainMs }).then(
      () => {
        process.stdout.write('stopped\n');
        process.exit(0);
      },
      (error: Error) => {
        process.stderr.write(`[error] shutdown: ${error.stack}\n`);
        process.exit(1);
      },
    );
  });
  ballast
    .launch()
    .then(() => options.afterLaunch?.())
    .then(
      () => process.stdout.write(`ready ${ballast.executorId}\n`),
      (error: Error) => {
        process.stderr.write(`[error] worker failed: ${error.stack}\n`);
        process.exit(1);
      },
    );
}

/** A variable the test sets for its worker; a worker started without it fails at once. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Runs a worker script's `main`; a failure exits 1 with the stack on stderr, for the test to show. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(`[fatal] ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}

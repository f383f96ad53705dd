import { UnknownDataSourceError } from '../errors.js';
import type { BeginOptions, Driver, Transaction } from './driver.js';
import { PgDriver } from './pg-driver.js';
import { withRetry } from './retry.js';
import { quoteIdent } from './sql/identifiers.js';
import * as transactions from './sql/transactions.js';

export interface DataSourceOptions {
  /** Postgres URL of the application database. */
  databaseUrl: string;
  /** Connections in this data source's pool (default 10). */
  poolSize?: number;
}

export interface DataSourceSettings {
  /** The schema of the completions table in each data source (the system schema's name). */
  schema: string;
  applicationName: string;
  statementTimeoutMs: number;
  logger: { warn(message: string): void };
  isClosed(): boolean;
}

/** The run of a transaction at one position of one workflow. */
export interface CompletionKey {
  workflowId: string;
  idx: number;
}

/** What a transaction on a data source found: it ran and committed now, or an earlier run had. */
export type DataSourceOutcome<T> = { ran: true; value: T; output: string } | { ran: false; output: string };

class AlreadyCompleted extends Error {}

/**
 * The application databases that `ctx.transaction(…, { dataSource })` writes to: one pool each,
 * opened at launch, where each such transaction records its completion in the same commit as its
 * writes (see sql/transactions.ts), so that a replay after a crash finds it instead of running it
 * again.
 */
export class DataSources {
  private readonly declared = new Map<string, DataSourceOptions>();
  private readonly drivers = new Map<string, Driver>();
  private s = '';

  declare(name: string, options: DataSourceOptions): void {
    this.declared.set(name, options);
  }

  has(name: string): boolean {
    return this.declared.has(name);
  }

  /** Throws UnknownDataSourceError for a name that was not declared. */
  require(name: string): void {
    if (!this.declared.has(name)) throw new UnknownDataSourceError(name, [...this.declared.keys()]);
  }

  /** Connects to every declared data source and creates its completions table where missing. */
  async open(settings: DataSourceSettings): Promise<void> {
    this.s = quoteIdent(settings.schema);
    for (const [name, options] of this.declared) {
      const driver = new PgDriver({
        connectionString: options.databaseUrl,
        poolSize: options.poolSize ?? 10,
        applicationName: `${settings.applicationName}:${name}`.slice(0, 63),
        statementTimeoutMs: settings.statementTimeoutMs,
        logger: settings.logger,
      });
      this.drivers.set(name, driver);
      await withRetry(() => this.createTable(driver, settings.schema), { shouldStop: settings.isClosed });
    }
  }

  private async createTable(driver: Driver, schema: string): Promise<void> {
    if (await transactions.completionsTableExists(driver, this.s)) return;
    // Replicas launching at once create it once: the others wait on the lock, then find it there.
    await driver.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`ballast:completions:${schema}`]);
      await tx.exec(transactions.createCompletionsTable(this.s));
    });
  }

  /**
   * Runs `work` in one transaction of the data source that first claims the completion of `key`
   * and then records `work`'s output, so both commit with `work`'s writes or neither does. A
   * read-only transaction records nothing (it has no writes to keep from happening twice).
   */
  async run<T>(
    name: string,
    key: CompletionKey,
    begin: BeginOptions,
    work: (tx: Transaction) => Promise<{ value: T; output: string }>,
  ): Promise<DataSourceOutcome<T>> {
    const driver = this.driver(name);
    try {
      return await driver.transaction(async (tx) => {
        if (!begin.readOnly && !(await transactions.claimCompletion(tx, this.s, key.workflowId, key.idx, Date.now()))) throw new AlreadyCompleted();
        const { value, output } = await work(tx);
        if (!begin.readOnly) await transactions.recordCompletion(tx, this.s, key.workflowId, key.idx, output, Date.now());
        return { ran: true as const, value, output };
      }, begin);
    } catch (error) {
      if (!(error instanceof AlreadyCompleted)) throw error;
      const output = await this.recorded(name, key);
      if (output === undefined) throw new Error(`the completion of ${key.workflowId} #${key.idx} vanished while it was read`);
      return { ran: false, output };
    }
  }

  /** The output a committed transaction recorded at `key`, if one did. */
  recorded(name: string, key: CompletionKey): Promise<string | undefined> {
    return transactions.readCompletion(this.driver(name), this.s, key.workflowId, key.idx);
  }

  private driver(name: string): Driver {
    const driver = this.drivers.get(name);
    if (!driver) throw new UnknownDataSourceError(name, [...this.declared.keys()]);
    return driver;
  }

  async close(): Promise<void> {
    await Promise.all([...this.drivers.values()].map((driver) => driver.close()));
    this.drivers.clear();
  }
}

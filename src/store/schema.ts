/**
 * Versioned migrations of the system schema. Append only: a released migration never changes.
 * Times are bigint epoch milliseconds. One row of `workflows` is a workflow and its queue entry.
 * Identifiers (IDs, names, keys) are opaque strings compared byte-wise (COLLATE "C"): cheaper on
 * every index probe than a locale's collation, and no locale can make two IDs compare equal.
 */
export interface Migration {
  version: number;
  name: string;
  /** DDL applied in the migration's transaction (tables, columns, indexes of small tables). */
  sql(schema: string): string;
  /**
   * Indexes on tables that may be large and written by a live fleet: built after the transaction
   * commits, with CREATE INDEX CONCURRENTLY, so writers never wait for the build (see migrate.ts).
   * The code must stay correct, if slower, while such an index does not exist yet.
   */
  indexes?: OnlineIndex[];
}

/** A non-unique index built online: `CREATE INDEX CONCURRENTLY <name> ON <on(schema)>`. */
export interface OnlineIndex {
  name: string;
  on(schema: string): string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'workflows, steps, messages, events, executors, versions, queues',
    sql: (s) => `
      CREATE TABLE ${s}.workflows (
        id text COLLATE "C" PRIMARY KEY,
        -- arrival order: ties in created_at (same millisecond, batch enqueues) keep FIFO exact
        seq bigint GENERATED ALWAYS AS IDENTITY,
        name text COLLATE "C" NOT NULL,
        status text COLLATE "C" NOT NULL CHECK (status IN ('ENQUEUED','DELAYED','PENDING','SUCCESS','ERROR','CANCELLED','DEAD_LETTER')),
        app_name text COLLATE "C" NOT NULL,
        app_version text COLLATE "C" NOT NULL,
        queue text COLLATE "C",
        partition_key text COLLATE "C",
        dedup_id text COLLATE "C",
        priority integer NOT NULL DEFAULT 0,
        owner text COLLATE "C",
        epoch integer NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0,
        parent_id text COLLATE "C",
        input text,
        output text,
        error text,
        timeout_ms bigint,
        deadline_at bigint,
        available_at bigint,
        created_at bigint NOT NULL,
        started_at bigint,
        completed_at bigint,
        updated_at bigint NOT NULL
      );
      -- recovery: this executor's running workflows
      CREATE INDEX workflows_owner_pending ON ${s}.workflows (owner) WHERE status = 'PENDING';
      -- dispatch: next claimable entries of a queue for one application version, in priority then arrival order
      CREATE INDEX workflows_queue_ready ON ${s}.workflows (queue, app_version, priority, seq) WHERE status = 'ENQUEUED';
      -- queue depth and running counts (KEDA polls these)
      CREATE INDEX workflows_queue_active ON ${s}.workflows (queue, status, app_version, created_at)
        WHERE status IN ('ENQUEUED', 'PENDING', 'DELAYED') AND queue IS NOT NULL;
      CREATE INDEX workflows_delayed ON ${s}.workflows (queue, available_at) WHERE status = 'DELAYED';
      -- retention: oldest finished workflows first
      CREATE INDEX workflows_finished ON ${s}.workflows (completed_at)
        WHERE status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER');
      CREATE UNIQUE INDEX workflows_dedup ON ${s}.workflows (queue, dedup_id)
        WHERE dedup_id IS NOT NULL AND status IN ('ENQUEUED', 'PENDING', 'DELAYED');
      CREATE INDEX workflows_created ON ${s}.workflows (created_at);
      CREATE INDEX workflows_parent ON ${s}.workflows (parent_id) WHERE parent_id IS NOT NULL;

      CREATE TABLE ${s}.steps (
        workflow_id text COLLATE "C" NOT NULL,
        idx integer NOT NULL,
        name text COLLATE "C" NOT NULL,
        output text,
        error text,
        child_id text,
        started_at bigint,
        completed_at bigint NOT NULL,
        PRIMARY KEY (workflow_id, idx)
      );

      -- Consumed messages are kept (consumed_at set) until their workflow is pruned, so that an
      -- idempotency key keeps deduplicating after the message was received.
      CREATE TABLE ${s}.messages (
        id bigserial PRIMARY KEY,
        destination_id text COLLATE "C" NOT NULL,
        topic text COLLATE "C" NOT NULL,
        payload text NOT NULL,
        idempotency_key text COLLATE "C",
        created_at bigint NOT NULL,
        consumed_at bigint,
        UNIQUE (destination_id, idempotency_key)
      );
      CREATE INDEX messages_unconsumed ON ${s}.messages (destination_id, topic, id) WHERE consumed_at IS NULL;

      CREATE TABLE ${s}.events (
        workflow_id text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        value text NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (workflow_id, key)
      );

      CREATE TABLE ${s}.executors (
        id text COLLATE "C" PRIMARY KEY,
        app_name text COLLATE "C" NOT NULL,
        app_version text COLLATE "C" NOT NULL,
        hostname text COLLATE "C",
        pid integer,
        started_at bigint NOT NULL,
        heartbeat_at bigint NOT NULL,
        lease_expires_at bigint NOT NULL
      );

      CREATE TABLE ${s}.app_versions (
        app_name text COLLATE "C" NOT NULL,
        version text COLLATE "C" NOT NULL,
        first_seen_at bigint NOT NULL,
        last_seen_at bigint NOT NULL,
        PRIMARY KEY (app_name, version)
      );

      -- Starts of rate-limited queues within their current window (older rows are pruned by claims).
      CREATE TABLE ${s}.queue_starts (
        queue text COLLATE "C" NOT NULL,
        started_at bigint NOT NULL
      );
      CREATE INDEX queue_starts_window ON ${s}.queue_starts (queue, started_at);

      CREATE TABLE ${s}.queues (
        name text COLLATE "C" PRIMARY KEY,
        concurrency integer,
        worker_concurrency integer,
        rate_limit integer,
        rate_period_ms bigint,
        partition_concurrency integer,
        updated_at bigint NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'indexes a workflow enters once per state: waiting, running, finished',
    // Every index on workflows costs an entry for each row version that matches it: an enqueue, a
    // claim and a completion each write one to every such index. An index of all rows by creation
    // time (three entries per queued workflow) and one of all active rows (two) are replaced by
    // indexes that a row enters in one state only: waiting rows are already in the ready and
    // delayed indexes, running rows now in one index by queue and owner, finished ones in one by
    // creation time (see docs/schema.md).
    sql: (s) => `
      DROP INDEX ${s}.workflows_created;
      DROP INDEX ${s}.workflows_finished;
      DROP INDEX ${s}.workflows_queue_active;
      DROP INDEX ${s}.workflows_owner_pending;
      -- running workflows: per queue (depth, fleet-wide limits, partitions), per owner (recovery)
      CREATE INDEX workflows_pending ON ${s}.workflows (queue, owner) WHERE status = 'PENDING';
      -- retention (oldest first) and listing of finished workflows, by creation time
      CREATE INDEX workflows_finished_created ON ${s}.workflows (created_at)
        WHERE status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER');
    `,
  },
  {
    version: 3,
    name: 'fleet: executor leases the fleet acts on, recoveries counted per workflow',
    // Adding columns with constant defaults rewrites nothing (Postgres 11+). An executor whose lease
    // expired and whose workflows were handed back is marked recovered; only unrecovered leases are
    // indexed, so the fleet's check for dead executors reads a handful of index entries however many
    // pods a year of rollouts has registered. Orphaned direct workflows (PENDING, no owner) are
    // found through workflows_pending (queue NULL, owner NULL): no new index on workflows.
    sql: (s) => `
      ALTER TABLE ${s}.executors
        ADD COLUMN queues text[] NOT NULL DEFAULT '{}',
        ADD COLUMN running integer NOT NULL DEFAULT 0,
        ADD COLUMN recovered_at bigint;
      CREATE INDEX executors_unrecovered ON ${s}.executors (app_name, lease_expires_at) WHERE recovered_at IS NULL;
      ALTER TABLE ${s}.workflows ADD COLUMN recoveries integer NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 4,
    name: 'schedules',
    // One row per schedule an application declares, written at launch so that clients, the CLI and
    // other replicas see it. The paused flag and the last tick belong to the row and outlive
    // deploys; app_version is the version whose executors fire it (see docs/schedules.md).
    sql: (s) => `
      CREATE TABLE ${s}.schedules (
        app_name text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        cron text NOT NULL,
        timezone text NOT NULL,
        workflow_name text COLLATE "C" NOT NULL,
        queue text COLLATE "C",
        backfill boolean NOT NULL,
        paused boolean NOT NULL DEFAULT false,
        app_version text COLLATE "C" NOT NULL,
        declared boolean NOT NULL DEFAULT true,
        declared_at bigint NOT NULL,
        resumed_at bigint,
        last_tick_at bigint,
        last_workflow_id text COLLATE "C",
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (app_name, name)
      );
    `,
  },
  {
    version: 5,
    name: 'trace context of each workflow',
    // The W3C traceparent a workflow was started or enqueued under, so that the span of its run, on
    // whichever executor, continues the producer's trace. Null when no tracing is set up.
    sql: (s) => `ALTER TABLE ${s}.workflows ADD COLUMN trace_context text;`,
  },
  {
    version: 6,
    name: 'history for the dashboard (per minute and per hour), failed workflows by creation time',
    // The dashboard's charts read these, never the workflows table. Executors count runs in memory
    // and add them once a minute (one upsert per executor per minute) to a row of that minute and
    // one of its hour: short windows read minutes, long ones hours, so a week is 168 rows per key.
    // Durations are counted in a fixed set of buckets (ROLLUP_BUCKETS_MS) so that percentiles over
    // any window are exact to the bucket. Queue depth is sampled once a minute (every executor
    // writes the same fleet-wide numbers; the last one wins). All are pruned by age. Failed and
    // dead-lettered workflows are rare next to the history, so an index of them alone costs nothing
    // on the hot path and lets the list find them without walking every finished workflow.
    sql: (s) => `
      CREATE TABLE ${s}.workflow_rollups (
        period_ms integer NOT NULL CHECK (period_ms IN (60000, 3600000)),
        period_start bigint NOT NULL,
        app_name text COLLATE "C" NOT NULL,
        queue text COLLATE "C" NOT NULL,
        workflow_name text COLLATE "C" NOT NULL,
        app_version text COLLATE "C" NOT NULL,
        outcome text COLLATE "C" NOT NULL CHECK (outcome IN ('STARTED', 'SUCCESS', 'ERROR', 'CANCELLED')),
        n integer NOT NULL,
        duration_ms_sum bigint NOT NULL,
        buckets integer[],
        PRIMARY KEY (period_ms, period_start, app_name, queue, workflow_name, app_version, outcome)
      );
      CREATE TABLE ${s}.queue_depth_samples (
        queue text COLLATE "C" NOT NULL,
        minute bigint NOT NULL,
        app_version text COLLATE "C" NOT NULL,
        status text COLLATE "C" NOT NULL,
        n integer NOT NULL,
        PRIMARY KEY (queue, minute, app_version, status)
      );
      CREATE INDEX workflows_failed_created ON ${s}.workflows (created_at) WHERE status IN ('ERROR', 'DEAD_LETTER');
    `,
  },
  {
    version: 7,
    name: 'executors: when the current unbroken lease began',
    // Set at registration and by a renewal that finds the lease already expired (the executor was
    // cut off or paused past it). An executor judges others dead only once its own lease has been
    // unbroken for a while, checked in the takeover's own statement (see sql/takeover.ts): after a
    // partition of the whole fleet, the first to reconnect must not take over the rest.
    sql: (s) => `
      ALTER TABLE ${s}.executors ADD COLUMN lease_started_at bigint;
      UPDATE ${s}.executors SET lease_started_at = heartbeat_at;
      ALTER TABLE ${s}.executors ALTER COLUMN lease_started_at SET NOT NULL;
    `,
  },
  {
    version: 8,
    name: 'steps: how many attempts a step took',
    // NULL for one attempt (nearly every step): a checkpoint carries the count only after retries.
    sql: (s) => `ALTER TABLE ${s}.steps ADD COLUMN attempts integer;`,
  },
  {
    version: 9,
    name: 'streams: ordered values a workflow writes, read while it runs',
    // One row per position of a workflow's stream; a NULL value marks where closeStream ended it.
    // A position is written once (the primary key): a replay writing it again changes nothing.
    // Rows go with their workflow (retention and delete), like steps and events.
    sql: (s) => `
      CREATE TABLE ${s}.streams (
        workflow_id text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        position integer NOT NULL,
        value text,
        written_at bigint NOT NULL,
        PRIMARY KEY (workflow_id, key, position)
      );
    `,
  },
  {
    version: 10,
    name: 'workflow attributes, debounced workflows',
    // Attributes are NULL for a workflow without any, which then enters no attribute index entry: a
    // start pays nothing for the feature it does not use. jsonb_path_ops indexes each key/value pair,
    // which is what a containment filter (attributes @> '{"tenant":"acme"}') looks up.
    // A debounced workflow waits as a DELAYED row that each call for its key replaces; the unique
    // index over those rows alone is what makes every call for one key, from any process, land on
    // the same row (see docs/decisions/0009-debounce-on-a-delayed-row.md).
    sql: (s) => `
      ALTER TABLE ${s}.workflows ADD COLUMN attributes jsonb;
      ALTER TABLE ${s}.workflows ADD COLUMN debounce_key text COLLATE "C";
      CREATE INDEX workflows_attributes ON ${s}.workflows USING gin (attributes jsonb_path_ops) WHERE attributes IS NOT NULL;
      CREATE UNIQUE INDEX workflows_debounce ON ${s}.workflows (app_name, name, debounce_key)
        WHERE status = 'DELAYED' AND debounce_key IS NOT NULL;
    `,
  },
  {
    version: 11,
    name: 'parked workflows',
    // A workflow that waits long is parked: unloaded from memory, its row PENDING under the owner
    // PARKED_OWNER (see sql/parking.ts) with the time it wakes by itself (wake_at, NULL: none) and the
    // topic of a recv it waits on. Parked rows stay out of the orphans' range of workflows_pending
    // (owner NULL), and the index below holds them alone, so finding the due ones reads only those.
    // The index is built online: wake-up claims read it for speed only.
    sql: (s) => `
      ALTER TABLE ${s}.workflows ADD COLUMN wake_at bigint, ADD COLUMN wake_topic text COLLATE "C";
    `,
    indexes: [
      {
        name: 'workflows_parked',
        on: (s) => `${s}.workflows (app_name, app_version, wake_at) WHERE status = 'PENDING' AND owner = 'ballast:parked'`,
      },
    ],
  },
  {
    version: 12,
    name: 'fair queues: partition keys with waiting work, weights and a round-robin cursor',
    // A claim of a partitioned queue walks the keys that have waiting work, one index probe each, and
    // takes the head of each key (see claimStatement): it never reads a key's backlog beyond what it
    // may start. Only rows with a partition key enter the index, so unpartitioned queues (nearly
    // every enqueue) pay nothing for it. fair_cursor is the key a fair queue's last claim served
    // last, and fair_turns how many turns it has had in a row: the next claim breaks ties from there
    // (see docs/decisions/0012-fair-queues.md).
    // The index is built online: a claim reads it for speed only and plans correctly without it.
    sql: (s) => `
      ALTER TABLE ${s}.queues ADD COLUMN fairness text, ADD COLUMN partition_weights jsonb,
        ADD COLUMN fair_cursor text COLLATE "C", ADD COLUMN fair_turns integer;
    `,
    indexes: [
      {
        name: 'workflows_partition_ready',
        on: (s) => `${s}.workflows (queue, app_version, partition_key, priority, seq) WHERE status = 'ENQUEUED' AND partition_key IS NOT NULL`,
      },
    ],
  },
  {
    version: 13,
    name: 'retention: one pace for the whole fleet',
    // One row: when the fleet's next retention batch may start, and which executor holds the turn.
    // Each batch takes the turn and hands it back with a pause proportional to its own duration, so
    // retention uses a bounded share of the database's time however many executors run it (see
    // docs/decisions/0014-retention.md). A new table and its one row: nothing existing is rewritten
    // or locked, so a live fleet migrates without pausing.
    sql: (s) => `
      CREATE TABLE ${s}.retention_pace (
        id smallint PRIMARY KEY CHECK (id = 1),
        next_at bigint NOT NULL,
        holder text COLLATE "C"
      );
      INSERT INTO ${s}.retention_pace (id, next_at) VALUES (1, 0);
    `,
  },
  {
    version: 14,
    name: 'parked waits on other workflows: waited_by and the trigger that wakes waiters',
    // waited_by lists the workflows parked (or about to park) until this one finishes (see
    // parkOnWorkflows in sql/parking.ts); NULL, as for nearly every row, costs nothing, and adding a
    // nullable column without a default rewrites nothing. A workflow ends in many statements (a
    // flush's completion, a fenced finish, a cancellation of a tree, a takeover's DEAD_LETTER) and
    // more will come: the trigger wakes its waiters whichever it is. Its WHEN is checked in the
    // updating statement itself, per row, so a workflow nobody waits on pays one null test and no
    // call. The wake is the one a message makes (wakeOnMessage): the WHERE names only the id and
    // status, which a park leaves alone, so an update that meets a park in flight waits for it and
    // re-reads the row parked; the CASE then wakes only a waiter parked on workflows ('ballast:parked'
    // is PARKED_OWNER, E'\x1Fworkflows' WORKFLOWS_TOPIC), and the NOTIFY goes on the schema's channel
    // (channelFor) with the key 'parked' (PARKED_WAKE_KEY). Workflows deleted unfinished (by hand)
    // wake theirs too.
    sql: (s) => `
      ALTER TABLE ${s}.workflows ADD COLUMN waited_by text[] COLLATE "C";
      CREATE FUNCTION ${s}.wake_waiters() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        waiters text[];
        woke boolean;
        now_ms bigint := (extract(epoch from clock_timestamp()) * 1000)::int8;
      BEGIN
        IF TG_OP = 'DELETE' THEN waiters := OLD.waited_by; ELSE waiters := NEW.waited_by; END IF;
        WITH woken AS (
          UPDATE ${s}.workflows w
          SET wake_at = CASE WHEN w.owner = 'ballast:parked' AND w.wake_topic = E'\\x1Fworkflows' THEN LEAST(COALESCE(w.wake_at, now_ms), now_ms) ELSE w.wake_at END
          WHERE w.id = ANY(waiters) AND w.status = 'PENDING'
          RETURNING w.owner = 'ballast:parked' AND w.wake_topic = E'\\x1Fworkflows' AS parked)
        SELECT bool_or(parked) INTO woke FROM woken;
        -- Waiters that moved on (stale entries) are written, not announced: only a parked one needs an executor.
        IF woke THEN PERFORM pg_notify(TG_TABLE_SCHEMA || '_wake', 'parked'); END IF;
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER workflows_finished_wake_waiters AFTER UPDATE OF status ON ${s}.workflows FOR EACH ROW
        WHEN (NEW.waited_by IS NOT NULL AND NEW.status IN ('SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER')
          AND OLD.status NOT IN ('SUCCESS', 'ERROR', 'CANCELLED', 'DEAD_LETTER'))
        EXECUTE FUNCTION ${s}.wake_waiters();
      CREATE TRIGGER workflows_deleted_wake_waiters AFTER DELETE ON ${s}.workflows FOR EACH ROW
        WHEN (OLD.waited_by IS NOT NULL)
        EXECUTE FUNCTION ${s}.wake_waiters();
    `,
  },
];

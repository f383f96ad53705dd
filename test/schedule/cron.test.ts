// The cron wrapper on its own: what it accepts, the typed errors for what it does not, and the
// ticks it yields — in order, bounded, across DST changes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidScheduleError } from '../../src/index.js';
import { CronSchedule } from '../../src/schedule/cron.js';

const at = (iso: string) => new Date(iso);
const iso = (dates: Date[]) => dates.map((date) => date.toISOString());

describe('CronSchedule', () => {
  test('5 fields, 6 with seconds, and nicknames are accepted; time zones are stored canonically', () => {
    assert.equal(CronSchedule.parse('a', '0 3 * * *', 'UTC').next(at('2024-01-01T00:00:00Z'))?.toISOString(), '2024-01-01T03:00:00.000Z');
    assert.equal(CronSchedule.parse('b', '*/10 * * * * *', 'UTC').next(at('2024-01-01T00:00:05Z'))?.toISOString(), '2024-01-01T00:00:10.000Z');
    assert.equal(CronSchedule.parse('c', '@hourly', 'UTC').next(at('2024-01-01T00:10:00Z'))?.toISOString(), '2024-01-01T01:00:00.000Z');
    assert.equal(CronSchedule.parse('d', '0 9 * * MON-FRI', 'europe/berlin').timezone, 'Europe/Berlin');
  });

  test('the next tick is strictly after the given instant', () => {
    const everySecond = CronSchedule.parse('s', '* * * * * *', 'UTC');
    assert.equal(everySecond.next(at('2024-01-01T00:00:00.000Z'))?.toISOString(), '2024-01-01T00:00:01.000Z');
    assert.equal(everySecond.next(at('2024-01-01T00:00:00.999Z'))?.toISOString(), '2024-01-01T00:00:01.000Z');
  });

  test('bad expressions and zones are InvalidScheduleError, saying what is wrong and giving an example', () => {
    const cases: Array<[unknown, unknown, RegExp]> = [
      ['61 * * * *', 'UTC', /invalid cron expression "61 \* \* \* \*" \(Invalid value for minute: 61\)\. Use 5 fields .*"0 3 \* \* \*"/],
      ['* * * *', 'UTC', /invalid cron expression "\* \* \* \*"/],
      ['* * * * * * *', 'UTC', /invalid cron expression/],
      ['every day', 'UTC', /invalid cron expression "every day"/],
      ['', 'UTC', /must be a non-empty string/],
      [42, 'UTC', /must be a non-empty string, got number/],
      ['0 0 31 2 *', 'UTC', /never fires/],
      ['0 3 * * *', 'Mars/Olympus_Mons', /unknown time zone "Mars\/Olympus_Mons"\. Use an IANA time zone name such as "Europe\/Berlin"/],
      ['0 3 * * *', '', /timezone must be an IANA time zone name/],
      ['0 3 * * *', 3, /timezone must be an IANA time zone name/],
    ];
    for (const [cron, zone, message] of cases) {
      assert.throws(
        () => CronSchedule.parse('nightly', cron, zone),
        (error: unknown) => {
          assert.ok(error instanceof InvalidScheduleError, `${String(cron)} / ${String(zone)}: ${String(error)}`);
          assert.equal(error.code, 'INVALID_SCHEDULE');
          assert.match(error.message, /^Schedule "nightly": /);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });

  test('ticksBetween yields (after, upTo], oldest first', () => {
    const everySecond = CronSchedule.parse('s', '* * * * * *', 'UTC');
    const { ticks, skippedSome } = everySecond.ticksBetween(at('2024-01-01T00:00:00Z'), at('2024-01-01T00:00:03Z'), 100);
    assert.deepEqual(iso(ticks), ['2024-01-01T00:00:01.000Z', '2024-01-01T00:00:02.000Z', '2024-01-01T00:00:03.000Z']);
    assert.equal(skippedSome, false);
    assert.deepEqual(everySecond.ticksBetween(at('2024-01-01T00:00:03Z'), at('2024-01-01T00:00:03.500Z'), 100).ticks, []);
  });

  test('ticksBetween keeps only the last `max` ticks of a long gap, without walking all of it', () => {
    const everySecond = CronSchedule.parse('s', '* * * * * *', 'Europe/Berlin');
    const started = performance.now();
    // A week of per-second ticks: 604,800 of them.
    const { ticks, skippedSome } = everySecond.ticksBetween(at('2024-01-01T00:00:00Z'), at('2024-01-08T00:00:00Z'), 100);
    assert.ok(performance.now() - started < 2_000, 'bounded work');
    assert.equal(ticks.length, 100);
    assert.equal(skippedSome, true);
    assert.equal(ticks[0]?.toISOString(), '2024-01-07T23:58:21.000Z');
    assert.equal(ticks[99]?.toISOString(), '2024-01-08T00:00:00.000Z');
    const exactly = everySecond.ticksBetween(at('2024-01-01T00:00:00Z'), at('2024-01-01T00:01:40Z'), 100);
    assert.equal(exactly.ticks.length, 100);
    assert.equal(exactly.skippedSome, false, 'exactly max ticks: none left out');
  });

  test('DST: a time that does not exist fires at the shifted wall time once; a repeated hour fires once', () => {
    const berlin = CronSchedule.parse('b', '30 2 * * *', 'Europe/Berlin');
    // 2024-03-31: 02:00 CET jumps to 03:00 CEST.
    assert.deepEqual(iso(berlin.ticksBetween(at('2024-03-30T00:00:00Z'), at('2024-04-01T12:00:00Z'), 10).ticks), [
      '2024-03-30T01:30:00.000Z', // 02:30 CET
      '2024-03-31T01:30:00.000Z', // 03:30 CEST: 02:30 does not exist that day
      '2024-04-01T00:30:00.000Z', // 02:30 CEST
    ]);
    // 2024-10-27: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice and fires at the first.
    assert.deepEqual(iso(berlin.ticksBetween(at('2024-10-26T00:00:00Z'), at('2024-10-28T12:00:00Z'), 10).ticks), [
      '2024-10-26T00:30:00.000Z',
      '2024-10-27T00:30:00.000Z',
      '2024-10-28T01:30:00.000Z',
    ]);
    // Every 30 minutes across the spring-forward gap: in order, no tick twice.
    const halfHourly = CronSchedule.parse('h', '*/30 * * * *', 'Europe/Berlin');
    const ticks = iso(halfHourly.ticksBetween(at('2024-03-31T00:00:00Z'), at('2024-03-31T03:00:00Z'), 100).ticks);
    assert.deepEqual(ticks, [...new Set(ticks)].sort());
    assert.equal(ticks.length, 6);
  });
});

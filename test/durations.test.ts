import { test } from 'node:test';
import assert from 'node:assert/strict';
import { optionalDuration, parseDuration } from '../src/durations.js';
import { ValidationError } from '../src/errors.js';

test('numbers are milliseconds', () => {
  assert.equal(parseDuration(0, 'timeout'), 0);
  assert.ok(Object.is(parseDuration(-0, 'timeout'), 0));
  assert.equal(parseDuration(1, 'timeout'), 1);
  assert.equal(parseDuration(1500, 'timeout'), 1500);
  assert.equal(parseDuration(2.5, 'timeout'), 2.5);
  assert.equal(parseDuration(Number.MAX_SAFE_INTEGER, 'timeout'), Number.MAX_SAFE_INTEGER);
});

test('strings with a unit', () => {
  const cases: [string, number][] = [
    ['0ms', 0],
    ['500ms', 500],
    ['10s', 10_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['7d', 604_800_000],
    ['0s', 0],
    ['1.5s', 1_500],
    ['1.1s', 1_100],
    ['0.25h', 900_000],
    ['.5m', 30_000],
    ['2 h', 7_200_000],
    ['30  s', 30_000],
    ['100 ms', 100],
    [' 10s ', 10_000],
    ['1.5ms', 2],
    ['007s', 7_000],
  ];
  for (const [input, expected] of cases) assert.equal(parseDuration(input, 'timeout'), expected, input);
});

function assertInvalid(value: unknown, what = 'timeout'): void {
  assert.throws(
    () => parseDuration(value as number | string, what),
    (error: unknown) => {
      assert.ok(error instanceof ValidationError, `expected ValidationError for ${String(value)}`);
      assert.equal(error.code, 'INVALID_ARGUMENT');
      assert.ok(error.message.startsWith(`Invalid ${what}: `), error.message);
      assert.ok(error.message.includes("'500ms', '10s'"), error.message);
      assert.ok(error.message.includes('non-negative number of milliseconds'), error.message);
      return true;
    },
  );
}

test('negative, non-finite and NaN numbers are rejected', () => {
  for (const value of [-1, -0.5, NaN, Infinity, -Infinity]) assertInvalid(value);
});

test('malformed strings are rejected', () => {
  const cases = [
    '', ' ', '10', '1.5', 's', 'ms', '-5s', '+5s', '5x', '5 sec', '5 seconds', '5S', '5MS', '1w', '1y',
    '1e3ms', '1,5s', '1.s', '5s5', '5s 10m', '1h30m', 'Infinity', 'NaN', 'ten seconds', '0x10s', '5  ', 's5',
  ];
  for (const value of cases) assertInvalid(value);
});

test('values that are neither numbers nor strings are rejected', () => {
  for (const value of [null, undefined, true, {}, [], [10], 10n, () => 1, new Date(), Symbol('x')]) assertInvalid(value);
});

test('the message names the option and quotes the bad value', () => {
  assert.throws(() => parseDuration('5 fortnights', 'sleep duration'), {
    name: 'ValidationError',
    message:
      'Invalid sleep duration: "5 fortnights". Use a non-negative number of milliseconds or a string with a unit: ' +
      "ms, s, m, h or d (for example '500ms', '10s', '1.5s', '5m', '2 h', '1d').",
  });
  assert.throws(() => parseDuration(-5, 'getEvent timeout'), /^ValidationError: Invalid getEvent timeout: -5\. /);
  assert.throws(() => parseDuration(null as unknown as number, 'drainMs'), /Invalid drainMs: null\. /);
  assert.throws(() => parseDuration({} as unknown as number, 'drainMs'), /Invalid drainMs: a value of type object\. /);
});

test('optionalDuration passes undefined through and parses everything else', () => {
  assert.equal(optionalDuration(undefined, 'timeout'), undefined);
  assert.equal(optionalDuration(250, 'timeout'), 250);
  assert.equal(optionalDuration('2m', 'timeout'), 120_000);
  assert.throws(() => optionalDuration('soon', 'timeout'), ValidationError);
  assert.throws(() => optionalDuration(null as unknown as undefined, 'timeout'), ValidationError);
});

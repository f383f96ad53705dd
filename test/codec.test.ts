import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPayloadSize, deserialize, serialize, serializeError } from '../src/codec.js';
import { PayloadTooLargeError, SerializationError } from '../src/errors.js';

const PLAIN_DATA = 'Pass plain data (JSON, Date, BigInt, Map, Set, Uint8Array, Error).';

function roundTrip<T>(value: T): unknown {
  return deserialize(serialize(value, 'test value'));
}

function assertRoundTrips(value: unknown): void {
  assert.deepStrictEqual(roundTrip(value), value);
}

/** Asserts `serialize` rejects `value` with a SerializationError at `path` whose message says `detail`. */
function assertRejects(value: unknown, path: string, detail: string | RegExp, what = 'workflow input'): void {
  assert.throws(
    () => serialize(value, what),
    (error: unknown) => {
      assert.ok(error instanceof SerializationError, `expected SerializationError, got ${String(error)}`);
      assert.equal(error.code, 'NOT_SERIALIZABLE');
      assert.equal(error.path, path);
      assert.ok(error.message.startsWith(`Cannot serialize ${what}: value at ${path} is `), error.message);
      assert.ok(error.message.endsWith(PLAIN_DATA), error.message);
      if (typeof detail === 'string') assert.ok(error.message.includes(detail), error.message);
      else assert.match(error.message, detail);
      return true;
    },
  );
}

type Fields = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------
// JSON types and the fast path
// ---------------------------------------------------------------------------------------------------

test('plain JSON round-trips and is stored exactly as JSON.stringify stores it', () => {
  const values: unknown[] = [
    null,
    true,
    false,
    0,
    42,
    -3.5,
    Number.MAX_SAFE_INTEGER,
    1e300,
    '',
    'hello',
    'unicode ✓ 😀 "quotes" \\ back\nslash',
    '$',
    '"$"',
    [],
    {},
    [1, 'two', null, [true, { a: [] }]],
    { order: { id: 'o1', items: [{ sku: 'a', qty: 2 }], total: 19.99, paid: false, note: null } },
    { dollar$: 1, $dollar: 2, a$b: 3, 'v': 4 },
  ];
  for (const value of values) {
    const text = serialize(value, 'test value');
    assert.equal(text, JSON.stringify(value));
    assert.deepStrictEqual(deserialize(text), value);
  }
});

test('serialize returns the same text for the same value and does not mutate its input', () => {
  const input = { a: undefined, b: new Map([[1, 2]]), c: [NaN], $: 'x' };
  const before = serialize(input, 'x');
  assert.equal(serialize(input, 'x'), before);
  assert.ok(Object.hasOwn(input, 'a'));
  assert.ok(input.b instanceof Map);
  assert.ok(Number.isNaN(input.c[0]));
  assert.equal(input.$, 'x');
});

test('deserialize returns fresh objects each time', () => {
  const text = serialize({ list: [1, undefined], map: new Map([['k', { n: 1 }]]) }, 'x');
  const a = deserialize(text) as { list: unknown[] };
  const b = deserialize(text) as { list: unknown[] };
  assert.notEqual(a, b);
  assert.notEqual(a.list, b.list);
  a.list.push(3);
  assert.equal(b.list.length, 2);
});

test('shared (non-circular) references are allowed and stored by value', () => {
  const shared = { n: 1 };
  const value = { a: shared, b: shared, list: [shared, shared], map: new Map([[shared, shared]]) };
  const back = roundTrip(value) as typeof value;
  assert.deepStrictEqual(back, value);
  assert.notEqual(back.a, back.b);
});

test('deeply nested values round-trip', () => {
  let value: unknown = 'leaf';
  for (let i = 0; i < 500; i++) value = i % 2 === 0 ? { child: value, at: new Date(i) } : [value, undefined];
  assertRoundTrips(value);
});

test('extremely deep nesting is a SerializationError, not a stack overflow', () => {
  let value: unknown = null;
  for (let i = 0; i < 200_000; i++) value = { next: value };
  assert.throws(() => serialize(value, 'step output'), (error: unknown) => {
    assert.ok(error instanceof SerializationError);
    assert.match(error.message, /^Cannot serialize step output: the value is nested too deeply/);
    return true;
  });
});

// ---------------------------------------------------------------------------------------------------
// non-JSON values
// ---------------------------------------------------------------------------------------------------

test('undefined round-trips at the top level, in arrays and as an object value (key kept)', () => {
  assert.equal(roundTrip(undefined), undefined);
  assert.deepStrictEqual(roundTrip([undefined, 1, undefined]), [undefined, 1, undefined]);
  const back = roundTrip({ a: undefined, b: 1 }) as Fields;
  assert.ok(Object.hasOwn(back, 'a'));
  assert.equal(back.a, undefined);
  assert.deepStrictEqual(Object.keys(back), ['a', 'b']);
  assert.deepStrictEqual(roundTrip({ nested: { deeper: [{ x: undefined }] } }), { nested: { deeper: [{ x: undefined }] } });
});

test('array holes come back as undefined', () => {
  // eslint-disable-next-line no-sparse-arrays
  const back = roundTrip([1, , 3]) as unknown[];
  assert.equal(back.length, 3);
  assert.ok(Object.hasOwn(back, 1));
  assert.equal(back[1], undefined);
});

test('NaN, Infinity, -Infinity and -0 round-trip', () => {
  assert.ok(Number.isNaN(roundTrip(NaN)));
  assert.equal(roundTrip(Infinity), Infinity);
  assert.equal(roundTrip(-Infinity), -Infinity);
  assert.ok(Object.is(roundTrip(-0), -0));
  assert.ok(Object.is(roundTrip(0), 0));
  const back = roundTrip({ list: [NaN, Infinity, -Infinity, -0, 0, 1.5] }) as { list: number[] };
  assert.ok(Number.isNaN(back.list[0]));
  assert.deepStrictEqual(back.list.slice(1), [Infinity, -Infinity, -0, 0, 1.5]);
  assert.ok(Object.is(back.list[3], -0));
});

test('BigInt round-trips, including values beyond 64 bits', () => {
  for (const value of [0n, 1n, -1n, 2n ** 64n + 1n, -(10n ** 40n)]) assert.equal(roundTrip(value), value);
  assertRoundTrips({ id: 9007199254740993n, list: [1n, 2n] });
});

test('Date round-trips, including an invalid Date', () => {
  const date = new Date('2024-05-01T12:34:56.789Z');
  const back = roundTrip(date);
  assert.ok(back instanceof Date);
  assert.equal(back.getTime(), date.getTime());
  assertRoundTrips({ at: date, list: [new Date(0), new Date(-1e12)] });
  const invalid = roundTrip(new Date(NaN));
  assert.ok(invalid instanceof Date);
  assert.ok(Number.isNaN(invalid.getTime()));
});

test('Map round-trips with any supported keys and values, in order', () => {
  const map = new Map<unknown, unknown>([
    ['a', 1],
    [2, 'two'],
    [{ composite: true }, [1, 2]],
    [10n, new Date(5)],
    [undefined, null],
    [NaN, new Set([1])],
  ]);
  const back = roundTrip(map);
  assert.ok(back instanceof Map);
  assert.deepStrictEqual(back, map);
  assert.deepStrictEqual([...back.keys()].slice(0, 2), ['a', 2]);
  assertRoundTrips(new Map());
  assertRoundTrips(new Map([['outer', new Map([['inner', new Map([[1, undefined]])]])]]));
});

test('Set round-trips', () => {
  const set = new Set<unknown>([1, 'a', { b: 2 }, [3], 4n, undefined]);
  const back = roundTrip(set);
  assert.ok(back instanceof Set);
  assert.deepStrictEqual(back, set);
  assertRoundTrips(new Set());
  assertRoundTrips(new Set([new Set([new Map([[1, 2]])])]));
});

test('Uint8Array comes back as Uint8Array and Buffer as Buffer', () => {
  const bytes = new Uint8Array([0, 1, 2, 254, 255]);
  const u8 = roundTrip(bytes);
  assert.ok(u8 instanceof Uint8Array);
  assert.ok(!Buffer.isBuffer(u8));
  assert.equal(Object.getPrototypeOf(u8), Uint8Array.prototype);
  assert.deepStrictEqual(u8, bytes);

  const buffer = Buffer.from('héllo wörld', 'utf8');
  const buf = roundTrip(buffer);
  assert.ok(Buffer.isBuffer(buf));
  assert.ok(buf.equals(buffer));

  assertRoundTrips(new Uint8Array(0));
  assertRoundTrips(Buffer.alloc(0));
  assertRoundTrips({ blobs: [new Uint8Array(1000).fill(7), Buffer.from([9, 8, 7])] });
});

test('a Uint8Array view stores only its own bytes', () => {
  const backing = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const view = backing.subarray(2, 4);
  assert.deepStrictEqual(roundTrip(view), new Uint8Array([3, 4]));
  const slice = Buffer.from('abcdef').subarray(1, 3);
  assert.deepStrictEqual(roundTrip(slice), Buffer.from('bc'));
});

test('nested combinations of every type round-trip', () => {
  const value = {
    id: 'wf-1',
    created: new Date('2020-01-01T00:00:00Z'),
    amount: 12345678901234567890n,
    missing: undefined,
    ratio: NaN,
    flags: new Set(['a', 'b']),
    byUser: new Map<string, unknown>([
      ['alice', { seen: [new Date(1), undefined, -0], bytes: new Uint8Array([1]) }],
      ['bob', new Map([[1n, Buffer.from('x')]])],
    ]),
    failure: new RangeError('out of range'),
    list: [[new Set([undefined])], { $: 'date', v: 'not a date' }, Infinity],
  };
  const back = roundTrip(value) as typeof value;
  assert.deepStrictEqual(back, value);
  assert.ok(Number.isNaN(back.ratio));
  assert.equal(back.failure.stack, value.failure.stack);
});

// ---------------------------------------------------------------------------------------------------
// key escaping
// ---------------------------------------------------------------------------------------------------

test('plain objects whose keys collide with the tag format round-trip', () => {
  const collisions: unknown[] = [
    { $: 'date', v: '2024-01-01T00:00:00.000Z' },
    { $: 'undef' },
    { $: 'num', v: 'NaN' },
    { $: 'big', v: '1' },
    { $: 'map', v: [] },
    { $: 'set', v: [] },
    { $: 'u8', v: 'AQI=' },
    { $: 'buf', v: 'AQI=' },
    { $: 'err', n: 'TypeError', m: 'x' },
    { $: 'obj', v: { $: 'undef' } },
    { $: 'unknown tag' },
    { $: 1 },
    { $: null },
    { $: undefined },
    { $: { $: { $: 'date' } } },
    { $: [{ $: 'set' }], v: new Date(3), other: undefined },
    [{ $: 'u8' }, { $: 'obj' }],
    new Map([[{ $: 'map' }, { $: 'set' }]]),
    new Set([{ $: 'undef' }]),
  ];
  for (const value of collisions) assertRoundTrips(value);
});

test('an escaped object is stored with the "obj" tag and its keys taken literally', () => {
  assert.equal(serialize({ $: 'date', v: 1 }, 'x'), '{"$":"obj","v":{"$":"date","v":1}}');
});

test('a "__proto__" key round-trips as data and never changes a prototype', () => {
  const value = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Fields;
  assert.ok(Object.hasOwn(value, '__proto__'));
  const back = roundTrip(value) as Fields;
  assert.ok(Object.hasOwn(back, '__proto__'));
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepStrictEqual(back, value);

  // The slow path (a value that needs encoding next to the key) must not invoke the setter either.
  const mixed = JSON.parse('{"a":1,"__proto__":{"x":1}}') as Fields;
  mixed.b = undefined;
  const backMixed = roundTrip(mixed) as Fields;
  assert.equal(Object.getPrototypeOf(backMixed), Object.prototype);
  assert.deepStrictEqual(backMixed.__proto__, { x: 1 });
  assert.ok(Object.hasOwn(backMixed, 'b'));
  assert.equal(({} as Fields).polluted, undefined);
});

test('a null-prototype object is accepted and comes back as a plain object', () => {
  const value = Object.assign(Object.create(null) as Fields, { a: 1, b: undefined });
  assert.deepEqual(roundTrip(value), { a: 1, b: undefined });
});

test('the stored format is the documented tagged JSON', () => {
  assert.equal(serialize(undefined, 'x'), '{"$":"undef"}');
  assert.equal(serialize(NaN, 'x'), '{"$":"num","v":"NaN"}');
  assert.equal(serialize(-0, 'x'), '{"$":"num","v":"-0"}');
  assert.equal(serialize(-Infinity, 'x'), '{"$":"num","v":"-Infinity"}');
  assert.equal(serialize(12n, 'x'), '{"$":"big","v":"12"}');
  assert.equal(serialize(new Date(0), 'x'), '{"$":"date","v":"1970-01-01T00:00:00.000Z"}');
  assert.equal(serialize(new Date(NaN), 'x'), '{"$":"date","v":null}');
  assert.equal(serialize(new Map([[1, 2]]), 'x'), '{"$":"map","v":[[1,2]]}');
  assert.equal(serialize(new Set([1]), 'x'), '{"$":"set","v":[1]}');
  assert.equal(serialize(new Uint8Array([1, 2]), 'x'), '{"$":"u8","v":"AQI="}');
  assert.equal(serialize(Buffer.from([1, 2]), 'x'), '{"$":"buf","v":"AQI="}');
  assert.equal(serialize({ a: [undefined] }, 'x'), '{"a":[{"$":"undef"}]}');
  const error = Object.assign(new TypeError('bad'), { code: 'E' });
  assert.deepStrictEqual(JSON.parse(serialize(error, 'x')), { $: 'err', n: 'TypeError', m: 'bad', s: error.stack, f: { code: 'E' } });
});

// ---------------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------------

test('built-in error classes come back as the same class with name, message and stack', () => {
  const classes = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError];
  for (const ErrorClass of classes) {
    const error = new ErrorClass(`a ${ErrorClass.name}`);
    const back = roundTrip(error);
    assert.ok(back instanceof ErrorClass, ErrorClass.name);
    assert.equal(Object.getPrototypeOf(back), ErrorClass.prototype);
    assert.equal(back.name, ErrorClass.name);
    assert.equal(back.message, error.message);
    assert.equal(back.stack, error.stack);
    assert.ok(!Object.keys(back).includes('stack'));
    assert.ok(!Object.hasOwn(back, 'name'));
    assert.deepStrictEqual(back, error);
  }
});

test('AggregateError comes back with its errors', () => {
  const error = new AggregateError(
    [new TypeError('one'), new Error('two', { cause: 'why' }), 'not an error', { code: 3 }],
    'several failed',
  );
  const back = roundTrip(error);
  assert.ok(back instanceof AggregateError);
  assert.equal(back.message, 'several failed');
  assert.equal(back.errors.length, 4);
  assert.ok(back.errors[0] instanceof TypeError);
  assert.equal((back.errors[1] as Error).cause, 'why');
  assert.ok(!Object.keys(back).includes('errors'));
  assert.deepStrictEqual(back, error);
  assert.deepStrictEqual(roundTrip(new AggregateError([], 'none')), new AggregateError([], 'none'));
});

test('the cause chain round-trips recursively, including non-Error causes', () => {
  const root = new Error('connection refused', { cause: { errno: -111, at: new Date(1) } });
  const middle = new TypeError('query failed', { cause: root });
  const top = new Error('step failed', { cause: middle });
  const back = roundTrip(top) as Error;
  assert.deepStrictEqual(back, top);
  const backMiddle = back.cause as Error;
  assert.ok(backMiddle instanceof TypeError);
  assert.equal(backMiddle.stack, middle.stack);
  const backRoot = backMiddle.cause as Error;
  assert.equal(backRoot.message, 'connection refused');
  assert.deepStrictEqual(backRoot.cause, { errno: -111, at: new Date(1) });
  assert.ok(!Object.keys(back).includes('cause'));

  const undefinedCause = roundTrip(new Error('x', { cause: undefined })) as Error;
  assert.ok(Object.hasOwn(undefinedCause, 'cause'));
  assert.equal(undefinedCause.cause, undefined);
  assert.ok(!Object.hasOwn(roundTrip(new Error('x')) as Error, 'cause'));
});

test('a cause assigned as a field stays an enumerable field', () => {
  const error = new Error('outer') as Error & Fields;
  error.cause = new RangeError('inner');
  const back = roundTrip(error) as Error;
  assert.ok(back.cause instanceof RangeError);
  assert.ok(Object.keys(back).includes('cause'));
  assert.deepStrictEqual(back, error);
});

test('own enumerable fields round-trip with any supported value', () => {
  const error = Object.assign(new Error('payment declined'), {
    code: 'CARD_DECLINED',
    status: 402,
    retryable: false,
    details: { attempts: [new Date(10)], limit: 10n, extra: undefined },
    $: 'dollar field',
  });
  const back = roundTrip(error) as typeof error;
  assert.deepStrictEqual(back, error);
  assert.equal(back.code, 'CARD_DECLINED');
  assert.equal(back.details.limit, 10n);
});

test('a custom Error subclass comes back as an Error with its name and fields', () => {
  class PaymentError extends Error {
    readonly code = 'PAYMENT';
    constructor(
      message: string,
      readonly amount: bigint,
    ) {
      super(message, { cause: new Error('gateway timeout') });
      this.name = 'PaymentError';
    }
  }
  const error = new PaymentError('charge failed', 500n);
  const back = roundTrip(error) as Error & Fields;
  assert.equal(Object.getPrototypeOf(back), Error.prototype);
  assert.equal(back.name, 'PaymentError');
  assert.equal(back.message, 'charge failed');
  assert.equal(back.stack, error.stack);
  assert.equal(back.code, 'PAYMENT');
  assert.equal(back.amount, 500n);
  assert.equal((back.cause as Error).message, 'gateway timeout');
  assert.deepEqual({ ...back }, { ...error });
  assert.ok(String(back).startsWith('PaymentError: charge failed'));
});

test('a name defined on the prototype is restored as a non-enumerable own name', () => {
  class QuotaError extends Error {}
  Object.defineProperty(QuotaError.prototype, 'name', { value: 'QuotaError' });
  const back = roundTrip(new QuotaError('over quota')) as Error;
  assert.equal(back.name, 'QuotaError');
  assert.deepStrictEqual(Object.keys(back), []);
});

test('a subclass of a built-in error with its own name comes back as Error with that name', () => {
  class InputError extends TypeError {
    constructor(message: string) {
      super(message);
      this.name = 'InputError';
    }
  }
  const back = roundTrip(new InputError('bad input')) as Error;
  assert.equal(Object.getPrototypeOf(back), Error.prototype);
  assert.equal(back.name, 'InputError');
  assert.equal(back.message, 'bad input');
});

test('Ballast errors keep name, code and their own fields', () => {
  const error = new SerializationError('no', '$.x');
  const back = roundTrip(error) as Error & Fields;
  assert.equal(back.name, 'SerializationError');
  assert.equal(back.code, 'NOT_SERIALIZABLE');
  assert.equal(back.path, '$.x');
  assert.equal(back.message, 'no');
});

test('an error with a missing stack comes back without one', () => {
  const error = new Error('no stack');
  delete (error as { stack?: string }).stack;
  const back = roundTrip(error) as Error;
  assert.equal(back.stack, undefined);
  assert.equal(back.message, 'no stack');
});

test('an error with a name that is a built-in but is not that class takes the built-in class', () => {
  const error = new Error('looks like a type error');
  error.name = 'TypeError';
  const back = roundTrip(error) as Error;
  assert.ok(back instanceof TypeError);
  assert.equal(back.name, 'TypeError');
});

test('errors round-trip inside other values', () => {
  const value = { errors: [new URIError('u')], byStep: new Map([['s1', new EvalError('e')]]), set: new Set([new Error('s')]) };
  assertRoundTrips(value);
});

// ---------------------------------------------------------------------------------------------------
// rejections
// ---------------------------------------------------------------------------------------------------

test('a function is rejected with the path to it', () => {
  assert.throws(
    () => serialize({ order: { items: [1, 2, { callback: () => 1 }] } }, 'workflow input'),
    {
      name: 'SerializationError',
      message:
        'Cannot serialize workflow input: value at $.order.items[2].callback is a function. ' +
        'Pass plain data (JSON, Date, BigInt, Map, Set, Uint8Array, Error).',
      path: '$.order.items[2].callback',
    },
  );
  assertRejects(() => 1, '$', 'is a function.');
  assertRejects([function named() {}], '$[0]', 'is a function.');
  assertRejects({ method() {} }, '$.method', 'is a function.');
  assertRejects({ cls: class Foo {} }, '$.cls', 'is a function.');
});

test('a symbol is rejected', () => {
  assertRejects(Symbol('tag'), '$', 'is a symbol (Symbol(tag))');
  assertRejects({ a: [Symbol.iterator] }, '$.a[0]', 'is a symbol');
});

test('a class instance is rejected, naming the class', () => {
  class Order {
    id = 1;
  }
  assertRejects(new Order(), '$', 'is an instance of class Order (convert it to a plain object first)');
  assertRejects({ nested: { order: new Order() } }, '$.nested.order', 'instance of class Order');
  assertRejects({ url: new URL('https://example.com') }, '$.url', 'instance of class URL');
  assertRejects({ re: /x/ }, '$.re', 'instance of class RegExp');
  assertRejects({ boxed: new String('x') }, '$.boxed', 'instance of class String');
  const anonymous = new (class {})();
  assertRejects({ anonymous }, '$.anonymous', 'custom prototype');
  const customProto = Object.create({ inherited: true }) as object;
  assertRejects({ customProto }, '$.customProto', 'is an object with a custom prototype, not a plain object');
});

test('WeakMap, WeakSet, WeakRef and Promise are rejected', () => {
  assertRejects({ w: new WeakMap() }, '$.w', 'instance of class WeakMap');
  assertRejects({ w: new WeakSet() }, '$.w', 'instance of class WeakSet');
  assertRejects({ w: new WeakRef({}) }, '$.w', 'instance of class WeakRef');
  const promise = Promise.resolve(1);
  assertRejects({ result: promise }, '$.result', 'is a Promise (await it and pass its result)');
});

test('subclasses of Map, Set, Date and Array are rejected', () => {
  class Registry extends Map<string, number> {}
  class Tags extends Set<string> {}
  class Day extends Date {}
  class List extends Array<number> {}
  assertRejects({ r: new Registry() }, '$.r', 'instance of class Registry, a subclass of Map (pass a plain Map)');
  assertRejects({ t: new Tags() }, '$.t', 'a subclass of Set');
  assertRejects({ d: new Day() }, '$.d', 'a subclass of Date');
  assertRejects({ l: new List() }, '$.l', 'a subclass of Array');
});

test('binary types other than Uint8Array and Buffer are rejected', () => {
  assertRejects({ f: new Float64Array(2) }, '$.f', 'instance of class Float64Array (of binary types only Uint8Array and Buffer');
  assertRejects({ c: new Uint8ClampedArray(2) }, '$.c', 'Uint8ClampedArray');
  assertRejects({ a: new ArrayBuffer(2) }, '$.a', 'ArrayBuffer');
  assertRejects({ v: new DataView(new ArrayBuffer(2)) }, '$.v', 'DataView');
});

test('circular references are rejected, naming the path they refer back to', () => {
  const self: Fields = { a: 1 };
  self.self = self;
  assertRejects(self, '$.self', 'is a circular reference back to $ (cycles cannot be stored)');

  const order: Fields = { items: [] };
  (order.items as unknown[]).push({ parent: order });
  assertRejects({ order }, '$.order.items[0].parent', 'circular reference back to $.order');

  const list: unknown[] = [];
  list.push(list);
  assertRejects(list, '$[0]', 'circular reference back to $');

  const map = new Map<string, unknown>();
  map.set('me', map);
  assertRejects({ map }, '$.map.get("me")', 'circular reference back to $.map');

  const set = new Set<unknown>();
  set.add(set);
  assertRejects(set, '$.values()[0]', 'circular reference back to $');

  const error = new Error('loop') as Error & Fields;
  error.self = error;
  assertRejects(error, '$.self', 'circular reference back to $');

  const causeLoop = new Error('a');
  const other = new Error('b', { cause: causeLoop });
  Object.defineProperty(causeLoop, 'cause', { value: other, enumerable: false, configurable: true, writable: true });
  assertRejects(causeLoop, '$.cause.cause', 'circular reference back to $');
});

test('a cycle far below the top is detected with its exact path', () => {
  const root: Fields = {};
  let node = root;
  for (let i = 0; i < 100; i++) {
    const next: Fields = {};
    node.n = next;
    node = next;
  }
  node.back = root.n;
  assertRejects(root, `$${'.n'.repeat(100)}.back`, `circular reference back to $.n (cycles`);

  // A cycle entirely below the linear-check depth.
  const deep: Fields = {};
  let cursor = deep;
  for (let i = 0; i < 60; i++) {
    const next: Fields = {};
    cursor.n = next;
    cursor = next;
  }
  const loopStart = cursor;
  cursor.n = { m: loopStart };
  assertRejects(deep, `$${'.n'.repeat(61)}.m`, `circular reference back to $${'.n'.repeat(60)} (cycles`);
});

test('paths quote keys that are not identifiers and describe Map keys, Map values and Set items', () => {
  assertRejects({ 'has space': { 'a-b': [{ '0': () => 1 }] } }, '$["has space"]["a-b"][0]["0"]', 'a function');
  assertRejects(new Map([['k', () => 1]]), '$.get("k")', 'a function');
  assertRejects(new Map([[7, () => 1]]), '$.get(7)', 'a function');
  assertRejects(new Map([[7n, () => 1]]), '$.get(7n)', 'a function');
  assertRejects(new Map<unknown, unknown>([[{ k: 1 }, 'ok'], [{ k: 2 }, () => 1]]), '$.values()[1]', 'a function');
  assertRejects(new Map([[Symbol('k'), 1]]), '$.keys()[0]', 'a symbol');
  assertRejects(new Set([1, 2, () => 1]), '$.values()[2]', 'a function');
});

test('errors with unserializable parts are rejected with the path inside the error', () => {
  assertRejects(Object.assign(new Error('x'), { retry: () => 1 }), '$.retry', 'a function');
  assertRejects({ failure: new Error('x', { cause: new WeakMap() }) }, '$.failure.cause', 'WeakMap');
  assertRejects(new AggregateError([1, Symbol('s')], 'agg'), '$.errors[1]', 'a symbol');
  assertRejects(Object.assign(new Error('x'), { 'bad key': Promise.resolve() }), '$["bad key"]', 'a Promise');
});

test('the message names what was being serialized', () => {
  assertRejects({ fn: () => 1 }, '$.fn', 'a function', 'step output');
  assertRejects({ fn: () => 1 }, '$.fn', 'a function', 'event "stage"');
});

test('symbol-keyed properties are ignored, as in JSON', () => {
  const key = Symbol('hidden');
  assert.deepStrictEqual(roundTrip({ a: 1, [key]: 2 }), { a: 1 });
});

// ---------------------------------------------------------------------------------------------------
// deserialize of corrupt text
// ---------------------------------------------------------------------------------------------------

test('deserialize rejects text that is not the codec format', () => {
  const cases = ['', 'not json', '{"$":"nope"}', '{"$":"num","v":"42"}', '{"$":"map","v":[[1]]}', '{"$":"big","v":"1.5"}', '{"$":"u8"}'];
  for (const text of cases) {
    assert.throws(() => deserialize(text), (error: unknown) => {
      assert.ok(error instanceof SerializationError, text);
      assert.match(error.message, /^Cannot deserialize stored value: /);
      return true;
    });
  }
});

test('deserialize reads plain JSON written by other tools', () => {
  assert.deepStrictEqual(deserialize('{"a":[1,2,{"b":null}],"c":"$"}'), { a: [1, 2, { b: null }], c: '$' });
  assert.deepStrictEqual(deserialize(' [ "\\"$\\"" ] '), ['"$"']);
});

// ---------------------------------------------------------------------------------------------------
// serializeError
// ---------------------------------------------------------------------------------------------------

test('serializeError stores a serializable error exactly as serialize does', () => {
  const error = Object.assign(new TypeError('bad', { cause: new Error('root') }), { code: 'E_BAD' });
  assert.equal(serializeError(error), serialize(error, 'error'));
  assert.deepStrictEqual(deserialize(serializeError(error)), error);
});

test('serializeError stores thrown non-error data as is', () => {
  assert.equal(deserialize(serializeError('plain string')), 'plain string');
  assert.equal(deserialize(serializeError(42)), 42);
  assert.equal(deserialize(serializeError(undefined)), undefined);
  assert.deepStrictEqual(deserialize(serializeError({ code: 'E', at: new Date(1) })), { code: 'E', at: new Date(1) });
});

test('serializeError drops unserializable fields and keeps name, message, stack and the rest', () => {
  const error = Object.assign(new RangeError('too big'), {
    code: 'E_RANGE',
    limit: 10n,
    retry: () => 1,
    socket: new (class Socket {})(),
  });
  const back = deserialize(serializeError(error)) as Error & Fields;
  assert.ok(back instanceof RangeError);
  assert.equal(back.name, 'RangeError');
  assert.equal(back.message, 'too big');
  assert.equal(back.stack, error.stack);
  assert.equal(back.code, 'E_RANGE');
  assert.equal(back.limit, 10n);
  assert.ok(!Object.hasOwn(back, 'retry'));
  assert.ok(!Object.hasOwn(back, 'socket'));
});

test('serializeError keeps a custom name and cleans up the cause chain and aggregate errors', () => {
  const root = Object.assign(new Error('root'), { handle: () => 1, errno: 5 });
  const error = new Error('top', { cause: root }) as Error & Fields;
  error.name = 'JobError';
  error.self = error;
  const back = deserialize(serializeError(error)) as Error & Fields;
  assert.equal(back.name, 'JobError');
  assert.equal(back.message, 'top');
  assert.equal(back.stack, error.stack);
  assert.ok(!Object.hasOwn(back, 'self'));
  const cause = back.cause as Error & Fields;
  assert.equal(cause.message, 'root');
  assert.equal(cause.errno, 5);
  assert.ok(!Object.hasOwn(cause, 'handle'));

  const aggregate = new AggregateError([new Error('ok'), Object.assign(new Error('bad'), { fn: () => 1 }), Symbol('x')], 'many');
  const backAggregate = deserialize(serializeError(aggregate)) as AggregateError;
  assert.ok(backAggregate instanceof AggregateError);
  assert.deepStrictEqual(
    backAggregate.errors.map((item: Error) => item.message),
    ['ok', 'bad'],
  );
});

test('serializeError survives a circular cause chain', () => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  Object.defineProperty(a, 'cause', { value: b, enumerable: false, configurable: true, writable: true });
  const back = deserialize(serializeError(a)) as Error;
  assert.equal(back.message, 'a');
  assert.equal((back.cause as Error).message, 'b');
});

test('serializeError turns a thrown class instance into an Error named after the class', () => {
  class HttpFailure {
    status = 503;
    message = 'service unavailable';
    body = new (class Stream {})();
  }
  const back = deserialize(serializeError(new HttpFailure())) as Error & Fields;
  assert.ok(back instanceof Error);
  assert.equal(back.name, 'HttpFailure');
  assert.equal(back.message, 'service unavailable');
  assert.equal(back.status, 503);
  assert.ok(!Object.hasOwn(back, 'body'));
  assert.equal(back.stack, undefined);

  const noMessage = deserialize(serializeError(new (class Thing {})())) as Error;
  assert.equal(noMessage.name, 'Thing');
  assert.equal(noMessage.message, 'A value that cannot be stored was thrown: an instance of class Thing.');
});

test('serializeError handles thrown functions, symbols and unreadable objects without throwing', () => {
  const fromFunction = deserialize(serializeError(() => 1)) as Error;
  assert.equal(fromFunction.name, 'Error');
  assert.equal(fromFunction.message, 'A value that cannot be stored was thrown: a function.');

  const fromSymbol = deserialize(serializeError(Symbol('boom'))) as Error;
  assert.equal(fromSymbol.message, 'A value that cannot be stored was thrown: a symbol (Symbol(boom)).');

  const hostile = new Proxy(new Error('hidden'), {
    get() {
      throw new Error('trap');
    },
    ownKeys() {
      throw new Error('trap');
    },
  });
  const fromProxy = deserialize(serializeError(hostile));
  assert.ok(fromProxy instanceof Error);

  const getter = new Error('getter');
  Object.defineProperty(getter, 'bad', {
    enumerable: true,
    get() {
      throw new Error('no');
    },
  });
  const fromGetter = deserialize(serializeError(getter)) as Error;
  assert.equal(fromGetter.message, 'getter');
  assert.ok(!Object.hasOwn(fromGetter, 'bad'));
});

// ---------------------------------------------------------------------------------------------------
// payload size
// ---------------------------------------------------------------------------------------------------

test('checkPayloadSize accepts text up to the limit in UTF-8 bytes', () => {
  checkPayloadSize('', 0, 'workflow input');
  checkPayloadSize('abcd', 4, 'workflow input');
  checkPayloadSize('é', 2, 'workflow input');
  checkPayloadSize('x'.repeat(1000), 10_000, 'workflow input');
});

test('checkPayloadSize throws PayloadTooLargeError over the limit, counting UTF-8 bytes', () => {
  for (const [text, limit, bytes] of [
    ['abcde', 4, 5],
    ['é', 1, 2],
    ['😀😀', 7, 8],
    ['€'.repeat(10), 29, 30],
  ] as const) {
    assert.throws(
      () => checkPayloadSize(text, limit, 'step output'),
      (error: unknown) => {
        assert.ok(error instanceof PayloadTooLargeError);
        assert.equal(error.code, 'PAYLOAD_TOO_LARGE');
        assert.match(error.message, new RegExp(`^step output serializes to ${bytes} bytes, over the ${limit}-byte limit`));
        return true;
      },
    );
  }
  const text = serialize({ blob: Buffer.alloc(2048) }, 'x');
  assert.throws(() => checkPayloadSize(text, 1024, 'workflow input'), PayloadTooLargeError);
});

/**
 * The durable value codec. Every workflow input, step output, message, event and error is stored as
 * the text this module produces, so it is on the hot path: one recursive walk over the value, then
 * one `JSON.stringify`.
 *
 * ## Format
 * The text is JSON. Plain JSON data — strings, finite numbers other than -0, booleans, null, arrays
 * and plain objects without a "$" key — is stored as itself, so the common case is exactly what
 * `JSON.stringify` produces and any JSON tool can read it. Every other supported value becomes a
 * *tagged object*: a JSON object whose "$" key names the type.
 *
 *   undefined              {"$":"undef"}          (top level, array items, object values: key kept)
 *   NaN, ±Infinity, -0     {"$":"num","v":"NaN"}  ("NaN" | "Infinity" | "-Infinity" | "-0")
 *   BigInt                 {"$":"big","v":"-12345678901234567890"}
 *   Date                   {"$":"date","v":"2024-05-01T12:00:00.000Z"}   (v is null for an invalid date)
 *   Map                    {"$":"map","v":[[key,value],…]}               (keys and values encoded)
 *   Set                    {"$":"set","v":[item,…]}
 *   Uint8Array             {"$":"u8","v":"<base64>"}
 *   Buffer                 {"$":"buf","v":"<base64>"}
 *   Error                  {"$":"err","n":name,"m":message,"s":stack,"c":cause,"a":[errors],"f":{fields}}
 *   object with a "$" key  {"$":"obj","v":{…}}   (escape: the keys of v are taken literally)
 *
 * Error members: "n" (name) and "m" (message) are always present. "s" is present when the stack is a
 * string. "c" holds a non-enumerable own `cause` (the `new Error(msg, { cause })` form) and "a" a
 * non-enumerable own `errors` (AggregateError). "f" holds the own enumerable fields (`code`, a name
 * assigned with `this.name = …`, a cause assigned with `err.cause = …`, …) except message and stack,
 * with their keys taken literally. Built-in classes (Error, TypeError, RangeError, SyntaxError,
 * ReferenceError, EvalError, URIError, AggregateError) come back as that class; any other name comes
 * back as an Error carrying that name and its fields.
 *
 * Because every tagged object has a "$" key and every plain object with a "$" key is escaped, a text
 * with no `"$"` in it holds no tags and `deserialize` returns `JSON.parse`'s result untouched.
 *
 * Not preserved (as in JSON): symbol-keyed and non-enumerable properties of plain objects, a null
 * prototype (comes back as a plain object), array holes (come back as undefined) and non-index
 * properties of arrays. Anything that cannot be stored faithfully — functions, symbols, class
 * instances, subclasses of Map/Set/Date/Array, other typed arrays, WeakMap, Promise, cycles — is a
 * SerializationError naming the path to the value. Shared (non-circular) references are stored twice.
 */
import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import { ballastErrorPrototype, PayloadTooLargeError, SerializationError } from './errors.js';

type Obj = Record<string, unknown>;

const TAG = '$';
const PLAIN_DATA = 'Pass plain data (JSON, Date, BigInt, Map, Set, Uint8Array, Error).';

const UNDEFINED_TAG = Object.freeze({ $: 'undef' });
const NAN_TAG = Object.freeze({ $: 'num', v: 'NaN' });
const POSITIVE_INFINITY_TAG = Object.freeze({ $: 'num', v: 'Infinity' });
const NEGATIVE_INFINITY_TAG = Object.freeze({ $: 'num', v: '-Infinity' });
const NEGATIVE_ZERO_TAG = Object.freeze({ $: 'num', v: '-0' });

const BUILTIN_ERRORS: Readonly<Record<string, ErrorConstructor>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, ErrorConstructor>, {
    Error,
    TypeError,
    RangeError,
    SyntaxError,
    ReferenceError,
    EvalError,
    URIError,
  }),
);

const hasOwn = Object.hasOwn;
const getPrototypeOf = Object.getPrototypeOf;
const isArray = Array.isArray;
const isEnumerable = (object: object, key: string): boolean =>
  Object.prototype.propertyIsEnumerable.call(object, key);

// ---------------------------------------------------------------------------------------------------
// serialize
// ---------------------------------------------------------------------------------------------------

/**
 * Why a value could not be encoded. Thrown inside the walk; each container on the way back up adds
 * its path segment, so the happy path pays nothing for path tracking.
 */
class Unencodable {
  /** Path segments, innermost first. */
  readonly segments: string[] = [];

  constructor(
    readonly description: string,
    /** For a cycle: the depth of the ancestor the value refers back to. */
    readonly cycleDepth = -1,
  ) {}
}

/** Past this depth, ancestors are also kept in a Set so cycle checks stay O(1) on deep values. */
const LINEAR_CYCLE_CHECK_DEPTH = 32;

/** Per-call walk state: the chain of containers from the root to the value being encoded. */
interface Walk {
  readonly ancestors: object[];
  deep: Set<object> | undefined;
}

function enter(value: object, depth: number, walk: Walk): void {
  const ancestors = walk.ancestors;
  if (depth <= LINEAR_CYCLE_CHECK_DEPTH) {
    for (let i = 0; i < depth; i++) {
      if (ancestors[i] === value) throw new Unencodable('a circular reference', i);
    }
  } else {
    for (let i = 0; i < LINEAR_CYCLE_CHECK_DEPTH; i++) {
      if (ancestors[i] === value) throw new Unencodable('a circular reference', i);
    }
    const deep = (walk.deep ??= new Set());
    if (deep.has(value)) throw new Unencodable('a circular reference', ancestors.indexOf(value));
    deep.add(value);
  }
  ancestors[depth] = value;
}

function leave(value: object, depth: number, walk: Walk): void {
  if (depth > LINEAR_CYCLE_CHECK_DEPTH) walk.deep?.delete(value);
}

function addSegment(error: unknown, segment: string): unknown {
  if (error instanceof Unencodable) error.segments.push(segment);
  return error;
}

/** Sets a property without ever invoking the `__proto__` setter. */
function setProperty(target: Obj, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** Returns `value` itself when it is plain JSON data, otherwise an encoded copy. */
function encode(value: unknown, depth: number, walk: Walk): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (value - value === 0) return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO_TAG : value;
      return value !== value ? NAN_TAG : value > 0 ? POSITIVE_INFINITY_TAG : NEGATIVE_INFINITY_TAG;
    case 'object':
      if (value === null) return null;
      if (isArray(value) && getPrototypeOf(value) === Array.prototype) return encodeArray(value, depth, walk);
      {
        const proto: unknown = getPrototypeOf(value);
        if (proto === Object.prototype || proto === null) return encodeObject(value as Obj, depth, walk);
      }
      return encodeSpecial(value, depth, walk);
    case 'undefined':
      return UNDEFINED_TAG;
    case 'bigint':
      return { $: 'big', v: value.toString() };
    case 'function':
      throw new Unencodable('a function');
    case 'symbol':
      throw new Unencodable(`a symbol (${value.toString()})`);
  }
  throw new Unencodable(`a value of type ${typeof value}`);
}

function encodeArray(array: unknown[], depth: number, walk: Walk): unknown[] {
  enter(array, depth, walk);
  const length = array.length;
  let copy: unknown[] | undefined;
  let i = 0;
  try {
    for (; i < length; i++) {
      const item = array[i];
      const encoded = encode(item, depth + 1, walk);
      if (copy !== undefined) copy[i] = encoded;
      else if (encoded !== item) {
        copy = array.slice(0, length);
        copy[i] = encoded;
      }
    }
  } catch (error) {
    throw addSegment(error, `[${i}]`);
  }
  leave(array, depth, walk);
  return copy ?? array;
}

function encodeObject(object: Obj, depth: number, walk: Walk): unknown {
  enter(object, depth, walk);
  const keys = Object.keys(object);
  const count = keys.length;
  let copy: Obj | undefined;
  let i = 0;
  try {
    for (; i < count; i++) {
      const key = keys[i] as string;
      const value = object[key];
      const encoded = encode(value, depth + 1, walk);
      if (copy !== undefined) setProperty(copy, key, encoded);
      else if (encoded !== value) {
        copy = {};
        for (let j = 0; j < i; j++) {
          const earlier = keys[j] as string;
          setProperty(copy, earlier, object[earlier]);
        }
        setProperty(copy, key, encoded);
      }
    }
  } catch (error) {
    throw addSegment(error, keySegment(keys[i] as string));
  }
  leave(object, depth, walk);
  if (hasOwn(object, TAG)) return { $: 'obj', v: copy ?? object };
  return copy ?? object;
}

/** Own enumerable properties with their values encoded; keys are kept literally. */
function encodeFields(source: object, keys: readonly string[], depth: number, walk: Walk, prefix: string): Obj {
  const fields: Obj = {};
  let key = '';
  try {
    for (key of keys) setProperty(fields, key, encode((source as Obj)[key], depth, walk));
  } catch (error) {
    throw addSegment(error, prefix + keySegment(key));
  }
  return fields;
}

/** Non-plain objects: the supported built-in types, or a descriptive failure. */
function encodeSpecial(value: object, depth: number, walk: Walk): unknown {
  const proto: unknown = getPrototypeOf(value);
  if (proto === Date.prototype) {
    const time = (value as Date).getTime();
    return { $: 'date', v: time === time ? (value as Date).toISOString() : null };
  }
  if (Buffer.isBuffer(value)) return { $: 'buf', v: value.toString('base64') };
  if (proto === Uint8Array.prototype) {
    const bytes = value as Uint8Array;
    return { $: 'u8', v: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  }
  if (proto === Map.prototype) return encodeMap(value as Map<unknown, unknown>, depth, walk);
  if (proto === Set.prototype) return encodeSet(value as Set<unknown>, depth, walk);
  if (value instanceof Error || types.isNativeError(value)) return encodeError(value as Error, depth, walk);
  throw new Unencodable(describeObject(value));
}

function encodeMap(map: Map<unknown, unknown>, depth: number, walk: Walk): unknown {
  enter(map, depth, walk);
  const entries: unknown[] = [];
  let index = 0;
  let segment = '';
  try {
    for (const [key, value] of map) {
      segment = `.keys()[${index}]`;
      const encodedKey = encode(key, depth + 1, walk);
      segment = mapValueSegment(key, index);
      entries.push([encodedKey, encode(value, depth + 1, walk)]);
      index++;
    }
  } catch (error) {
    throw addSegment(error, segment);
  }
  leave(map, depth, walk);
  return { $: 'map', v: entries };
}

function encodeSet(set: Set<unknown>, depth: number, walk: Walk): unknown {
  enter(set, depth, walk);
  const items: unknown[] = [];
  try {
    for (const item of set) items.push(encode(item, depth + 1, walk));
  } catch (error) {
    throw addSegment(error, `.values()[${items.length}]`);
  }
  leave(set, depth, walk);
  return { $: 'set', v: items };
}

function encodeError(error: Error, depth: number, walk: Walk): unknown {
  enter(error, depth, walk);
  const name: unknown = error.name;
  const message: unknown = error.message;
  const stack: unknown = error.stack;
  const out: Obj = {
    $: 'err',
    n: typeof name === 'string' ? name : 'Error',
    m: typeof message === 'string' ? message : '',
  };
  if (typeof stack === 'string') out.s = stack;
  let segment = '.cause';
  try {
    if (hasOwn(error, 'cause') && !isEnumerable(error, 'cause')) out.c = encode(error.cause, depth + 1, walk);
    segment = '.errors';
    if (hasOwn(error, 'errors') && !isEnumerable(error, 'errors')) {
      out.a = encode((error as Error & { errors: unknown }).errors, depth + 1, walk);
    }
  } catch (failure) {
    throw addSegment(failure, segment);
  }
  const keys = Object.keys(error);
  if (keys.length > 0) {
    const fieldKeys = keys.filter((key) => key !== 'message' && key !== 'stack');
    if (fieldKeys.length > 0) out.f = encodeFields(error, fieldKeys, depth + 1, walk, '');
  }
  leave(error, depth, walk);
  return out;
}

function walkRoot(value: unknown, what: string): unknown {
  try {
    return encode(value, 0, { ancestors: [], deep: undefined });
  } catch (error) {
    if (error instanceof Unencodable) {
      const segments = error.segments.reverse();
      const path = '$' + segments.join('');
      let description = error.description;
      if (error.cycleDepth >= 0) {
        description += ` back to ${'$' + segments.slice(0, error.cycleDepth).join('')} (cycles cannot be stored)`;
      }
      throw new SerializationError(`Cannot serialize ${what}: value at ${path} is ${description}. ${PLAIN_DATA}`, path);
    }
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new SerializationError(
        `Cannot serialize ${what}: the value is nested too deeply to store. ${PLAIN_DATA}`,
        '$',
      );
    }
    throw error;
  }
}

/**
 * Encodes a value to the text stored in Postgres. `what` names the value in error messages
 * ("workflow input", "step output", …). Throws SerializationError for anything it cannot store.
 */
export function serialize(value: unknown, what: string): string {
  return JSON.stringify(walkRoot(value, what));
}

// ---------------------------------------------------------------------------------------------------
// deserialize
// ---------------------------------------------------------------------------------------------------

/** Decodes a freshly parsed JSON value, replacing tagged objects in place. */
function decode(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) value[i] = decode(item);
    }
    return value;
  }
  const object = value as Obj;
  if (hasOwn(object, TAG)) return decodeTagged(object);
  decodeValuesInPlace(object);
  return object;
}

function decodeValuesInPlace(object: Obj): void {
  for (const key of Object.keys(object)) {
    const item = object[key];
    // Assigning to an existing own property never reaches the `__proto__` setter.
    if (typeof item === 'object' && item !== null) object[key] = decode(item);
  }
}

function decodeTagged(tagged: Obj): unknown {
  const tag = tagged.$;
  const v = tagged.v;
  switch (tag) {
    case 'undef':
      return undefined;
    case 'num':
      switch (v) {
        case 'NaN':
          return NaN;
        case 'Infinity':
          return Infinity;
        case '-Infinity':
          return -Infinity;
        case '-0':
          return -0;
      }
      break;
    case 'big':
      if (typeof v === 'string') return BigInt(v);
      break;
    case 'date':
      if (typeof v === 'string' || v === null) return new Date(v === null ? NaN : v);
      break;
    case 'map':
      if (isArray(v)) {
        const map = new Map<unknown, unknown>();
        for (const entry of v) {
          if (!isArray(entry) || entry.length !== 2) throw corrupt('a Map entry is not a [key, value] pair');
          map.set(decode(entry[0]), decode(entry[1]));
        }
        return map;
      }
      break;
    case 'set':
      if (isArray(v)) {
        const set = new Set<unknown>();
        for (const item of v) set.add(decode(item));
        return set;
      }
      break;
    case 'u8':
      if (typeof v === 'string') return new Uint8Array(Buffer.from(v, 'base64'));
      break;
    case 'buf':
      if (typeof v === 'string') return Buffer.from(v, 'base64');
      break;
    case 'err':
      return decodeError(tagged);
    case 'obj':
      if (typeof v === 'object' && v !== null && !isArray(v)) {
        decodeValuesInPlace(v as Obj);
        return v;
      }
      break;
    default:
      throw corrupt(`unknown tag ${JSON.stringify(tag)}`);
  }
  throw corrupt(`malformed ${JSON.stringify(tag)} value`);
}

function defineOwn(target: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable, configurable: true });
}

function decodeError(tagged: Obj): Error {
  const name = typeof tagged.n === 'string' ? tagged.n : 'Error';
  const message = typeof tagged.m === 'string' ? tagged.m : '';
  const options = hasOwn(tagged, 'c') ? { cause: decode(tagged.c) } : undefined;
  const hasErrors = hasOwn(tagged, 'a');
  const errors = hasErrors ? decode(tagged.a) : undefined;
  let error: Error;
  let errorsRestored = !hasErrors;
  if (name === 'AggregateError') {
    error = new AggregateError(isArray(errors) ? errors : [], message, options);
    errorsRestored = !hasErrors || isArray(errors);
  } else {
    error = new (BUILTIN_ERRORS[name] ?? Error)(message, options);
    const ballastPrototype = BUILTIN_ERRORS[name] ? undefined : ballastErrorPrototype(name);
    if (ballastPrototype) Object.setPrototypeOf(error, ballastPrototype);
  }
  if (!errorsRestored) defineOwn(error, 'errors', errors, false);
  if (typeof tagged.s === 'string') defineOwn(error, 'stack', tagged.s, false);
  else delete (error as { stack?: string }).stack;
  const fields = tagged.f;
  const hasFields = typeof fields === 'object' && fields !== null;
  if (error.name !== name && !(hasFields && hasOwn(fields, 'name'))) defineOwn(error, 'name', name, false);
  if (hasFields) {
    for (const key of Object.keys(fields)) defineOwn(error, key, decode((fields as Obj)[key]), true);
  }
  return error;
}

function corrupt(detail: string): SerializationError {
  return new SerializationError(`Cannot deserialize stored value: ${detail}. The stored text is not Ballast's format.`, '$');
}

/** The inverse of `serialize`: `deserialize(serialize(x))` deep-equals `x` for every supported value. */
export function deserialize(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw corrupt(`invalid JSON (${(error as Error).message})`);
  }
  // Every tag and every escaped object has a "$" key; without one the parsed JSON is the value.
  if (text.indexOf('"$"') === -1) return parsed;
  try {
    return decode(parsed);
  } catch (error) {
    if (error instanceof SerializationError) throw error;
    throw corrupt(error instanceof Error ? error.message : String(error));
  }
}

// ---------------------------------------------------------------------------------------------------
// errors thrown by user code
// ---------------------------------------------------------------------------------------------------

/**
 * Encodes whatever user code threw, and never throws. A serializable value is stored as is; an Error
 * with unserializable fields, or a thrown class instance, function or symbol, is stored as a plain
 * Error with the same name, message and stack and only the fields that serialize.
 */
export function serializeError(error: unknown): string {
  try {
    return serialize(error, 'error');
  } catch {
    // fall back below
  }
  try {
    return serialize(toStorableError(error, new Set()), 'error');
  } catch {
    // fall back below
  }
  try {
    return serialize(new Error(`A value that cannot be stored was thrown: ${safeDescribe(error)}.`), 'error');
  } catch {
    return '{"$":"err","n":"Error","m":"A value that cannot be stored was thrown."}';
  }
}

function isStorable(value: unknown): boolean {
  try {
    walkRoot(value, 'value');
    return true;
  } catch {
    return false;
  }
}

/** Best effort: a storable value for `value` as an error field, or `undefined` to drop it. */
function storableField(value: unknown, seen: Set<unknown>): { value: unknown } | undefined {
  if (isStorable(value)) return { value };
  if (typeof value === 'object' && value !== null && !seen.has(value)) {
    if (value instanceof Error || types.isNativeError(value)) return { value: toStorableError(value, seen) };
  }
  return undefined;
}

function toStorableError(thrown: unknown, seen: Set<unknown>): Error {
  seen.add(thrown);
  const isError = thrown instanceof Error || types.isNativeError(thrown);
  const source = (typeof thrown === 'object' && thrown !== null) || typeof thrown === 'function' ? (thrown as Obj) : undefined;
  const name = isError ? readString(source, 'name') : undefined;
  const message = readString(source, 'message');
  const stack = readString(source, 'stack');
  const out = new Error(
    message ?? (isError ? '' : `A value that cannot be stored was thrown: ${safeDescribe(thrown)}.`),
  );
  const className = isError || typeof thrown !== 'object' ? undefined : constructorName(thrown);
  const outName = name || (className !== undefined && className !== 'Object' ? className : 'Error');
  if (outName !== 'Error') defineOwn(out, 'name', outName, false);
  if (stack !== undefined) defineOwn(out, 'stack', stack, false);
  else delete (out as { stack?: string }).stack;
  if (source === undefined) return out;

  for (const key of ['cause', 'errors']) {
    try {
      if (hasOwn(source, key) && !isEnumerable(source, key)) {
        let field = storableField(source[key], seen);
        if (key === 'errors' && field === undefined && isArray(source[key])) {
          field = { value: storableItems(source[key] as unknown[], seen) };
        }
        if (field !== undefined) defineOwn(out, key, field.value, false);
      }
    } catch {
      // unreadable: drop
    }
  }
  let keys: string[] = [];
  try {
    keys = Object.keys(source);
  } catch {
    // unreadable: no fields
  }
  for (const key of keys) {
    if (key === 'message' || key === 'stack') continue;
    try {
      const field = storableField(source[key], seen);
      if (field !== undefined) defineOwn(out, key, field.value, true);
    } catch {
      // unreadable: drop
    }
  }
  return out;
}

function storableItems(items: unknown[], seen: Set<unknown>): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    const field = storableField(item, seen);
    if (field !== undefined) out.push(field.value);
  }
  return out;
}

function readString(source: Obj | undefined, key: string): string | undefined {
  if (source === undefined) return undefined;
  try {
    const value = source[key];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// payload size
// ---------------------------------------------------------------------------------------------------

/** Throws PayloadTooLargeError when `text` is over `limit` bytes of UTF-8. */
export function checkPayloadSize(text: string, limit: number, what: string): void {
  // A UTF-16 code unit is at most 3 bytes of UTF-8: short texts need no byte count.
  if (text.length * 3 <= limit) return;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limit) throw new PayloadTooLargeError(what, bytes, limit);
}

// ---------------------------------------------------------------------------------------------------
// descriptions for error messages (failure path only)
// ---------------------------------------------------------------------------------------------------

function keySegment(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function mapValueSegment(key: unknown, index: number): string {
  switch (typeof key) {
    case 'string':
      return `.get(${JSON.stringify(key)})`;
    case 'number':
    case 'boolean':
    case 'undefined':
      return `.get(${String(key)})`;
    case 'bigint':
      return `.get(${key}n)`;
    default:
      return key === null ? '.get(null)' : `.values()[${index}]`;
  }
}

function constructorName(value: unknown): string | undefined {
  try {
    const proto: unknown = getPrototypeOf(value);
    if (proto === null || typeof proto !== 'object') return undefined;
    const ctor: unknown = (proto as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name !== '') return ctor.name;
  } catch {
    // fall through
  }
  return undefined;
}

function describeObject(value: object): string {
  if (types.isPromise(value)) return 'a Promise (await it and pass its result)';
  const name = constructorName(value);
  if (name === undefined || name === 'Object') return 'an object with a custom prototype, not a plain object';
  const base = isArray(value)
    ? 'Array'
    : value instanceof Map
      ? 'Map'
      : value instanceof Set
        ? 'Set'
        : value instanceof Date
          ? 'Date'
          : undefined;
  if (base !== undefined) return `an instance of class ${name}, a subclass of ${base} (pass a plain ${base})`;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return `an instance of class ${name} (of binary types only Uint8Array and Buffer are supported)`;
  }
  return `an instance of class ${name} (convert it to a plain object first)`;
}

function safeDescribe(value: unknown): string {
  try {
    switch (typeof value) {
      case 'function':
        return 'a function';
      case 'symbol':
        return `a symbol (${value.toString()})`;
      case 'object': {
        if (value === null) return 'null';
        const name = constructorName(value);
        return name === undefined ? 'an object with a custom prototype' : `an instance of class ${name}`;
      }
      default:
        return `a ${typeof value}`;
    }
  } catch {
    return 'an unreadable value';
  }
}

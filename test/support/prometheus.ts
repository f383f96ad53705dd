// A strict reader of the Prometheus text exposition format (version 0.0.4), enough for tests to
// check that /metrics parses and holds the expected series: every line is a comment (# HELP, # TYPE)
// or a sample `name{label="value",...} number`, and every sample's family was declared with a TYPE.
import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?(?:[0-9.eE+-]+|NaN|\+Inf|-Inf))$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', ''];

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      assert.ok(name && type && ['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type), `a valid TYPE line: ${line}`);
      types.set(name, type);
      continue;
    }
    assert.ok(!line.startsWith('#'), `only HELP and TYPE comments: ${line}`);
    const match = SAMPLE.exec(line);
    assert.ok(match, `a well-formed sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = match[3] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const label = LABEL.exec(body);
      assert.ok(label, `well-formed labels: ${line}`);
      labels[label[1] as string] = (label[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const name = match[1] as string;
    const family = SUFFIXES.map((suffix) => (suffix && name.endsWith(suffix) ? name.slice(0, -suffix.length) : name)).find((f) => types.has(f));
    assert.ok(family, `sample ${name} belongs to a declared family`);
    samples.push({ name, labels, value: Number(match[4]) });
  }
  return { types, samples };
}

/** The value of the one sample with this name and (at least) these labels; undefined when none. */
export function sampleValue(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = exposition.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v));
  assert.ok(found.length <= 1, `at most one ${name} sample with ${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]?.value;
}

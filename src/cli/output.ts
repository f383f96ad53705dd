import { inspect } from 'node:util';
import type { CliIo } from './context.js';

/**
 * Rendering for the CLI: JSON for machines (`--json`), aligned tables and field lists for people.
 * Commands build plain data and choose one of these; nothing here knows about workflows.
 */
export class Output {
  constructor(private readonly io: CliIo) {}

  /** Pretty-printed JSON document followed by a newline. Dates become ISO 8601 strings. */
  json(value: unknown): void {
    this.io.out(`${JSON.stringify(value, null, 2)}\n`);
  }

  line(text = ''): void {
    this.io.out(`${text}\n`);
  }

  /** A table with a header row; cells are single-line and cut to `maxWidth` characters. */
  table(columns: readonly Column[], rows: readonly (readonly string[])[]): void {
    this.io.out(renderTable(columns, rows));
  }

  /** `Label   value` lines, labels aligned. Multi-line values are indented under their label. */
  fields(pairs: readonly (readonly [string, string])[]): void {
    this.io.out(renderFields(pairs));
  }
}

export interface Column {
  header: string;
  /** Longest cell before it is cut with an ellipsis. Default 60. */
  maxWidth?: number;
  align?: 'left' | 'right';
}

export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => columns.map((column, i) => cut(oneLine(row[i] ?? ''), column.maxWidth ?? 60)));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((row) => (row[i] ?? '').length)));
  const render = (row: readonly string[]) =>
    row
      .map((cell, i) => (columns[i]?.align === 'right' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[render(columns.map((column) => column.header)), ...cells.map(render)].join('\n')}\n`;
}

export function renderFields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([label]) => label.length));
  return pairs
    .map(([label, value]) => {
      const [first = '', ...rest] = value.split('\n');
      return [`${label.padEnd(width)}  ${first}`.trimEnd(), ...rest.map((line) => `${' '.repeat(width + 2)}${line}`)].join('\n');
    })
    .map((line) => `${line}\n`)
    .join('');
}

/** Placeholder for an absent value in human output. */
export const NONE = '-';

export function formatTime(value: Date | null | undefined): string {
  return value ? value.toISOString() : NONE;
}

/** 850 ms, 2.35 s, 4m 05s, 3h 02m, 2d 04h */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return NONE;
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(2)} s`;
  const pad = (n: number) => String(Math.floor(n)).padStart(2, '0');
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m ${pad((ms % 60_000) / 1_000)}s`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)}h ${pad((ms % 3_600_000) / 60_000)}m`;
  return `${Math.floor(ms / 86_400_000)}d ${pad((ms % 86_400_000) / 3_600_000)}h`;
}

/** A period in the largest unit that divides it, as durations are written in the API: 1m, 30s, 1500ms. */
export function formatPeriod(ms: number): string {
  const units: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]];
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/**
 * A decoded workflow value for people: JavaScript notation (so Dates, BigInts, Maps and Sets read as
 * what they are), errors as `Name: message`, with the stack when `verbose`.
 */
export function formatValue(value: unknown, options: { verbose?: boolean } = {}): string {
  if (value instanceof Error) return options.verbose && value.stack ? value.stack : `${value.name}: ${value.message}`;
  return inspect(value, { depth: 6, breakLength: Infinity, compact: true, maxArrayLength: 50, maxStringLength: 2_000, colors: false });
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

// Numbers, times and durations as the dashboard writes them: short, exact enough, the same on every screen.

/** 850 ms, 12.4 s, 3 min 20 s, 2 h 5 min, 3 d 4 h. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const abs = Math.abs(ms);
  const sign = ms < 0 ? '-' : '';
  if (abs < 1_000) return `${sign}${Math.round(abs)} ms`;
  if (abs < 60_000) return `${sign}${(abs / 1_000).toFixed(abs < 10_000 ? 2 : 1)} s`;
  const units: Array<[number, string]> = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1_000, 's'],
  ];
  const parts: string[] = [];
  let rest = abs;
  for (const [size, unit] of units) {
    if (rest >= size || parts.length > 0) {
      const n = Math.floor(rest / size);
      rest -= n * size;
      parts.push(`${n} ${unit}`);
      if (parts.length === 2) break;
    }
  }
  return sign + parts.filter((part) => !part.startsWith('0 ')).join(' ');
}

/** "12 s ago", "in 3 min": a time relative to `now`. */
export function formatRelative(at: Date | number | null | undefined, now = Date.now()): string {
  if (at === null || at === undefined) return '—';
  const ms = (at instanceof Date ? at.getTime() : at) - now;
  if (Math.abs(ms) < 1_000) return 'now';
  // Whole seconds: a live page's text then changes once a second at most, not at every render.
  const rounded = Math.round(Math.abs(ms) / 1_000) * 1_000;
  const text = rounded < 60_000 ? `${rounded / 1_000} s` : formatDuration(rounded);
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

/** 2026-12-04 16:40:12 UTC */
export function formatTime(at: Date | number | null | undefined): string {
  if (at === null || at === undefined) return '—';
  const date = at instanceof Date ? at : new Date(at);
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** 1,234,567 */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A value as indented JSON, at most `max` characters (the rest is cut; the raw download has all of it). */
export function prettyJson(value: unknown, max: number): { text: string; truncated: boolean; bytes: number } {
  const text = JSON.stringify(value, null, 2) ?? 'undefined';
  return { text: text.length > max ? `${text.slice(0, max)}\n…` : text, truncated: text.length > max, bytes: Buffer.byteLength(text) };
}

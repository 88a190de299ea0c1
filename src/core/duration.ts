/**
 * Durations as people write them on command lines ("500ms", "30s", "5m", "24h", or a bare number
 * of seconds), parsed to milliseconds with an error that names the flag.
 */

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`${field}: "${text}" is not a duration (e.g. 500ms, 30s, 5m, 24h)`);
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`${field}: must be more than zero, got "${text}"`);
  return Math.round(ms);
}

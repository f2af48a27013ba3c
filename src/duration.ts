/** Durations as timeout(1) takes them: a number, in seconds unless it ends in ms, s, m, h or d. */
import {JailError} from './errors.js';

const UNITS: Record<string, number> = {ms: 1, s: 1000, '': 1000, m: 60_000, h: 3_600_000, d: 86_400_000};

/** Milliseconds, whole; `option` names the option in the one-line error. */
export const parseDuration = (text: string, option: string): number => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text);
  const ms = match === null ? NaN : Math.round(Number(match[1]) * UNITS[match[2] ?? '']!);
  // setTimeout takes at most 2^31-1 ms (about 24.8 days); a longer wait would fire at once.
  if (!Number.isSafeInteger(ms) || ms > 2 ** 31 - 1) {
    throw new JailError('usage', `${option} must be a duration such as 90s, 10m or 1.5h (at most 24d), got ${JSON.stringify(text)}`);
  }
  return ms;
};

/** A duration as the user would write it back: 1500 → 1.5s, 600000 → 10m. */
export const formatDuration = (ms: number): string => {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
};

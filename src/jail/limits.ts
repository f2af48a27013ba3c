/**
 * --limit NAME=VALUE: the kernel's resource limits that make sense per jail, set (soft and
 * hard alike, so nothing in the jail raises them) by prlimit(1) on bubblewrap, whose every
 * process inherits them. Pure: parsing, the check against the caller's hard limits (the text
 * of /proc/self/limits), and prlimit's words.
 */
import {JailError} from '../errors.js';

interface LimitKind {
  /** prlimit's option. */
  option: string;
  /** The row of /proc/self/limits. */
  row: string;
  unit: 'count' | 'bytes' | 'seconds';
  /** The least value that leaves a program able to start. */
  least: number;
  what: string;
}

export const LIMITS: Readonly<Record<string, LimitKind>> = {
  as: {option: '--as', row: 'Max address space', unit: 'bytes', least: 1, what: 'address space'},
  nofile: {option: '--nofile', row: 'Max open files', unit: 'count', least: 1, what: 'open files'},
  nproc: {option: '--nproc', row: 'Max processes', unit: 'count', least: 1, what: 'processes of the user'},
  cpu: {option: '--cpu', row: 'Max cpu time', unit: 'seconds', least: 1, what: 'CPU seconds'},
  fsize: {option: '--fsize', row: 'Max file size', unit: 'bytes', least: 0, what: 'file size'},
  core: {option: '--core', row: 'Max core file size', unit: 'bytes', least: 0, what: 'core file size'},
};

export interface Limit {
  name: string;
  value: number;
}

const POWERS: Record<string, number> = {'': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3};

/** A size as these options take it, `512M` or `2G` (powers of 1024; bytes without a unit): NaN for anything else. */
export const sizeInBytes = (text: string): number => {
  const match = /^(\d+)([KMG]?)$/.exec(text);
  return match === null ? NaN : Number(match[1]) * POWERS[match[2]!]!;
};

/** `NAME=VALUE`; sizes take K, M or G (powers of 1024). */
export const parseLimit = (text: string): Limit => {
  const at = text.indexOf('=');
  const name = text.slice(0, at);
  const kind = at === -1 ? undefined : LIMITS[name];
  if (kind === undefined) {
    throw new JailError('usage', `--limit needs NAME=VALUE with NAME one of ${Object.keys(LIMITS).join(', ')}, got ${JSON.stringify(text)}`);
  }
  const raw = text.slice(at + 1);
  const value = kind.unit === 'bytes' ? sizeInBytes(raw) : /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < kind.least) {
    const form = kind.unit === 'bytes' ? 'a size such as 512M or 2G' : kind.unit === 'seconds' ? 'a number of seconds' : 'a number';
    throw new JailError('usage', `--limit ${name} must be ${form}${kind.least > 0 ? `, at least ${kind.least}` : ''}, got ${JSON.stringify(raw)}`);
  }
  return {name, value};
};

/** The limits asked for, the last of each name winning, in LIMITS' order. */
export const parseLimits = (texts: readonly string[]): Limit[] => {
  const byName = new Map(texts.map(parseLimit).map(limit => [limit.name, limit]));
  return Object.keys(LIMITS).flatMap(name => byName.get(name) ?? []);
};

/** The caller's hard limit of each row of /proc/self/limits (undefined: unlimited). */
export const hardLimits = (procLimits: string): Map<string, number | undefined> => {
  const hard = new Map<string, number | undefined>();
  for (const line of procLimits.split('\n')) {
    const match = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (match === null || match[1] === 'Limit') continue;
    hard.set(match[1]!, match[3] === 'unlimited' ? undefined : Number(match[3]));
  }
  return hard;
};

/** A limit above the caller's hard limit cannot be set: the one-line reason, or undefined. */
export const aboveHardLimit = (limits: readonly Limit[], procLimits: string): string | undefined => {
  const hard = hardLimits(procLimits);
  for (const {name, value} of limits) {
    const ceiling = hard.get(LIMITS[name]!.row);
    if (ceiling !== undefined && value > ceiling) return `--limit ${name}=${value} is above your hard limit of ${ceiling} (${LIMITS[name]!.what}): it cannot be raised`;
  }
  return undefined;
};

/** prlimit's words before bubblewrap: each limit, soft and hard. None for no limits. */
export const prlimitWords = (limits: readonly Limit[]): string[] =>
  limits.length === 0 ? [] : ['prlimit', ...limits.map(({name, value}) => `${LIMITS[name]!.option}=${value}:${value}`), '--'];

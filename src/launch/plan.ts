/**
 * Launch plans, as pure functions: what a wrap launcher needs to start a warm jail without
 * Node. A plan holds the chain's command line as shell words (made by the same launchArgv
 * as exec's), and what must still hold for it to be the command line exec would run now:
 * stat patterns of the paths it depends on (the store, the mask's layer, the files bubblewrap
 * reads, the binds) and the values of the variables planning read. The launcher reads the
 * plan as data and runs none of it until the plan itself, its directory and every pattern
 * have been checked (launcher.ts).
 *
 * Two things differ between starts and stay symbolic in the words: the caller's terminal
 * (bound at the jail's /dev/tty) and the variables a jail keeps from the caller (TERM,
 * --keep-env), each set in the jail only when set in the caller, as exec does.
 */
import {JailError} from '../errors.js';
import type {Strategy} from '../mount/strategy.js';
import {shellQuote} from './shell.js';

export const PLAN_MAGIC = 'nix-overlay-jail launch plan 2';

/** What the launcher asks stat(1) of each path: owner, raw mode, device, inode, mtime, ctime, device numbers. */
export const STAT_FORMAT = '%u %f %d %i %.9Y %.9Z %t %T';

/** Stand-ins in a template command line (a NUL never reaches a real one). */
export const TERMINAL_MARK = '\0terminal';
const ENV_MARK = '\0env:';
export const envMark = (name: string): string => `${ENV_MARK}${name}`;

/** The files bubblewrap reads on descriptors, as the plan directory holds them, in descriptor order after the status one. */
export const PLAN_FILES = ['seccomp', 'passwd', 'group', 'hosts'] as const;
/** The file of the command line (wordsText). */
export const WORDS_FILE = 'words';
/** The file of the plan's mounting way: a hint read before the plan is checked, which the words must bear out. */
export const WAY_FILE = 'way';

export interface PathCheck {
  path: string;
  /** A shell pattern over the path's stat line (STAT_FORMAT): `* * 2049 1234 1700000000.000000000 * * *`. */
  pattern: string;
}

export interface LaunchPlan {
  /** The mask directory the jail registers on (jails/PID), as exec does. */
  mask: string;
  /**
   * How the overlay is mounted (WAY_FILE, beside the plan): a launcher starts the chain's
   * namespaces (UNSHARE) while it checks the plan, and the chain's words must then begin so.
   */
  way: Strategy;
  checks: PathCheck[];
  /** The host name (the jail's /etc/hosts names it): the launcher reads /proc/sys/kernel/hostname. */
  hostname: string;
  /** Variables whose values planning depended on: each must be as recorded (undefined: unset). */
  env: Array<[string, string | undefined]>;
  /** The chain's command line as shell words, without the launcher's own arguments. */
  words: string;
}

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Nanoseconds since the epoch as stat's %.9Y prints them: `1700000000.000000001`. */
export const statTime = (ns: string | bigint): string => {
  const value = BigInt(ns);
  const second = value / 1_000_000_000n;
  const fraction = value % 1_000_000_000n;
  return `${second}.${fraction.toString().padStart(9, '0')}`;
};

export interface StatFields {
  uid?: number | bigint;
  /** The raw mode (type and permission bits), as stat's %f prints it in hex. */
  mode?: number | bigint;
  dev?: number | bigint;
  ino?: number | bigint;
  mtimeNs?: string | bigint;
  ctimeNs?: string | bigint;
}

/** A stat pattern: each field given must match exactly, the others may be anything. */
export const statPattern = (fields: StatFields): string =>
  [fields.uid ?? '*', fields.mode === undefined ? '*' : BigInt(fields.mode).toString(16), fields.dev ?? '*', fields.ino ?? '*', fields.mtimeNs === undefined ? '*' : statTime(fields.mtimeNs), fields.ctimeNs === undefined ? '*' : statTime(fields.ctimeNs), '*', '*']
    .map(String).join(' ');

/**
 * A template command line as shell words: literal words quoted, the terminal and the kept
 * variables as expansions the launcher's shell makes at each start
 * (`${noj_tty:+--dev-bind} ...`, `${TERM+--setenv} ${TERM+TERM} ${TERM+"$TERM"}`).
 */
export const shellWords = (template: readonly string[]): string => {
  const out: string[] = [];
  for (let at = 0; at < template.length; at++) {
    const word = template[at]!;
    if (word === '--dev-bind' && template[at + 1] === TERMINAL_MARK) {
      out.push('${noj_tty:+--dev-bind}', '${noj_tty:+"$noj_tty"}', '${noj_tty:+/dev/tty}');
      at += 2;
      continue;
    }
    const value = template[at + 2];
    if (word === '--setenv' && value?.startsWith(ENV_MARK)) {
      const name = value.slice(ENV_MARK.length);
      if (template[at + 1] !== name || !SHELL_NAME.test(name)) throw new JailError('usage', `a launch plan cannot keep the variable ${JSON.stringify(name)}`);
      out.push(`\${${name}+--setenv}`, `\${${name}+${name}}`, `\${${name}+"$${name}"}`);
      at += 2;
      continue;
    }
    if (word.includes('\0') || word.includes('\n')) throw new JailError('usage', `a launch plan cannot hold the word ${JSON.stringify(word)}`);
    out.push(shellQuote(word));
  }
  return out.join(' ');
};

/**
 * The command line as the launcher takes it, once the plan is vouched for: a file it sources
 * (read buffered: `read` takes a line a byte at a time), setting its arguments to the chain's
 * followed by its own.
 */
export const wordsText = (words: string): string => `set -- ${words} "$@"\n`;

/** The plan as the launcher reads it: one item per line, counts before lists (the words apart, in wordsText). */
export const planText = (plan: LaunchPlan): string => {
  const lines = [
    PLAN_MAGIC,
    plan.mask,
    plan.hostname,
    String(plan.checks.length),
    ...plan.checks.map(check => check.path),
    ...plan.checks.map(check => check.pattern),
    String(plan.env.length),
    ...plan.env.map(([name, value]) => (value === undefined ? `-${name}` : `+${name}=${value}`)),
    'end',
  ];
  for (const [name] of plan.env) if (!SHELL_NAME.test(name)) throw new JailError('usage', `a launch plan cannot check the variable ${JSON.stringify(name)}`);
  if (lines.some(line => line.includes('\n') || line.includes('\0'))) throw new JailError('usage', 'a launch plan cannot hold a newline or a NUL in a path, a value or a word');
  return `${lines.join('\n')}\n`;
};

/**
 * What every command's definition shares: the Command shape the dispatcher (cli.ts) runs,
 * the closure and mask options with their help, and small helpers for printing.
 */
import fs from 'node:fs';
import process from 'node:process';
import type {FlagSpec} from '../argv.js';
import {JailError} from '../errors.js';
import {isBusName} from '../host/desktop.js';
import {parseAllowance} from '../net/allow.js';

export const CLOSURE_HELP = `
  Where the closure comes from (for closure, build, exec):
    PATH...                  store paths, or paths that lead into the store (symlinks such as
                             ~/.nix-profile/bin/hello, files inside a store path); their closures
                             come from nix-store -qR unless a closure file or graph holds them
    --closure-file FILE      a closure, one store path per line (closureInfo's store-paths); - is stdin
    --graph FILE             JSON of 'nix path-info --json --recursive' (array or object form)
    --also PATH              add PATH and its closure (repeatable)
    --store DIR              the host directory holding the store (default /nix/store); inside
                             the jail it always appears at /nix/store`;

export const MASK_HELP = `
  The mask:
    --cache-dir DIR          where masks are kept (default $XDG_CACHE_HOME/nix-overlay-jail,
                             or /var/cache/nix-overlay-jail for root)
    --exec-only              make /nix/store execute-only: closure paths resolve, listing fails.
                             It stops discovery, not access: the store hashes of anything
                             built from nixpkgs are public, so what keeps a known path out is
                             the mask (a whiteout, or its absence from an allowlist)
    --mode MODE              auto (default), whiteout or allowlist. A whiteout mask hides what
                             the store held when it was last refreshed; an allowlist mask
                             (real root only) shows the closure and never a later store path.
                             auto takes the allowlist where it can work`;

export type Flags = Record<string, FlagSpec>;

export interface Command {
  summary: string;
  usage: string;
  body: string;
  flags: Flags;
  stopAtFirstOperand?: boolean;
  passThrough?: string[];
  /** `options` are the normalised option words (`--name=value`), for commands that pass them on. */
  run: (flags: Record<string, unknown>, operands: string[], options: string[]) => Promise<number>;
}

export const closureFlags: Flags = {
  closureFile: {type: 'string', isMultiple: true},
  graph: {type: 'string', isMultiple: true},
  also: {type: 'string', isMultiple: true},
  store: {type: 'string', default: '/nix/store'},
};

export const maskFlags: Flags = {
  cacheDir: {type: 'string'},
  mode: {type: 'string', default: 'auto', choices: ['auto', 'whiteout', 'allowlist']},
  execOnly: {type: 'boolean', default: false},
};

/** Host resources: exec takes them, and verify to check the store paths they add. */
export const hostFlags: Flags = {
  bind: {type: 'string', isMultiple: true},
  roBind: {type: 'string', isMultiple: true},
  net: {type: 'boolean', default: false},
  gpu: {type: 'boolean', default: false},
  locale: {type: 'boolean', default: false},
  fonts: {type: 'boolean', default: false},
  wayland: {type: 'boolean', default: false},
  x11: {type: 'boolean', default: false},
  audio: {type: 'boolean', default: false},
  desktop: {type: 'boolean', default: false},
  talkName: {type: 'string', isMultiple: true},
  ownName: {type: 'string', isMultiple: true},
  seeName: {type: 'string', isMultiple: true},
  systemTalkName: {type: 'string', isMultiple: true},
  strict: {type: 'boolean', default: false},
  profile: {type: 'string', isMultiple: true},
  allowHost: {type: 'string', isMultiple: true},
  allowLocalhostPort: {type: 'string', isMultiple: true},
};

/** The host-resource options as exec and verify take them. */
export const hostOptions = (flags: Record<string, unknown>) => ({
  bind: asStrings(flags['bind']),
  roBind: asStrings(flags['roBind']),
  host: {
    net: Boolean(flags['net']),
    ca: asStrings(flags['allowHost']).length > 0,
    gpu: Boolean(flags['gpu']),
    locale: Boolean(flags['locale']),
    fonts: Boolean(flags['fonts']),
    wayland: Boolean(flags['wayland']),
    x11: Boolean(flags['x11']),
    audio: Boolean(flags['audio']),
    desktop: Boolean(flags['desktop']),
    talk: busNames(flags['talkName'], '--talk-name'),
    own: busNames(flags['ownName'], '--own-name'),
    see: busNames(flags['seeName'], '--see-name'),
    systemTalk: busNames(flags['systemTalkName'], '--system-talk-name'),
  },
  strict: Boolean(flags['strict']),
  allow: parseAllowance(asStrings(flags['allowHost']), asStrings(flags['allowLocalhostPort'])),
  warn: (line: string) => process.stderr.write(`nix-overlay-jail: ${line}\n`),
  env: process.env,
});

/** The names given to a D-Bus option, each checked: they become xdg-dbus-proxy's arguments. */
const busNames = (value: unknown, option: string): string[] =>
  asStrings(value).map(name => {
    if (!isBusName(name)) throw new JailError('usage', `${option} ${JSON.stringify(name)}: not a D-Bus name (such as org.example.App, or org.example.* for every name below it)`);
    return name;
  });

export const asStrings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

export const closureRequest = (flags: Record<string, unknown>, operands: string[]) => ({
  storeDir: String(flags['store']),
  roots: [...operands, ...asStrings(flags['also'])],
  closureFiles: asStrings(flags['closureFile']),
  graphs: asStrings(flags['graph']),
});

/** A progress bar on standard error, only when it is a terminal and the scan is long. */
export const progressBar = (): ((done: number, total: number | undefined) => void) | undefined => {
  if (!process.stderr.isTTY) return undefined;
  const started = Date.now();
  let drawn = false;
  return (done, total) => {
    if (!drawn && Date.now() - started < 300) return;
    const width = 30;
    const fraction = total ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
    process.stderr.write(`\rscanning store [${bar}] ${done}${total ? `/${total}` : ''} entries`);
    drawn = true;
    if (total !== undefined && done >= total) process.stderr.write('\n');
  };
};

/** The file this binary runs from (for launchers that call it back, and for meow). */
export const binaryPath = (): string => fs.realpathSync(process.argv[1] ?? '.');

/**
 * bubblewrap arguments and the jail's environment, as pure functions.
 *
 * The defaults are what a careful user expects of a jail: every namespace bubblewrap can make
 * (network only with --share-net), a fresh /proc, a minimal /dev, a tmpfs /tmp, death with the
 * parent, and an environment cleared down to PATH, HOME, TERM and what the user asks for.
 */
import path from 'node:path';
import {JailError} from '../errors.js';
import {coversStore, JAIL_STORE, SYSTEM_LINKS} from '../store.js';

export interface Bind {
  source: string;
  dest: string;
  readOnly: boolean;
}

/** How the store reaches the jail: a merged overlay to bind, or layers for bwrap to stack. */
export type StoreView =
  | {kind: 'bind'; merged: string}
  | {kind: 'overlay'; layersTopFirst: string[]};

export interface JailSpec {
  store: StoreView;
  /** The program as the jail sees it (`/nix/store/…/bin/x`) and its arguments. */
  argv: string[];
  env: Record<string, string>;
  shareNet: boolean;
  binds: Bind[];
  chdir?: string | undefined;
  /** Map this uid and gid into the jail's user namespace (the caller's own, seen from outside). */
  uid?: number | undefined;
  gid?: number | undefined;
  /** Directory to create empty in the jail (the caller's HOME, so it exists). */
  home?: string | undefined;
  /** Extra arguments for bubblewrap, placed after the defaults so they can refine them. */
  extra: string[];
  /** File descriptor bubblewrap reports the jail's pid and exit code on. */
  statusFd: number;
  /** File descriptor bubblewrap reads the seccomp filter from (see seccomp.ts). */
  seccompFd?: number | undefined;
  /** The caller's terminal device, bound at the jail's /dev/tty (see run.ts). */
  terminal?: string | undefined;
  /** Files bubblewrap writes read-only into the jail from descriptors (/etc/passwd, /etc/group). */
  files?: ReadonlyArray<{fd: number; dest: string}> | undefined;
  /** Device nodes (or directories of them) bound with device access at the same path (--gpu). */
  devices?: readonly string[] | undefined;
  /** Symbolic links to make in the jail (/bin/sh and /usr/bin/env into the closure). */
  links?: ReadonlyArray<{target: string; dest: string}> | undefined;
}

/** Split `SRC[:DEST]` as typed; DEST is the part after the last colon when it is absolute. */
export const splitBind = (value: string): [source: string, dest: string] => {
  const at = value.lastIndexOf(':');
  return at > 0 && value[at + 1] === '/' ? [value.slice(0, at), value.slice(at + 1)] : [value, value];
};

/** Parse `SRC[:DEST]` (see splitBind); a relative SRC is taken from the working directory. */
export const parseBind = (value: string, readOnly: boolean): Bind => {
  const [source, dest] = splitBind(value);
  if (source === '' || !path.isAbsolute(path.resolve(source))) throw new JailError('usage', `bad bind ${JSON.stringify(value)}`);
  const absoluteDest = path.resolve('/', dest);
  if (coversStore(absoluteDest)) {
    throw new JailError('usage', `refusing bind onto ${absoluteDest}: it would cover or replace the jail's /nix/store`);
  }
  return {source: path.resolve(source), dest: absoluteDest, readOnly};
};

/** Parse `NAME=VALUE` for --setenv. */
export const parseSetenv = (value: string): [string, string] => {
  const at = value.indexOf('=');
  const name = at === -1 ? '' : value.slice(0, at);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new JailError('usage', `--setenv needs NAME=VALUE, got ${JSON.stringify(value)}`);
  return [name, value.slice(at + 1)];
};

/** The jail's PATH: the roots' bin directories first, then the rest of the closure's, sorted. */
export const closureSearchPath = (roots: readonly string[], entriesWithBin: readonly string[]): string[] => {
  const withBin = new Set(entriesWithBin);
  const ordered = [...new Set([...roots.filter(root => withBin.has(root)), ...[...withBin].sort()])];
  return ordered.map(name => `${JAIL_STORE}/${name}/bin`);
};

/**
 * Which closure entry provides each system link: the roots' own first (`has` says whether a
 * root holds the file), then `firstInClosure` (the first of the closure's bin entries, sorted
 * as on the jail's PATH, that holds it). No entry is ever added for this.
 */
export const systemLinks = (
  roots: readonly string[],
  has: (entry: string, file: string) => boolean,
  firstInClosure: (file: string) => string | undefined,
): Array<{target: string; dest: string}> => {
  const links: Array<{target: string; dest: string}> = [];
  for (const [file, dest] of SYSTEM_LINKS) {
    const provider = roots.find(root => has(root, file)) ?? firstInClosure(file);
    if (provider !== undefined) links.push({target: `${JAIL_STORE}/${provider}/${file}`, dest});
  }
  return links;
};

export interface EnvironmentRequest {
  host: Readonly<Record<string, string | undefined>>;
  path: readonly string[];
  keep: readonly string[];
  set: ReadonlyArray<readonly [string, string]>;
}

/** The jail's whole environment: nothing from the host unless kept by name. */
export const jailEnvironment = ({host, path: searchPath, keep, set}: EnvironmentRequest): Record<string, string> => {
  const env: Record<string, string> = {PATH: searchPath.join(':')};
  for (const name of ['HOME', 'TERM', ...keep]) {
    const value = host[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of set) env[name] = value;
  return env;
};

export const bwrapArgs = (spec: JailSpec): string[] => {
  const args = [
    '--unshare-user',
    // No user namespaces inside: a nested one would give the program capabilities over new
    // mounts of its own (unshare, mount) — harmless to the store, but attack surface.
    '--disable-userns',
    ...(spec.uid === undefined ? [] : ['--uid', String(spec.uid)]),
    ...(spec.gid === undefined ? [] : ['--gid', String(spec.gid)]),
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(spec.shareNet ? [] : ['--unshare-net']),
    '--die-with-parent',
    // The sandbox leads a session of its own, away from bubblewrap's monitor: the terminal's
    // signals are relayed to its process group (run.ts), and with no controlling terminal a
    // program cannot push input into the caller's shell (TIOCSTI) even without seccomp.
    '--new-session',
    // bubblewrap started by (namespace) root keeps every capability in the jail's user
    // namespace; without this a root caller's program could read an execute-only store.
    '--cap-drop', 'ALL',
  ];
  if (spec.store.kind === 'bind') {
    args.push('--ro-bind', spec.store.merged, JAIL_STORE);
  } else {
    // bwrap stacks a later --overlay-src above an earlier one, so the store goes first.
    for (const layer of [...spec.store.layersTopFirst].reverse()) args.push('--overlay-src', layer);
    // --ro-overlay leaves the mount itself read-write (the overlay has no upper layer, so
    // writes fail anyway); remount it read-only, as the store bind of the other ways is.
    args.push('--ro-overlay', JAIL_STORE, '--remount-ro', JAIL_STORE);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  // Without a controlling terminal /dev/tty would not open: make it the caller's terminal.
  if (spec.terminal !== undefined) args.push('--dev-bind', spec.terminal, '/dev/tty');
  for (const device of spec.devices ?? []) args.push('--dev-bind', device, device);
  if (spec.home !== undefined && path.isAbsolute(spec.home) && spec.home !== '/') args.push('--dir', spec.home);
  for (const file of spec.files ?? []) args.push('--ro-bind-data', String(file.fd), file.dest);
  for (const link of spec.links ?? []) args.push('--symlink', link.target, link.dest);
  for (const bind of spec.binds) {
    // Every bind passed the rule where it was asked for (parseBind, planHostResources); this
    // is the last place before bubblewrap, for a bind made any other way (--home's $HOME).
    if (coversStore(bind.dest)) throw new JailError('usage', `refusing to bind ${bind.source} onto ${bind.dest}: it would cover or replace the jail's /nix/store`);
    args.push(bind.readOnly ? '--ro-bind' : '--bind', bind.source, bind.dest);
  }
  if (spec.chdir !== undefined) args.push('--chdir', spec.chdir);
  args.push('--clearenv');
  for (const [name, value] of Object.entries(spec.env)) args.push('--setenv', name, value);
  args.push('--json-status-fd', String(spec.statusFd));
  if (spec.seccompFd !== undefined) args.push('--seccomp', String(spec.seccompFd));
  args.push(...spec.extra);
  args.push('--', ...spec.argv);
  return args;
};

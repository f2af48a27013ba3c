/**
 * Host resources for one run, from the host as it is now: the integration options' paths,
 * devices and variables (integrationPlan), and the store entries the link chains of every
 * host path that enters the jail lead through (planHostResources). Shared by exec and verify.
 */
import fs from 'node:fs';
import os from 'node:os';
import {JailError} from '../errors.js';
import type {Bind} from '../jail/args.js';
import type {Closure} from '../closure/index.js';
import {findOnPath} from '../mount/capabilities.js';
import {coversStore, type StoreEntryName} from '../store.js';
import {integrationPlan, NO_INTEGRATION, type HostIntegration, type HostProbe} from './integration.js';
import {addedEntries, planHostResources, type AddedEntry, type HostPlan, type HostResource} from './resources.js';
import {hostView, noneConsulted, type Consulted} from './view.js';

export interface HostRequest {
  host?: HostIntegration | undefined;
  /** A missing resource fails the run (125) instead of being said and gone without. */
  strict?: boolean | undefined;
  warn?: ((line: string) => void) | undefined;
  env: Readonly<Record<string, string | undefined>>;
  storeDir: string;
  /** The user's --bind and --ro-bind. */
  userBinds: readonly Bind[];
  /** Destinations the jail makes otherwise ($HOME, /etc/passwd, /bin/sh): no link goes there. */
  taken: readonly string[];
}

const devNames = (): string[] => {
  try {
    return fs.readdirSync('/dev');
  } catch {
    return [];
  }
};

/** A regular file's bytes: a FIFO or a device a variable names (XAUTHORITY) is never opened to block or to read forever. */
const readFile = (file: string): Buffer | undefined => {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd) : undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
};

/** The host as integrationPlan asks about it: what exists, /dev's names, the environment, ... */
export const hostProbe = (env: Readonly<Record<string, string | undefined>>, consulted?: Consulted): HostProbe => ({
  exists: candidate => {
    consulted?.looked.add(candidate);
    return fs.existsSync(candidate);
  },
  isSocket: candidate => {
    consulted?.looked.add(candidate);
    return fs.statSync(candidate, {throwIfNoEntry: false})?.isSocket() ?? false;
  },
  devNames: () => {
    consulted?.listed.add('/dev');
    return devNames();
  },
  env,
  readFile: file => {
    consulted?.read.add(file);
    return readFile(file);
  },
  hostname: os.hostname(),
  uid: process.getuid?.() ?? 0,
  findProgram: name => findOnPath(name, env['PATH'] ?? ''),
});

/**
 * The closure with what host resources add: the entries their chains pass through, and the
 * closures (from `closureOf`) of those they end in. The same closure when they add nothing.
 */
export const withAdded = async (closure: Closure, plan: HostPlan, closureOf: (entries: StoreEntryName[]) => Promise<Iterable<StoreEntryName>>): Promise<Closure> => {
  const {withClosure, alone} = addedEntries(plan);
  if (withClosure.length === 0 && alone.length === 0) return closure;
  return {
    ...closure,
    entries: new Set([...closure.entries, ...alone, ...(withClosure.length === 0 ? [] : await closureOf(withClosure))]),
  };
};

export const planHost = (request: HostRequest) => {
  const consulted = noneConsulted();
  const integration = integrationPlan(request.host ?? NO_INTEGRATION, hostProbe(request.env, consulted));
  for (const line of integration.missing) {
    if (request.strict) throw new JailError('usage', `${line} (--strict)`);
    request.warn?.(`${line}; going on without`);
  }
  for (const end of integration.bus?.ends ?? []) {
    if (coversStore(end.jailSocket)) throw new JailError('usage', `the jail's bus socket would be at ${end.jailSocket} (from XDG_RUNTIME_DIR), covering the jail's /nix/store: refused`);
  }
  const resources: HostResource[] = [
    ...request.userBinds.map(bind => ({...bind, by: bind.readOnly ? '--ro-bind' : '--bind', asked: true})),
    ...integration.resources,
  ];
  const host = resources.length === 0
    ? {binds: [], links: [], added: new Map<StoreEntryName, AddedEntry>()}
    : planHostResources(resources, hostView(consulted), request.storeDir, [
      ...request.taken,
      ...integration.files.map(file => file.dest),
      ...(integration.bus?.ends.map(end => end.jailSocket) ?? []),
    ]);
  const madeDests = new Set([...host.binds.map(bind => bind.dest), ...host.links.map(link => link.dest)]);
  const links = [...host.links, ...integration.links.filter(link => !madeDests.has(link.dest))];
  return {integration, host, links, consulted};
};

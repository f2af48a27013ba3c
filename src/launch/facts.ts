/**
 * What a launch plan rests on, read from the run exec just planned: the mask's store and
 * layer stamps as the mask recorded them, the binds' sources as they are now, and the
 * variables planning read. Anything here that differs at a launcher's start sends it to exec.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {Bind} from '../jail/args.js';
import {stampedDirectories} from '../mask/integrity.js';
import type {ReadyMask} from '../mask/mode.js';
import type {Strategy} from '../mount/strategy.js';
import type {Consulted} from '../host/view.js';
import {shellWords, statPattern, type LaunchPlan, type PathCheck, type StatFields} from './plan.js';

/**
 * The variables whose values decide what exec plans, besides the kept ones the words take
 * from the caller at each start: where the cache and the tools are, the home directory (the
 * jail's passwd and $HOME), the runtime directory and the servers in it, the CA bundle.
 */
export const PLANNED_FROM = [
  'HOME', 'PATH', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR', 'WAYLAND_DISPLAY', 'PULSE_SERVER', 'NIX_SSL_CERT_FILE', 'SSL_CERT_FILE',
  'DISPLAY', 'XAUTHORITY', 'DBUS_SESSION_BUS_ADDRESS', 'DBUS_SYSTEM_BUS_ADDRESS', 'LOCALE_ARCHIVE', 'TZDIR', 'NIX_REMOTE',
] as const;

/** More host paths than this to check at each start, and the plan is not written: exec is as fast then. */
export const MAX_HOST_CHECKS = 512;

export interface LaunchFacts {
  strategy: Strategy;
  template: string[];
  mask: ReadyMask;
  binds: readonly Bind[];
  /** What planning looked at on the host (the options' paths, /dev, the links of bound paths). */
  consulted: Consulted;
  /**
   * Files whose content decided the jail: closure files, graphs, profiles, the host's passwd
   * and group (the jail's names), and nix-overlay-jail itself (node and its script).
   */
  inputs: readonly string[];
}

type Fields = Omit<StatFields, 'uid' | 'mode'>;

/**
 * The checks that hold while the host is as planning saw it: a path looked at, the same file
 * (device, inode); a directory listed, also the same entries (mtime); a file read, also the
 * same content (mtime, ctime). A path that was not there is checked by the nearest directory
 * above it that is, with its entries: it cannot appear without that directory changing.
 */
export const hostChecks = (consulted: Consulted, inputs: readonly string[]): PathCheck[] => {
  const wanted = new Map<string, Fields>();
  const want = (file: string, how: 'same' | 'listed' | 'read'): void => {
    let at = file;
    let stats = fs.lstatSync(at, {bigint: true, throwIfNoEntry: false});
    let missing = false;
    while (stats === undefined && at !== '/') {
      at = path.dirname(at);
      stats = fs.lstatSync(at, {bigint: true, throwIfNoEntry: false});
      missing = true;
    }
    if (stats === undefined) return;
    const fields: Fields = {...wanted.get(at), dev: stats.dev, ino: stats.ino};
    if (missing || how !== 'same') fields.mtimeNs = stats.mtimeNs;
    if (!missing && how === 'read') fields.ctimeNs = stats.ctimeNs;
    wanted.set(at, fields);
  };
  for (const file of consulted.looked) want(file, 'same');
  for (const dir of consulted.listed) want(dir, 'listed');
  for (const file of [...consulted.read, ...inputs]) want(path.resolve(file), 'read');
  return [...wanted].map(([file, fields]) => ({path: file, pattern: statPattern(fields)}));
};

/** A bind's source as the mount will take it: the same file (device, inode); a read-only directory, also the same entries (mtime). */
const bindCheck = (bind: Bind): PathCheck => {
  const stats = fs.lstatSync(bind.source, {bigint: true});
  return {path: bind.source, pattern: statPattern({dev: stats.dev, ino: stats.ino, ...(bind.readOnly && stats.isDirectory() ? {mtimeNs: stats.mtimeNs} : {})})};
};

export const launchPlanOf = (facts: LaunchFacts, env: Readonly<Record<string, string | undefined>>): LaunchPlan => {
  const {mask} = facts;
  const {state} = mask;
  const stamps = (state.layerStamp ?? '').split(',').map(stamp => stamp.split(':'));
  const layers = stampedDirectories(mask.layer, state.mode, path.basename(state.storeDir));
  if (stamps.length !== layers.length) throw new Error('the mask has no layer stamp');
  const checks: PathCheck[] = [
    // A whiteout mask hides what the store held when it was made: the store must be as then.
    ...(state.mode === 'whiteout' ? [{path: state.storeDir, pattern: statPattern({dev: state.store.dev, ino: state.store.ino, mtimeNs: state.store.mtimeNs})}] : []),
    ...layers.map((dir, index) => ({path: dir, pattern: statPattern({ino: BigInt(stamps[index]![0]!), ctimeNs: stamps[index]![1]!})})),
    {path: mask.mountPoint, pattern: statPattern({})},
    // The masks directory and this mask's: the caller's, writable by no one else, as exec
    // requires; another user who could write there could swap the layer after the check.
    ...[path.dirname(mask.dir), mask.dir].map(dir => {
      const stats = fs.lstatSync(dir, {bigint: true});
      return {path: dir, pattern: statPattern({uid: stats.uid, mode: stats.mode, dev: stats.dev, ino: stats.ino})};
    }),
    ...facts.binds.map(bindCheck),
    ...hostChecks(facts.consulted, facts.inputs),
  ];
  if (checks.length > MAX_HOST_CHECKS) throw new Error(`more than ${MAX_HOST_CHECKS} host paths to check at each start`);
  return {
    mask: mask.dir,
    hostname: os.hostname(),
    way: facts.strategy,
    checks,
    env: PLANNED_FROM.map(name => [name, env[name]]),
    words: shellWords(facts.template),
  };
};

/**
 * What a launch plan rests on, read from the run exec just planned: the mask's store and
 * layer stamps as the mask recorded them, the binds' sources as they are now, and the
 * variables planning read. Anything here that differs at a launcher's start sends it to exec.
 */
import fs from 'node:fs';
import path from 'node:path';
import type {Bind} from '../jail/args.js';
import {stampedDirectories} from '../mask/integrity.js';
import type {ReadyMask} from '../mask/mode.js';
import type {Strategy} from '../mount/strategy.js';
import {shellWords, statPattern, type LaunchPlan, type PathCheck} from './plan.js';

/**
 * The variables whose values decide what exec plans, besides the kept ones the words take
 * from the caller at each start: where the cache and the tools are, the home directory (the
 * jail's passwd and $HOME), the runtime directory and the servers in it, the CA bundle.
 */
export const PLANNED_FROM = ['HOME', 'PATH', 'XDG_CACHE_HOME', 'XDG_RUNTIME_DIR', 'WAYLAND_DISPLAY', 'PULSE_SERVER', 'NIX_SSL_CERT_FILE', 'SSL_CERT_FILE'] as const;

export interface LaunchFacts {
  strategy: Strategy;
  template: string[];
  mask: ReadyMask;
  binds: readonly Bind[];
}

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
    ...facts.binds.map(bindCheck),
  ];
  return {
    mask: mask.dir,
    way: facts.strategy,
    checks,
    env: PLANNED_FROM.map(name => [name, env[name]]),
    words: shellWords(facts.template),
  };
};

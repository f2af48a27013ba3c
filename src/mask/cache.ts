/**
 * The mask cache: where masks live, how they are keyed, and the state each one records.
 *
 *   CACHE/CACHEDIR.TAG          marks a directory this tool made (gc refuses any other)
 *   CACHE/masks/KEY/layer       the mask itself: the directory given as an overlay lower layer
 *   CACHE/masks/KEY/templates   whiteout templates the layer's entries are hard links of
 *   CACHE/masks/KEY/merged      an empty mount point for the overlay in a private namespace
 *   CACHE/masks/KEY/state.json  the store state the layer was last brought up to date with
 *   CACHE/masks/KEY/hidden      the names the layer whites out, NUL-terminated, append-only
 *   CACHE/tmp/                  masks being built, renamed into masks/ when complete
 *   CACHE/locks/KEY.lock        one build or refresh of KEY at a time
 *   CACHE/closures/NAME.json    closures of store entries (immutable, so cached for good)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {JailError, reason} from '../errors.js';
import {assertOwned, assertSafeAncestors} from './safety.js';

export const CACHE_FORMAT = 2;
const TAG_FILE = 'CACHEDIR.TAG';
const TAG = 'Signature: 8a477f597d28d172789f06886806bc55\n# This directory is a cache of nix-overlay-jail masks.\n';

/** What this tool keeps at the top of a cache directory. */
const OWN_ENTRIES = new Set(['masks', 'tmp', 'locks', 'closures', 'plans', 'features.json']);

export type MaskMode = 'whiteout' | 'allowlist';

export interface MaskSpec {
  mode: MaskMode;
  storeDir: string;
  storeDev: number;
  storeIno: number;
  execOnly: boolean;
  closure: ReadonlySet<string>;
}

export interface StoreState {
  dev: number;
  ino: number;
  mtimeNs: string;
}

export interface MaskState {
  format: number;
  mode: MaskMode;
  storeDir: string;
  execOnly: boolean;
  closureSize: number;
  whiteouts: number;
  /** Closure entries that have a bin directory (for the jail's PATH, without a stat each). */
  binEntries: string[];
  /**
   * For each system link's file (bin/sh, bin/env), the first bin entry, in sorted order, that
   * holds it (the jail's /bin/sh and /usr/bin/env without a stat each). Absent in masks made
   * before it was recorded.
   */
  systemFiles?: Record<string, string>;
  store: StoreState;
  /** The store changed too close to the scan for its mtime to prove nothing came after. */
  racy: boolean;
  /** ctime stamp of the layer's directories when the tool last checked or changed them. */
  layerStamp?: string;
  builtAt: string;
  refreshedAt: string;
}

/** The caller's home: HOME, else the passwd entry's; none is one line (a container's uid may have neither). */
const homeDir = (env: NodeJS.ProcessEnv, uid: number): string => {
  const home = env['HOME'];
  if (home !== undefined && path.isAbsolute(home)) return home;
  try {
    return os.userInfo().homedir;
  } catch {
    throw new JailError('usage', `no cache directory: HOME is not set and uid ${uid} has no passwd entry; pass --cache-dir or set XDG_CACHE_HOME`);
  }
};

export const defaultCacheDir = (env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): string => {
  if (uid === 0) return '/var/cache/nix-overlay-jail';
  const base = env['XDG_CACHE_HOME'] && path.isAbsolute(env['XDG_CACHE_HOME']) ? env['XDG_CACHE_HOME'] : path.join(homeDir(env, uid), '.cache');
  return path.join(base, 'nix-overlay-jail');
};

/** The key of a mask: everything that changes what it holds, and nothing else. */
export const maskKey = (spec: MaskSpec): string => {
  const hash = crypto.createHash('sha256');
  hash.update(JSON.stringify({
    format: CACHE_FORMAT,
    mode: spec.mode,
    store: spec.storeDir,
    dev: spec.storeDev,
    ino: spec.storeIno,
    execOnly: spec.execOnly,
  }));
  hash.update(`\0${[...spec.closure].sort().join('\0')}`);
  return hash.digest('hex').slice(0, 32);
};

export const storeStateOf = (stats: fs.BigIntStats): StoreState => ({
  dev: Number(stats.dev),
  ino: Number(stats.ino),
  mtimeNs: stats.mtimeNs.toString(),
});

export const sameStoreState = (a: StoreState, b: StoreState): boolean =>
  a.dev === b.dev && a.ino === b.ino && a.mtimeNs === b.mtimeNs;

export class MaskCache {
  readonly uid: number;

  private constructor(readonly dir: string, uid: number) {
    this.uid = uid;
  }

  /** Open (creating when needed) a cache directory, refusing one that others could tamper with. */
  static open(dir: string, uid = process.getuid?.() ?? 0): MaskCache {
    const absolute = path.resolve(dir);
    // Check before creating anything (nothing is made below an unsafe directory), and again
    // after, since a parent could have been swapped in between.
    assertSafeAncestors(absolute, uid);
    try {
      fs.mkdirSync(absolute, {recursive: true, mode: 0o700});
    } catch (error) {
      throw new JailError('cache', `cannot create cache directory ${absolute}: ${reason(error)}`);
    }
    assertSafeAncestors(absolute, uid);
    assertOwned(absolute, uid, 'cache directory');
    const cache = new MaskCache(absolute, uid);
    try {
      if (!fs.existsSync(path.join(absolute, TAG_FILE))) {
        // Another process may be making the same new cache right now: what it writes (its tag,
        // since the look above, and the tag's temporary file, the subdirectories) is ours too.
        // Anything else is not.
        const foreign = fs.readdirSync(absolute).filter(name => !OWN_ENTRIES.has(name) && name !== TAG_FILE && !name.startsWith(`${TAG_FILE}.`));
        if (foreign.length > 0) {
          throw new JailError('cache', `refusing cache directory ${absolute}: it holds ${foreign[0]} and was not made by nix-overlay-jail (no ${TAG_FILE})`);
        }
        writeFileAtomic(path.join(absolute, TAG_FILE), TAG);
      }
      for (const sub of ['masks', 'tmp', 'locks', 'closures']) {
        fs.mkdirSync(path.join(absolute, sub), {recursive: true, mode: 0o700});
        assertOwned(path.join(absolute, sub), uid, 'cache directory');
      }
    } catch (error) {
      if (error instanceof JailError) throw error;
      throw new JailError('cache', `cannot write cache directory ${absolute}: ${reason(error)}`);
    }
    return cache;
  }

  /**
   * Open a cache directory that must already exist and carry this tool's tag: for commands
   * that delete (gc), which must never touch a directory the tool did not make.
   */
  static existing(dir: string, uid = process.getuid?.() ?? 0): MaskCache {
    const absolute = path.resolve(dir);
    let tag = '';
    try {
      tag = fs.readFileSync(path.join(absolute, TAG_FILE), 'utf8');
    } catch {
      // handled below
    }
    if (!tag.includes('nix-overlay-jail')) {
      throw new JailError('cache', `refusing ${absolute}: it is not a cache directory made by nix-overlay-jail (no ${TAG_FILE} of its own)`);
    }
    assertSafeAncestors(absolute, uid);
    assertOwned(absolute, uid, 'cache directory');
    return new MaskCache(absolute, uid);
  }

  maskDir(key: string): string {
    return path.join(this.dir, 'masks', key);
  }

  lockFile(key: string): string {
    return path.join(this.dir, 'locks', `${key}.lock`);
  }

  tmpDir(): string {
    return path.join(this.dir, 'tmp');
  }

  closureFile(entry: string): string {
    return path.join(this.dir, 'closures', `${entry}.json`);
  }
}

/** The paths inside one mask directory. */
export const maskLayout = (maskDir: string) => ({
  dir: maskDir,
  layer: path.join(maskDir, 'layer'),
  templates: path.join(maskDir, 'templates'),
  merged: path.join(maskDir, 'merged'),
  state: path.join(maskDir, 'state.json'),
  journal: path.join(maskDir, 'hidden'),
});

export const readMaskState = (file: string): MaskState | undefined => {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const state = JSON.parse(text) as MaskState;
    return state.format === CACHE_FORMAT ? state : undefined;
  } catch {
    return undefined;
  }
};

/** Record a mask's state; readers see the old state or the new, never a part. */
export const writeMaskState = (file: string, state: MaskState): void => {
  writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`);
};

/** Write a file (mode 0600) so that readers see the old content or the new, never a part. */
export const writeFileAtomic = (file: string, content: string | Buffer): void => {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temporary, content, {mode: 0o600});
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, {force: true});
    throw error;
  }
};

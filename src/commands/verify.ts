/**
 * `verify`: prove what a jail sees. Gets the mask as exec would (building it if there is none,
 * but not refreshing one that exists, so the report shows the exposure of the mask as it
 * stands), mounts it exactly as exec would, lists the merged store with dot entries, and
 * compares the listing with the closure.
 */
import fs from 'node:fs';
import {computeClosure, type ClosureRequest} from '../closure/index.js';
import {loadExeca} from '../process.js';
import {JailError} from '../errors.js';
import {MaskCache, defaultCacheDir, maskLayout, readMaskState, type MaskMode} from '../mask/cache.js';
import {allowlistUnavailable, chooseMaskMode, ensureMask, locateMask, type MaskModeChoice} from '../mask/mode.js';
import {assertMaskOwned} from '../mask/publish.js';
import {readJournal} from '../mask/whiteout.js';
import {bwrapVersion, fuseUnavailable, requireTools, usernsUnavailable} from '../mount/capabilities.js';
import {overlayOptions} from '../mount/options.js';
import {chooseStrategy, FUSE_SCRIPT, fuseOptions, fuseUnshare, MOUNT_SCRIPT, UNSHARE, type StrategyChoice} from '../mount/strategy.js';
import type {HostIntegration} from '../host/integration.js';
import {planHost, withAdded} from '../host/request.js';
import type {AddedEntry} from '../host/resources.js';
import {parseBind} from '../jail/args.js';
import {JAIL_STORE} from '../store.js';

export interface VerifyOptions extends ClosureRequest {
  cacheDir?: string | undefined;
  execOnly: boolean;
  mode: MaskModeChoice;
  mountWith: StrategyChoice;
  /** Host resources, as exec would be given them: the store paths they add are verified too. */
  host?: HostIntegration | undefined;
  bind?: readonly string[] | undefined;
  roBind?: readonly string[] | undefined;
  strict?: boolean | undefined;
  warn?: ((line: string) => void) | undefined;
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

export interface AddedPath extends AddedEntry {
  path: string;
}

export interface VerifyReport {
  ok: boolean;
  mode: MaskMode;
  mask: string;
  closureSize: number;
  seen: number;
  /** Closure entries the jail cannot see. */
  missing: string[];
  /** Entries the jail sees that are not in the closure and that the mask should have hidden. */
  leaks: string[];
  /** Store entries that appeared after the whiteout mask was last refreshed (visible until it is). */
  newerThanMask: string[];
  /** Store paths host resources added to the closure, and what brought each. */
  added: AddedPath[];
}

const sortedDifference = (a: Iterable<string>, b: ReadonlySet<string>): string[] => [...a].filter(name => !b.has(name)).sort();

export const verifyCommand = async (options: VerifyOptions): Promise<VerifyReport> => {
  const execa = await loadExeca();
  const programClosure = await computeClosure({...options, verifyPresent: false});
  const {host} = planHost({
    host: options.host,
    strict: options.strict,
    warn: options.warn,
    env: options.env ?? process.env,
    storeDir: programClosure.storeDir,
    userBinds: [...(options.bind ?? []).map(value => parseBind(value, false)), ...(options.roBind ?? []).map(value => parseBind(value, true))],
    taken: [],
  });
  const closure = await withAdded(programClosure, host, async entries => (await computeClosure({
    storeDir: programClosure.storeDir, roots: entries.map(entry => `${programClosure.storeDir}/${entry}`), closureFiles: [], graphs: [], verifyPresent: false,
  })).entries);
  const isRoot = process.getuid?.() === 0;
  const strategy = chooseStrategy(options.mountWith === 'bwrap' ? 'userns' : options.mountWith, {
    isRoot,
    usernsUnavailable: usernsUnavailable(),
    bwrapVersion: options.mountWith === 'bwrap' ? bwrapVersion() : undefined,
    fuseUnavailable,
  });
  requireTools(['unshare', 'sh', 'mount', 'find']);
  const cache = MaskCache.open(options.cacheDir ?? defaultCacheDir());
  const mode = chooseMaskMode(options.mode, () => strategy === 'root'
    ? allowlistUnavailable(cache.dir, closure.storeDir, true)
    : 'allowlist masks need real root and the root mount');
  const request = {mode, storeDir: closure.storeDir, closure: closure.entries, execOnly: options.execOnly};

  // An existing mask is taken as it stands; only a missing one is built.
  const located = locateMask(cache.dir, request);
  const existing = readMaskState(located.layout.state) !== undefined;
  const mask = existing ? {layer: located.layout.layer, view: located.view, dir: located.layout.dir} : await ensureMask(cache, request);
  if (existing) assertMaskOwned(cache, located.layout.dir, mode);

  const mountPoint = fs.mkdtempSync(`${cache.tmpDir()}/verify-`);
  let listing: string[];
  try {
    // The mount as exec makes it (FUSE's through the fuse way's script), then find instead of bubblewrap.
    const [unshare, ...namespaces] = strategy === 'fuse' ? fuseUnshare(isRoot) : UNSHARE[strategy === 'root' ? 'root' : 'userns'];
    const listed = `${mountPoint}/${mask.view.storeSubdir}`;
    const mount = strategy === 'fuse' ? [FUSE_SCRIPT, 'sh', fuseOptions(mask.view)] : [MOUNT_SCRIPT, 'sh', overlayOptions(mask.view.layersTopFirst, mask.view.options)];
    const result = await execa(unshare!, [...namespaces, 'sh', '-c', ...mount, mountPoint,
      'find', listed, '-mindepth', '1', '-maxdepth', '1', '-printf', '%f\\0'], {reject: false, stripFinalNewline: false});
    if (result.failed) throw new JailError('mount', `cannot mount the mask to verify it: ${result.stderr.trim().split('\n').pop() ?? `exit ${result.exitCode}`}`);
    listing = result.stdout.split('\0').filter(name => name !== '');
  } finally {
    fs.rmdirSync(mountPoint);
  }

  const seen = new Set(listing);
  const missing = sortedDifference(closure.entries, seen);
  const extra = sortedDifference(seen, closure.entries);
  let newerThanMask: string[] = [];
  let leaks = extra;
  if (mode === 'whiteout') {
    // An entry the journal does not name appeared after the last refresh: the known window.
    // One the journal names (or that the store does not hold) means the mask was changed.
    const journal = readJournal(maskLayout(mask.dir).journal);
    newerThanMask = extra.filter(name => !journal.has(name) && fs.existsSync(`${closure.storeDir}/${name}`));
    const newer = new Set(newerThanMask);
    leaks = extra.filter(name => !newer.has(name));
  }
  return {
    ok: missing.length === 0 && extra.length === 0,
    mode,
    mask: mask.layer,
    closureSize: closure.entries.size,
    seen: seen.size,
    missing,
    leaks,
    newerThanMask,
    added: [...host.added].map(([entry, added]) => ({path: `${JAIL_STORE}/${entry}`, ...added})),
  };
};

/**
 * Getting a ready-to-mount whiteout mask: reuse it when the store has not changed, bring it up
 * to date by adding whiteouts when it has, or build it from scratch.
 *
 * A new mask is built in CACHE/tmp and published with one rename(), so a crash or a second
 * process never sees half a mask. A published mask may be mounted by a running jail, so it is
 * only ever added to: a refresh links whiteouts for new store entries and never removes one.
 */
import fs from 'node:fs';
import path from 'node:path';
import {JailError, reason} from '../errors.js';
import {SYSTEM_LINKS, type StoreEntryName} from '../store.js';
import {
  CACHE_FORMAT,
  type MaskCache,
  type MaskState,
  type StoreState,
  maskKey,
  maskLayout,
  readMaskState,
  sameStoreState,
  storeStateOf,
  writeMaskState,
} from './cache.js';
import {acquireLock} from './lock.js';
import {planEntry} from './plan.js';
import {assertLayerIntact, layerStamp} from './integrity.js';
import {assertMaskOwned, buildAndPublish, ensureIntact, removeAbandoned, unlessRemoved} from './publish.js';
import {WhiteoutWriter, listDirectory, readJournal} from './whiteout.js';

/** How close to "now" a store change must be for its mtime to prove nothing (coarse clocks). */
const RACY_WINDOW_NS = 2_000_000_000n;

export interface MaskRequest {
  storeDir: string;
  closure: ReadonlySet<StoreEntryName>;
  execOnly: boolean;
  /** Called now and then during long scans with the number of entries looked at so far. */
  onProgress?: (done: number, total: number | undefined) => void;
  /** List the store up front so that progress has a total (costs memory on huge stores). */
  countEntries?: boolean;
}

export type MaskStatus = 'cached' | 'refreshed' | 'built';

export interface Mask {
  key: string;
  dir: string;
  /** The directory to stack above the store: `lowerdir=LAYER:STORE`. */
  layer: string;
  /** An empty directory to mount the overlay on, inside a private mount namespace. */
  mountPoint: string;
  status: MaskStatus;
  state: MaskState;
  /** Whiteouts added by this call. */
  added: number;
}

const statStore = (storeDir: string): fs.BigIntStats => {
  try {
    return fs.statSync(storeDir, {bigint: true});
  } catch (error) {
    throw new JailError('bad-store', `cannot stat store directory ${storeDir}: ${reason(error)}`);
  }
};

const listStore = (storeDir: string): string[] => {
  try {
    return fs.readdirSync(storeDir);
  } catch (error) {
    throw new JailError('bad-store', `cannot list ${storeDir}: ${reason(error)}`);
  }
};

const isRacy = (store: fs.BigIntStats): boolean => {
  const now = BigInt(Date.now()) * 1_000_000n;
  return store.mtimeNs + RACY_WINDOW_NS >= now;
};

const isFresh = (state: MaskState, store: fs.BigIntStats): boolean =>
  !state.racy && sameStoreState(state.store, storeStateOf(store));


/**
 * Scan the store once and white out what is not in the closure and not hidden yet. The store
 * is stat()ed before the scan: its state is what the mask is then known to cover. When the
 * store changed during the scan, scan again so the mask covers at least that state.
 */
const scanInto = (
  request: MaskRequest,
  writer: WhiteoutWriter,
  hidden: ReadonlySet<StoreEntryName>,
): {before: fs.BigIntStats; seen: Set<StoreEntryName>} => {
  for (let round = 0; ; round++) {
    const before = statStore(request.storeDir);
    const seen = new Set<StoreEntryName>();
    // The listing is taken after the stat, so anything it misses changed the mtime after it.
    const listing = request.countEntries ? listStore(request.storeDir) : listDirectory(request.storeDir);
    const total = Array.isArray(listing) ? listing.length : undefined;
    let done = 0;
    writer.linkAll(add => {
      for (const name of listing) {
        const plan = planEntry(name, request.closure, hidden);
        if (plan === 'show') seen.add(name);
        else if (plan === 'hide') add(name); // a name linked in an earlier round answers EEXIST
        if ((++done & 0xfff) === 0) request.onProgress?.(done, total);
      }
    });
    request.onProgress?.(done, total);
    const after = statStore(request.storeDir);
    if (after.mtimeNs === before.mtimeNs || round >= 3) return {before, seen};
  }
};

const assertClosurePresent = (request: MaskRequest, seen: Set<StoreEntryName>): void => {
  for (const name of request.closure) {
    if (!seen.has(name)) {
      throw new JailError('no-such-entry', `store entry does not exist: ${path.join(request.storeDir, name)}`);
    }
  }
};

/** Closure entries with a `bin` directory: a stat per closure entry, paid only when building. */
export const entriesWithBin = (storeDir: string, closure: Iterable<StoreEntryName>): string[] =>
  [...closure].filter(name => {
    try {
      return fs.statSync(path.join(storeDir, name, 'bin')).isDirectory();
    } catch {
      return false;
    }
  }).sort();

/** The bin entries of a closure and the system files among them, for a mask's state. */
export const binEntriesAndSystemFiles = (storeDir: string, closure: Iterable<StoreEntryName>): Pick<MaskState, 'binEntries' | 'systemFiles'> => {
  const binEntries = entriesWithBin(storeDir, closure);
  return {binEntries, systemFiles: systemFileProviders(storeDir, binEntries)};
};

/** For each system link's file, the first of the (sorted) bin entries holding it; see MaskState. */
export const systemFileProviders = (storeDir: string, binEntries: readonly string[]): Record<string, string> => {
  const providers: Record<string, string> = {};
  for (const [file] of SYSTEM_LINKS) {
    const provider = binEntries.find(entry => isFile(path.join(storeDir, entry, file)));
    if (provider !== undefined) providers[file] = provider;
  }
  return providers;
};

export const isFile = (file: string): boolean => {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

const newState = (request: MaskRequest, before: fs.BigIntStats, whiteouts: number, previous?: MaskState): MaskState => {
  const now = new Date().toISOString();
  return {
    format: CACHE_FORMAT,
    mode: 'whiteout',
    storeDir: request.storeDir,
    execOnly: request.execOnly,
    closureSize: request.closure.size,
    whiteouts,
    ...binEntriesAndSystemFiles(request.storeDir, request.closure),
    store: storeStateOf(before),
    racy: isRacy(before),
    builtAt: previous?.builtAt ?? now,
    refreshedAt: now,
  };
};

const withJournal = <T>(file: string, body: (fd: number) => T): T => {
  const fd = fs.openSync(file, 'a', 0o600);
  try {
    return body(fd);
  } finally {
    fs.closeSync(fd);
  }
};

const buildCold = (cache: MaskCache, key: string, request: MaskRequest): {state: MaskState; added: number} => {
  let added = 0;
  const state = buildAndPublish(cache, key, layout => {
    const {writer, before, seen} = withJournal(layout.journal, journal => {
      const writer = new WhiteoutWriter(layout.layer, layout.templates, journal);
      return {writer, ...scanInto(request, writer, new Set())};
    });
    assertClosurePresent(request, seen);
    // Execute-only root: the jail can still resolve closure paths but cannot list the store.
    if (request.execOnly) fs.chmodSync(layout.layer, 0o111);
    added = writer.count;
    return newState(request, before, writer.count);
  });
  return {state, added};
};


const refresh = (maskDir: string, previous: MaskState, request: MaskRequest): {state: MaskState; added: number} => {
  const layout = maskLayout(maskDir);
  // The journal, not a listing of the layer: reading it is cheaper, and an execute-only layer
  // cannot be listed by its owner at all.
  const hidden = readJournal(layout.journal);
  // An execute-only root (0111) cannot be written even by its owner. Write-and-search (0311)
  // is enough to link into it and still not enough to list it, and the overlay is read-only,
  // so a jail running on this mask meanwhile gains nothing.
  if (previous.execOnly) fs.chmodSync(layout.layer, 0o311);
  let scanned;
  try {
    scanned = withJournal(layout.journal, journal => {
      const writer = new WhiteoutWriter(layout.layer, layout.templates, journal);
      return {writer, ...scanInto(request, writer, hidden)};
    });
  } finally {
    if (previous.execOnly) fs.chmodSync(layout.layer, 0o111);
  }
  const {writer, before, seen} = scanned;
  assertClosurePresent(request, seen);
  const state = {...newState(request, before, previous.whiteouts + writer.count, previous), layerStamp: layerStamp(layout.layer, 'whiteout', '')};
  writeMaskState(layout.state, state);
  return {state, added: writer.count};
};

/** The key a request's mask has, from one stat() of the store: no writes, no listing. */
export const whiteoutMaskKey = (
  request: Pick<MaskRequest, 'storeDir' | 'closure' | 'execOnly'>,
  store: fs.BigIntStats = statStore(request.storeDir),
): string => {
  return maskKey({
    mode: 'whiteout',
    storeDir: request.storeDir,
    storeDev: Number(store.dev),
    storeIno: Number(store.ino),
    execOnly: request.execOnly,
    closure: request.closure,
  });
};

export const ensureWhiteoutMask = async (cache: MaskCache, request: MaskRequest): Promise<Mask> => {
  const store = statStore(request.storeDir);
  const key = whiteoutMaskKey(request, store);
  const maskDir = cache.maskDir(key);
  const layout = maskLayout(maskDir);
  const result = (status: MaskStatus, state: MaskState, added: number): Mask => ({
    key,
    dir: maskDir,
    layer: layout.layer,
    mountPoint: layout.merged,
    status,
    state,
    added,
  });

  const cached = readMaskState(layout.state);
  if (cached && isFresh(cached, store)) {
    const intact = await unlessRemoved(maskDir, async () => {
      assertMaskOwned(cache, maskDir, 'whiteout');
      return ensureIntact(cache, key, cached, request.closure);
    });
    if (intact !== undefined) return result('cached', intact, 0);
  }

  const lock = await acquireLock(cache.lockFile(key));
  try {
    removeAbandoned(cache, key);
    const current = readMaskState(layout.state);
    if (current) {
      assertMaskOwned(cache, maskDir, 'whiteout');
      // Never add to (or use) a layer changed behind the tool's back.
      const stamp = assertLayerIntact(layout.layer, 'whiteout', '', request.closure, current.layerStamp);
      if (isFresh(current, statStore(request.storeDir))) {
        if (stamp === current.layerStamp) return result('cached', current, 0);
        const restamped = {...current, layerStamp: stamp};
        writeMaskState(layout.state, restamped);
        return result('cached', restamped, 0);
      }
      const {state, added} = refresh(maskDir, current, request);
      return result('refreshed', state, added);
    }
    if (fs.existsSync(maskDir)) {
      // A mask directory without a readable state was not published by this tool.
      throw new JailError('unsafe', `refusing mask ${maskDir}: it has no valid state.json (remove it to rebuild)`);
    }
    const {state, added} = buildCold(cache, key, request);
    return result('built', state, added);
  } finally {
    lock.release();
  }
};

export type {StoreState};

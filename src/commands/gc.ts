/**
 * `gc`: remove cached masks not used for --max-age, then the least recently used beyond
 * --max-size; never a mask a running jail is registered on, and only inside a cache directory
 * this tool made. A mask is checked and moved out of masks/ under its lock, then deleted.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {JailError} from '../errors.js';
import {removeTree} from '../mask/publish.js';
import {MaskCache, defaultCacheDir, readMaskState} from '../mask/cache.js';
import {acquireLock, holderIsAlive} from '../mask/lock.js';
import {lastUse, liveJails} from '../mask/usage.js';
import {execPlansDir} from '../launch/record.js';

export interface GcOptions {
  cacheDir?: string | undefined;
  maxAgeMs: number;
  maxSizeBytes?: number | undefined;
  dryRun: boolean;
  now?: number;
}

export interface GcEntry {
  key: string;
  bytes: number;
  lastUsed: string;
  reason: 'older than --max-age' | 'beyond --max-size' | 'incomplete';
}

export interface GcReport {
  cacheDir: string;
  removed: GcEntry[];
  kept: number;
  inUse: string[];
  freedBytes: number;
  /** exec's plans (exec-plans/KEY, which the front starts from): removed, their bytes, kept, kept in use. */
  execPlans: {removed: number; freedBytes: number; kept: number; inUse: number};
  dryRun: boolean;
}

/** One of exec's plans: its directory's mtime moves at each start from it (run.PID comes and goes). */
interface ExecPlanDir {
  key: string;
  dir: string;
  bytes: number;
  used: number;
}

const execPlanDirs = (cacheDir: string): ExecPlanDir[] => {
  const root = execPlansDir(cacheDir);
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  return names.filter(name => /^[0-9a-f]{32}$/.test(name)).flatMap(key => {
    const dir = path.join(root, key);
    try {
      const stats = fs.lstatSync(dir);
      if (!stats.isDirectory()) return [];
      const bytes = fs.readdirSync(dir).reduce((sum, name) => sum + (fs.lstatSync(path.join(dir, name), {throwIfNoEntry: false})?.blocks ?? 0) * 512, stats.blocks * 512);
      return [{key, dir, bytes, used: stats.mtimeMs}];
    } catch {
      return [];
    }
  });
};

/** The process of a launch's status file in a plan directory (run.PID.START, or run.PID as written before), if the name is one. */
const runFilePid = (name: string): string | undefined => /^run\.(\d+)(?:\.\d+)?$/.exec(name)?.[1];

/** Whether a start from this plan runs: a status file (run.PID.START) of a live process. */
const planInUse = (dir: string): boolean => {
  try {
    return fs.readdirSync(dir).some(name => {
      const pid = runFilePid(name);
      return pid !== undefined && fs.existsSync(`/proc/${pid}`);
    });
  } catch {
    return false;
  }
};

/**
 * Remove one of exec's plans unless a start from it runs. A front registers without a lock:
 * it makes its status file, then (GO) reads the plan's files; moving the directory away and
 * looking again means one of the two always sees the other (a start that comes later finds
 * no plan and goes to Node), as for masks.
 */
const removeExecPlan = (cache: MaskCache, plan: ExecPlanDir): 'removed' | 'in use' | 'gone' => {
  if (planInUse(plan.dir)) return 'in use';
  const moved = path.join(cache.tmpDir(), `gc-plan-${plan.key}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    fs.renameSync(plan.dir, moved);
  } catch {
    return 'gone';
  }
  if (planInUse(moved)) {
    fs.renameSync(moved, plan.dir);
    return 'in use';
  }
  removeTree(moved);
  return 'removed';
};

/** Disk use of a mask: its directories' own blocks and one inode per template (links are free). */
const maskBytes = (maskDir: string): number => {
  let bytes = 0;
  const add = (file: string): void => {
    try {
      bytes += fs.lstatSync(file).blocks * 512;
    } catch {
      // gone meanwhile
    }
  };
  for (const name of ['', 'layer', 'merged', 'state.json', 'hidden', 'used', 'jails', 'templates']) add(path.join(maskDir, name));
  try {
    for (const name of fs.readdirSync(path.join(maskDir, 'templates'))) add(path.join(maskDir, 'templates', name));
  } catch {
    // no templates
  }
  return bytes;
};

const parseSize = (text: string): number => {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!match) throw new JailError('usage', `--max-size must be a size such as 500M or 2G, got ${JSON.stringify(text)}`);
  const power = ' kmgt'.indexOf((match[2] || ' ').toLowerCase());
  return Math.round(Number(match[1]) * 1024 ** power);
};

const parseAge = (text: string): number => {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw]?)$/i.exec(text.trim());
  if (!match) throw new JailError('usage', `--max-age must be a duration such as 30d, 12h or 0, got ${JSON.stringify(text)}`);
  const unit = {'': 86_400_000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}[(match[2] ?? '').toLowerCase() as '' | 's'];
  return Number(match[1]) * unit;
};

export const parseGcLimits = (maxAge: string, maxSize: string | undefined) => ({
  maxAgeMs: parseAge(maxAge),
  maxSizeBytes: maxSize === undefined ? undefined : parseSize(maxSize),
});

export const gcCommand = async (options: GcOptions): Promise<GcReport> => {
  const cache = MaskCache.existing(options.cacheDir ?? defaultCacheDir());
  const now = options.now ?? Date.now();
  const masksDir = path.join(cache.dir, 'masks');
  const masks = (fs.existsSync(masksDir) ? fs.readdirSync(masksDir) : []).map(key => {
    const dir = cache.maskDir(key);
    return {key, dir, bytes: maskBytes(dir), used: lastUse(dir), complete: readMaskState(path.join(dir, 'state.json')) !== undefined};
  });

  const plans = execPlanDirs(cache.dir);

  // Oldest use first: what --max-age and then --max-size take.
  masks.sort((a, b) => a.used - b.used);
  const chosen = new Map<string, GcEntry['reason']>();
  for (const mask of masks) {
    if (!mask.complete) chosen.set(mask.key, 'incomplete');
    else if (now - mask.used > options.maxAgeMs) chosen.set(mask.key, 'older than --max-age');
  }
  const chosenPlans = new Set(plans.filter(plan => now - plan.used > options.maxAgeMs));
  if (options.maxSizeBytes !== undefined) {
    // Masks and exec's plans alike, the least recently used first.
    const kept = [
      ...masks.filter(mask => !chosen.has(mask.key)).map(mask => ({used: mask.used, bytes: mask.bytes, inUse: () => liveJails(mask.dir) > 0, choose: () => chosen.set(mask.key, 'beyond --max-size')})),
      ...plans.filter(plan => !chosenPlans.has(plan)).map(plan => ({used: plan.used, bytes: plan.bytes, inUse: () => planInUse(plan.dir), choose: () => chosenPlans.add(plan)})),
    ].sort((a, b) => a.used - b.used);
    let total = kept.reduce((sum, item) => sum + item.bytes, 0);
    for (const item of kept) {
      if (total <= options.maxSizeBytes) break;
      if (item.inUse()) continue;
      item.choose();
      total -= item.bytes;
    }
  }

  const report: GcReport = {cacheDir: cache.dir, removed: [], kept: 0, inUse: [], freedBytes: 0, execPlans: {removed: 0, freedBytes: 0, kept: plans.length - chosenPlans.size, inUse: 0}, dryRun: options.dryRun};
  for (const plan of chosenPlans) {
    const outcome = options.dryRun ? (planInUse(plan.dir) ? 'in use' : 'removed') : removeExecPlan(cache, plan);
    if (outcome === 'in use') {
      report.execPlans.inUse++;
      report.execPlans.kept++;
    } else if (outcome === 'removed') {
      report.execPlans.removed++;
      report.execPlans.freedBytes += plan.bytes;
    }
  }
  for (const mask of masks) {
    const reason = chosen.get(mask.key);
    if (reason === undefined) {
      report.kept++;
      continue;
    }
    const lock = await acquireLock(cache.lockFile(mask.key));
    let removedDir: string | undefined;
    try {
      // Another gc removed it while this one waited for the lock.
      if (!fs.existsSync(mask.dir)) continue;
      if (liveJails(mask.dir) > 0) {
        report.inUse.push(mask.key);
        report.kept++;
        continue;
      }
      if (!options.dryRun) {
        removedDir = path.join(cache.tmpDir(), `gc-${mask.key}-${crypto.randomBytes(4).toString('hex')}`);
        fs.renameSync(mask.dir, removedDir);
        // A launcher registers without the lock: it writes its record, then checks that the
        // mask is still in place. Looking again after moving the mask away means one of the
        // two always sees the other: a launcher that registered in time is seen here (and
        // the mask goes back), one that registered later finds no mask and goes to exec.
        if (liveJails(removedDir) > 0) {
          fs.renameSync(removedDir, mask.dir);
          removedDir = undefined;
          report.inUse.push(mask.key);
          report.kept++;
          continue;
        }
      }
    } finally {
      lock.release();
    }
    if (removedDir !== undefined) removeTree(removedDir);
    report.removed.push({key: mask.key, bytes: mask.bytes, lastUsed: new Date(mask.used).toISOString(), reason});
    report.freedBytes += mask.bytes;
  }

  if (!options.dryRun) {
    removeAbandonedStaging(cache);
    removeAbandonedLockFiles(cache);
    removeAbandonedLaunchFiles(cache, now);
  }
  return report;
};

/** How old a launcher's file must be before gc may judge it (it is written after it is made). */
const LAUNCH_FILE_GRACE_MS = 60_000;

/**
 * What killed launchers leave: their jail records on masks (jails/PID) and their status
 * files in plan directories (run.PID), once their process is gone. A record of a live jail is
 * never removed; a file younger than a minute is left alone, as its writer may still be
 * filling it in.
 */
const removeAbandonedLaunchFiles = (cache: MaskCache, now: number): void => {
  const old = (file: string): boolean => {
    try {
      return now - fs.lstatSync(file).mtimeMs > LAUNCH_FILE_GRACE_MS;
    } catch {
      return false;
    }
  };
  const children = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir).map(name => path.join(dir, name));
    } catch {
      return [];
    }
  };
  for (const maskDir of children(path.join(cache.dir, 'masks'))) {
    for (const record of children(path.join(maskDir, 'jails'))) {
      if (!/^\d+$/.test(path.basename(record)) || !old(record)) continue;
      let content = '';
      try {
        content = fs.readFileSync(record, 'utf8');
      } catch {
        continue;
      }
      if (!holderIsAlive(content)) fs.rmSync(record, {force: true});
    }
  }
  for (const planDir of [...children(path.join(cache.dir, 'plans')), ...children(execPlansDir(cache.dir))]) {
    for (const file of children(planDir)) {
      const pid = runFilePid(path.basename(file));
      if (pid !== undefined && old(file) && !fs.existsSync(`/proc/${pid}`)) fs.rmSync(file, {force: true});
    }
  }
};

/** Private files of lock attempts (KEY.lock.PID.RANDOM.new) whose process is gone. */
const removeAbandonedLockFiles = (cache: MaskCache): void => {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(cache.dir, 'locks'));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /\.lock\.(\d+)\.[a-z0-9]+\.new$/.exec(name)?.[1];
    if (pid !== undefined && !fs.existsSync(`/proc/${pid}`)) fs.rmSync(path.join(cache.dir, 'locks', name), {force: true});
  }
};

/**
 * Staging directories of builds whose process is gone, and gc leftovers. (Stale locks are left
 * to acquireLock, which takes them over atomically; removing them here could race with it.)
 */
const removeAbandonedStaging = (cache: MaskCache): void => {
  for (const name of fs.readdirSync(cache.tmpDir())) {
    const pid = /^[0-9a-f]{32}\.(\d+)\./.exec(name)?.[1];
    const abandoned = name.startsWith('gc-') || (pid !== undefined && !fs.existsSync(`/proc/${pid}`));
    if (abandoned) removeTree(path.join(cache.tmpDir(), name));
  }
};

/**
 * Where launch plans live and how exec writes them: `CACHE/plans/KEY/`, KEY naming the
 * launcher (its node, binary, options and command), holding `plan`, the files bubblewrap
 * reads (`seccomp`, `passwd`, `group`) and `seal`.
 *
 * Every file is written whole beside its place and renamed into it. The data files come
 * first and the plan names their stamps; the seal, last, names the plan's own (device, inode,
 * ctime). A launcher that reads while exec writes sees a seal that does not match the plan,
 * and goes to exec: never a mix of two plans.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {isErrno, JailError, reason} from '../errors.js';
import {writeFileAtomic} from '../mask/cache.js';
import {EXEC_PLANS, frontKeyText} from './front.js';
import {assertOwned} from '../mask/safety.js';
import {planText, PLAN_FILES, statPattern, statTime, WAY_FILE, WORDS_FILE, wordsText, type LaunchPlan} from './plan.js';

/** A launcher's plan key: its identity, everything that makes its jail. */
export const launcherKey = (words: readonly string[]): string =>
  crypto.createHash('sha256').update(words.join('\0')).digest('hex').slice(0, 32);

export const plansDir = (cacheDir: string): string => path.join(cacheDir, 'plans');

/** Where exec records the plans the front starts from (front.ts). */
export const execPlansDir = (cacheDir: string): string => path.join(cacheDir, EXEC_PLANS);

/** The key of an invocation's plan, as the front computes it (with sha256sum); none for a newline in a word. */
export const frontKey = (cwd: string, args: readonly string[]): string | undefined => {
  const text = frontKeyText(cwd, args);
  return text === undefined ? undefined : crypto.createHash('sha256').update(text).digest('hex').slice(0, 32);
};

/** A plan directory a launcher names: only CACHE/plans/KEY of this cache. */
export const assertPlanDir = (dir: string, cacheDir: string): string => {
  const resolved = path.resolve(dir);
  const real = (file: string): string => {
    try {
      return fs.realpathSync(file);
    } catch {
      return file;
    }
  };
  if (real(path.dirname(resolved)) !== real(plansDir(cacheDir)) || !/^[0-9a-f]{32}$/.test(path.basename(resolved))) {
    throw new JailError('usage', `--launch-plan ${dir}: not a plan directory of the cache ${cacheDir} (made by wrap)`);
  }
  return resolved;
};

const writeWhole = (file: string, content: string | Buffer): fs.BigIntStats => {
  writeFileAtomic(file, content);
  return fs.lstatSync(file, {bigint: true});
};

/**
 * Make (or check) a directory of plans: the caller's, like everything in the cache. One of
 * the caller's that others could write to is not trusted with anything: it is made again
 * (what was in it is only a plan, which the next run records anew).
 */
export const ensurePlanDir = (dir: string, uid: number): void => {
  try {
    const stats = fs.lstatSync(dir, {throwIfNoEntry: false});
    if (stats?.isDirectory() && stats.uid === uid && (stats.mode & 0o022) !== 0) fs.rmSync(dir, {recursive: true, force: true});
    fs.mkdirSync(dir, {mode: 0o700});
  } catch (error) {
    if (!isErrno(error, 'EEXIST')) throw new JailError('cache', `cannot make the launch plan directory ${dir}: ${reason(error)}`);
  }
  assertOwned(dir, uid, 'launch plan directory');
};

/**
 * Write a plan and the files bubblewrap reads (in PLAN_FILES order), each checked by the plan,
 * then the seal. `plan.checks` are the plan's other paths.
 */
export const writeLaunchPlan = (dir: string, uid: number, plan: LaunchPlan, files: readonly Buffer[]): void => {
  ensurePlanDir(dir, uid);
  // Where the launcher registers its jails on the mask, as exec does (registerJail).
  fs.mkdirSync(path.join(plan.mask, 'jails'), {recursive: true, mode: 0o700});
  assertOwned(path.join(plan.mask, 'jails'), uid, 'mask directory');
  const contents: Array<[string, string | Buffer]> = [...PLAN_FILES.map((name, index): [string, Buffer] => [name, files[index] ?? Buffer.alloc(0)]), [WORDS_FILE, wordsText(plan.words)]];
  const checks = contents.map(([name, content]) => {
    const stats = writeWhole(path.join(dir, name), content);
    return {path: path.join(dir, name), pattern: statPattern({dev: stats.dev, ino: stats.ino, ctimeNs: stats.ctimeNs})};
  });
  writeWhole(path.join(dir, WAY_FILE), `${plan.way}\n`);
  const written = writeWhole(path.join(dir, 'plan'), planText({...plan, checks: [...plan.checks, ...checks]}));
  // The launcher takes the plan's group for the caller's (test -G): one a set-group-ID
  // directory gave it instead would be taken for a group change, and never used.
  if (written.gid !== BigInt(process.getgid?.() ?? 0)) throw new JailError('cache', `the launch plan ${dir} got the group ${written.gid}, not the caller's (a set-group-ID directory?)`);
  writeWhole(path.join(dir, 'seal'), `${written.dev} ${written.ino} ${statTime(written.ctimeNs)}\n`);
};

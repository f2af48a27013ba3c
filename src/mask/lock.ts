/**
 * A per-mask lock between processes, so that concurrent requests for the same mask make one
 * build. The lock is a file that records its holder's pid and start time (the start time
 * guards against a recycled pid); a lock whose holder is gone (killed mid-build) is taken
 * over.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import {JailError, isErrno, reason} from '../errors.js';

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

const processStartTime = (pid: number): string | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counts from the end of the command name, which may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
};

/** This process as `pid starttime`: what locks and jail registrations record. */
export const processIdentity = (): string => `${process.pid} ${processStartTime(process.pid) ?? ''}`;

/** Whether the process a `pid starttime` record names is still running. */
export const holderIsAlive = (content: string): boolean => {
  const [pidText, startTime] = content.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  return processStartTime(pid) === startTime;
};

export interface Lock {
  release(): void;
}

/**
 * Take the lock FILE: create it holding this process's identity, waiting while a live
 * process holds it, taking it over when its holder is gone.
 *
 * The file is created whole with link() (a hard link of a private file already holding the
 * identity), so no one ever sees it empty or half-written. Only its holder removes it, and a
 * takeover removes a dead holder's lock under a kernel lock (see takeOver), after reading it
 * again: takers are serialised, and a lock is never removed unless it is still the dead
 * holder's, so no taker can remove a lock another process has just made.
 */
export const acquireLock = async (file: string, timeoutMs = 10 * 60_000): Promise<Lock> => {
  const identity = `${processIdentity()}\n`;
  const deadline = Date.now() + timeoutMs;
  // Private to this call (one process may wait for the same lock twice at once).
  const mine = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.new`;
  try {
    fs.writeFileSync(mine, identity, {mode: 0o600});
  } catch (error) {
    throw new JailError('cache', `cannot create lock ${file}: ${reason(error)}`);
  }
  try {
    return await linkWhenFree(file, mine, identity, deadline);
  } finally {
    fs.rmSync(mine, {force: true});
  }
};

/** Link `mine` (holding `identity`) as the lock FILE once it is free; see acquireLock. */
const linkWhenFree = async (file: string, mine: string, identity: string, deadline: number): Promise<Lock> => {
  let delay = 5;
  for (;;) {
    try {
      fs.linkSync(mine, file);
      return {
        release: () => {
          try {
            if (fs.readFileSync(file, 'utf8') === identity) fs.unlinkSync(file);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw new JailError('cache', `cannot create lock ${file}: ${reason(error)}`);
    }
    let content = '';
    try {
      content = fs.readFileSync(file, 'utf8');
    } catch {
      continue; // released between our link and our read
    }
    if (!holderIsAlive(content)) {
      await takeOver(file, content);
      continue;
    }
    if (Date.now() > deadline) throw new JailError('cache', `timed out waiting for lock ${file} (held by pid ${content.split(' ')[0]})`);
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
};

/**
 * Remove the lock FILE of a holder that is gone, if it still holds `stale`. Node has no
 * flock(), so flock(1) takes FILE.takeover for us: it runs `cat` once it holds the kernel's
 * lock, which we learn from `cat` echoing a line, and it lets go when we close `cat`'s input
 * (or when this process dies). Takeovers are rare: only after a holder was killed.
 */
const takeOver = async (file: string, stale: string): Promise<void> => {
  const child = childProcess.spawn('flock', ['--exclusive', `${file}.takeover`, 'cat'], {stdio: ['pipe', 'pipe', 'pipe']});
  let stderr = '';
  child.stderr.on('data', chunk => (stderr += chunk));
  const held = await new Promise<boolean>(resolve => {
    child.on('error', () => resolve(false));
    child.on('close', () => resolve(false));
    child.stdout.once('data', () => resolve(true));
    child.stdin.on('error', () => undefined);
    child.stdin.write('\n');
  });
  if (!held) {
    throw new JailError('cache', `cannot take over the stale lock ${file}: flock failed (${stderr.trim() || 'is util-linux installed?'})`);
  }
  try {
    if (fs.readFileSync(file, 'utf8') === stale) fs.unlinkSync(file);
  } catch {
    // Gone already: another taker was first.
  } finally {
    child.stdin.end();
  }
};

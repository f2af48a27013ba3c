/**
 * A per-mask lock between processes, so that concurrent requests for the same mask make one
 * build. Node has no flock(), so the lock is a file created with O_EXCL that records its
 * holder's pid and start time; a lock whose holder is gone (killed mid-build) is taken over.
 * The start time guards against a recycled pid.
 */
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

export const acquireLock = async (file: string, timeoutMs = 10 * 60_000): Promise<Lock> => {
  const identity = `${processIdentity()}\n`;
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, identity);
      fs.closeSync(fd);
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
      continue; // released between our open and our read
    }
    // An empty file is a holder between open() and write(); give it a moment before judging.
    if ((content !== '' && !holderIsAlive(content)) || (content === '' && isOlderThan(file, 2000))) {
      try {
        // Renaming before unlinking makes the take-over atomic: of two processes that both
        // found the holder dead, only one removes the stale lock, never a fresh one.
        const stale = `${file}.stale-${process.pid}`;
        fs.renameSync(file, stale);
        if (fs.readFileSync(stale, 'utf8') === content) fs.unlinkSync(stale);
        else fs.renameSync(stale, file);
      } catch {
        // Someone else took it over first.
      }
      continue;
    }
    if (Date.now() > deadline) throw new JailError('cache', `timed out waiting for lock ${file} (held by pid ${content.split(' ')[0]})`);
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
};

const isOlderThan = (file: string, ms: number): boolean => {
  try {
    return Date.now() - fs.statSync(file).mtimeMs > ms;
  } catch {
    return false;
  }
};

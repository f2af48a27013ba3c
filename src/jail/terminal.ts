/**
 * The caller's controlling terminal. The jail runs in a session of its own, without one
 * (run.ts), so the jail's /dev/tty is this device, bound in (args.ts).
 */
import fs from 'node:fs';
import tty from 'node:tty';
import {fdTarget} from './descriptors.js';

/** The caller's controlling terminal as a device path, for the jail's /dev/tty; undefined without one. */
export const controllingTerminal = (): string | undefined => {
  let ttyNr: number;
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    // Field 7 (tty_nr) counts from the end of the command name, which may hold spaces.
    ttyNr = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[4]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(ttyNr) || ttyNr === 0) return undefined;
  const candidates = [0, 1, 2].map(fdTarget);
  // Not found through 0–2: a pseudo-terminal's number is its minor (majors 136–143).
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) candidates.push(`/dev/pts/${(major - 136) * 256 + minor}`);
  for (const candidate of candidates) {
    if (!candidate.startsWith('/dev/')) continue;
    try {
      const stat = fs.statSync(candidate);
      if (stat.isCharacterDevice() && stat.rdev === ttyNr) return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
};

/**
 * After a hang-up the terminal answers every request with EIO, and Node 20 aborts on exit
 * restoring the settings it saved for a terminal on 0–2 (ResetStdio asserts that tcsetattr
 * succeeds or fails with EPERM): the program's exit status would be lost to a SIGABRT. Node
 * skips a descriptor that no longer refers to the file it saved, so each of 0–2 that was a
 * terminal and is now hung up is pointed at /dev/null (closing it and opening /dev/null takes
 * the lowest free number, which is that one).
 */
export const releaseHungUpTerminal = (): void => {
  for (const fd of [0, 1, 2]) {
    try {
      if (!fs.fstatSync(fd).isCharacterDevice() || tty.isatty(fd)) continue;
      if (!/^\/dev\/(pts\/|tty)/.test(fdTarget(fd))) continue;
      fs.closeSync(fd);
      const reopened = fs.openSync('/dev/null', fd === 0 ? 'r' : 'w');
      if (reopened !== fd) fs.closeSync(reopened);
    } catch {
      // leave it
    }
  }
};

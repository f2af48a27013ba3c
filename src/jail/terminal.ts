/**
 * The caller's controlling terminal. The jail runs in a session of its own, without one
 * (run.ts), so the jail's /dev/tty is this device, bound in (args.ts).
 */
import fs from 'node:fs';

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
  const candidates = [0, 1, 2].map(fd => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return '';
    }
  });
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

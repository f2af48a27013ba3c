/**
 * /proc/self/mountinfo, parsed as a pure function: what is mounted where. Fields are
 * space-separated with spaces, tabs, newlines and backslashes written as octal escapes.
 */
export interface MountEntry {
  /** The directory inside the filesystem that is mounted (`/` or `/store` for a bind of a subdirectory). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string;
}

const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));

export const parseMountinfo = (text: string): MountEntry[] =>
  text.split('\n').filter(line => line !== '').map(line => {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    return {
      root: unescape(fields[3] ?? ''),
      mountPoint: unescape(fields[4] ?? ''),
      fsType: fields[separator + 1] ?? '',
      source: unescape(fields[separator + 2] ?? ''),
      superOptions: fields[separator + 3] ?? '',
    };
  });

/** What this kernel says of AppArmor, read once for exec --apparmor and doctor. */
import fs from 'node:fs';

const readOrUndefined = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** Whether it enforces AppArmor (`Y`), and the profiles loaded with their modes; undefined where unreadable. */
export const apparmorHost = (): {enabled: string | undefined; loaded: string | undefined} => ({
  enabled: readOrUndefined('/sys/module/apparmor/parameters/enabled'),
  loaded: readOrUndefined('/sys/kernel/security/apparmor/profiles'),
});

/**
 * An AppArmor profile from a closure: the kernel holds the program to the same store paths a
 * second time, independently of mounts. Pure: the profile's text from the closure, the jail's
 * binds and the program.
 *
 * The profile attaches to the program's store path, so AppArmor confines it wherever it is
 * started (in a jail, where AppArmor sees paths as the jail's mount namespace shows them, or
 * not). It allows what the jail allows: each closure path read, mapped and executed (inherit),
 * the jail's own files, and the host paths the options bind, read-only or read-write as bound.
 * Everything else is denied by AppArmor's default; listing /nix/store and /nix/var are denied
 * outright. A path the profile's syntax cannot carry exactly is refused, not written.
 */
import {JailError} from '../errors.js';

export interface ProfileBind {
  /** Where the jail shows it (what AppArmor sees). */
  dest: string;
  readOnly: boolean;
}

export interface ProfileRequest {
  name: string;
  /** The program's path in the jail (/nix/store/…/bin/hello). */
  program: string;
  /** The closure's store paths, in the jail's /nix/store. */
  closure: readonly string[];
  binds: readonly ProfileBind[];
  /** The jail's home directory (a tmpfs, or --home's directory), if it has one. */
  home?: string | undefined;
}

/** A path as a quoted AppArmor path: glob characters escaped; one the syntax cannot carry, refused. */
export const apparmorPath = (file: string): string => {
  // A quote, a backslash, a control character or a variable (@{...}) has no exact spelling here.
  if (!file.startsWith('/') || /["\\\x00-\x1f\x7f]|@\{/.test(file)) {
    throw new JailError('usage', `an AppArmor profile cannot name ${JSON.stringify(file)} exactly: refused`);
  }
  return file.replace(/[*?[\]{}]/g, match => `\\${match}`);
};

/** A profile name: letters, digits and . _ - only (it becomes a word of the policy). */
export const assertProfileName = (name: string, option = '--name'): string => {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new JailError('usage', `${option} ${JSON.stringify(name)}: a profile name is letters, digits, '.', '_' and '-'`);
  return name;
};

/** The rules for each closure path: the path itself and everything in it, read, mapped, run (inherit). */
export const closureRules = (closure: readonly string[]): string[] =>
  [...closure].sort().map(entry => `  "${apparmorPath(entry)}{,/**}" mrix,`);

export const apparmorProfile = (request: ProfileRequest): string => {
  const name = assertProfileName(request.name);
  const binds = request.binds.map(bind => `  "${apparmorPath(bind.dest)}{,/**}" ${bind.readOnly ? 'r' : 'rwlk'},`);
  return `# Written by nix-overlay-jail apparmor: ${request.program} may read, map and run its
# closure's store paths and nothing else under /nix/store (${request.closure.length} paths).
abi <abi/3.0>,
include <tunables/global>

profile ${name} "${apparmorPath(request.program)}" flags=(attach_disconnected) {
  include <abstractions/base>

  # The closure.
${closureRules(request.closure).join('\n')}

  # The jail's own files: its passwd, group and hosts, /tmp, the home directory, the links it
  # makes (/bin/sh, /usr/bin/env), the terminal and /proc.
  /etc/passwd r,
  /etc/group r,
  /etc/hosts r,
  /bin/sh r,
  /usr/bin/env r,
  /tmp/{,**} rwlk,
${request.home === undefined ? '' : `  "${apparmorPath(request.home)}{,/**}" rwlk,
`}  /dev/tty rw,
  /dev/pts/* rw,
  @{PROC}/@{pid}/** r,
${binds.length === 0 ? '' : `
  # What the options bind, as bound.
${binds.join('\n')}
`}
  # Never the store's listing, nor Nix's database and daemon.
  deny /nix/store/ r,
  deny /nix/var/** rwlkmx,
}
`;
};

/** Whether the kernel enforces AppArmor, from /sys/module/apparmor/parameters/enabled. */
export const apparmorEnforced = (enabled: string | undefined): boolean => enabled?.trim() === 'Y';

/**
 * Why exec --apparmor NAME cannot start under profile NAME here, or undefined: this kernel must
 * enforce AppArmor (`enabled`, the text of /sys/module/apparmor/parameters/enabled) and hold
 * NAME in enforce mode (`loaded`, the text of /sys/kernel/security/apparmor/profiles).
 */
export const apparmorUnavailable = (name: string, enabled: string | undefined, loaded: string | undefined): string | undefined => {
  if (!apparmorEnforced(enabled)) return `--apparmor ${name}: this kernel does not enforce AppArmor`;
  const mode = (loaded ?? '').split('\n').map(line => /^(.*) \((\w+)\)$/.exec(line)).find(match => match?.[1] === name)?.[2];
  if (mode === undefined) return `--apparmor ${name}: no profile ${name} is loaded (nix-overlay-jail apparmor --name ${name} -- COMMAND | apparmor_parser -r)`;
  if (mode !== 'enforce') return `--apparmor ${name}: the profile is loaded in ${mode} mode, not enforce`;
  return undefined;
};

/**
 * Who the jail says its user is: an /etc/passwd and /etc/group written for it, holding only
 * the caller's own user and group (with the home directory the jail uses), root and nobody,
 * so that id, whoami, ssh and git find a name for the uid they run as. Never the host's files.
 * The texts are pure; reading the caller's names from the host is the one edge here.
 */
import fs from 'node:fs';
import os from 'node:os';

export interface Identity {
  user: string;
  uid: number;
  group: string;
  gid: number;
  home: string;
}

const NOBODY = 65534;

/** A name safe in a colon-separated line (a field cannot hold a colon or a line end). */
const field = (text: string, fallback: string): string => (text === '' || /[:\n\r\0]/.test(text) ? fallback : text);

/**
 * The jail's /etc/hosts when the host's is not bound in (--net binds it): localhost on both
 * loopback addresses, and the host name the jail shares with the host (its UTS namespace
 * starts as a copy) on a loopback address of its own, as Debian writes it. Without it,
 * `localhost` does not resolve, and programs that serve on it (test suites) fail.
 */
export const hostsFile = (hostname: string): string => {
  const named = /^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(hostname) && hostname !== 'localhost' ? `127.0.1.1\t${hostname}\n` : '';
  return `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${named}`;
};

/** The jail's /etc/passwd and /etc/group for the caller. */
export const identityFiles = (who: Identity): {passwd: string; group: string} => {
  const user = field(who.user, String(who.uid));
  const group = field(who.group, String(who.gid));
  const home = field(who.home, '/');
  // One line per id, the first kept: root stays root, and the caller is named as on the host.
  const users = new Map<number, string>();
  for (const [name, uid, gid, dir] of [['root', 0, 0, '/root'], [user, who.uid, who.gid, home], ['nobody', NOBODY, NOBODY, '/']] as const) {
    if (!users.has(uid)) users.set(uid, `${name}:x:${uid}:${gid}::${dir}:/bin/sh\n`);
  }
  const groups = new Map<number, string>();
  for (const [name, gid] of [['root', 0], [group, who.gid], ['nogroup', NOBODY]] as const) {
    if (!groups.has(gid)) groups.set(gid, `${name}:x:${gid}:\n`);
  }
  return {passwd: [...users.values()].join(''), group: [...groups.values()].join('')};
};

/** The name the jail gives a caller the host has no passwd entry for (containers run any uid). */
export const NAMELESS_USER = 'user';

/**
 * The caller as the kernel says (the real uid and gid, which are what the jail maps), with the
 * names the host gives them: getpwuid for the user, /etc/group for the group. A uid with no
 * passwd entry gets NAMELESS_USER and a gid with no group line NAMELESS_USER too.
 */
export const callerIdentity = (home: string | undefined): Identity => {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let info: os.UserInfo<string> | undefined;
  try {
    info = os.userInfo();
  } catch {
    info = undefined; // no passwd entry for this uid
  }
  let group = NAMELESS_USER;
  try {
    const line = fs.readFileSync('/etc/group', 'utf8').split('\n').find(entry => entry.split(':')[2] === String(gid));
    if (line !== undefined) group = line.split(':')[0]!;
  } catch {
    // no /etc/group: the fallback name stands
  }
  const named = info !== undefined && info.uid === uid;
  return {user: named ? info!.username : NAMELESS_USER, uid, group, gid, home: home ?? (named ? info!.homedir : '/')};
};

/**
 * The installed `nix-overlay-jail`, as a pure function: a POSIX shell front (dash, bash) that
 * starts an `exec` it has seen before from the launch plan exec recorded for it, as a wrap
 * launcher does (WARM_PATH), and runs the Node CLI for everything else.
 *
 * The plan of an invocation is `CACHE/exec-plans/KEY`, KEY the hash of the working directory
 * and the arguments (frontKey). What else exec's jail depends on the plan checks at each start,
 * as a launcher's: the variables planning read, the store, the mask, the options' files, the
 * caller's user and group (the plan and its cache must be the caller's own). The front finds
 * its cache as exec does by default (frontCacheDir): where that takes more than the
 * environment (a HOME that is not an absolute path, one with `//` or `..` in it), or an
 * argument holds a newline, the start goes to Node, which then records no plan either.
 *
 * Its one process beyond a launcher's: sha256sum, in the command substitution that also
 * finds the physical working directory (`cd -P .` in that subshell).
 */
import {shellQuote} from './shell.js';
import {STAT_FORMAT} from './plan.js';
import {WARM_PATH, warmMain} from './launcher.js';

/** The directory of the cache that holds exec's plans, one per invocation. */
export const EXEC_PLANS = 'exec-plans';

/** The first line of the text a front's key hashes (frontKeyText). */
const KEY_HEADER = 'nix-overlay-jail front 1';

/**
 * What the key hashes: the working directory, a header, then the arguments, a line each. An
 * argument or directory with a newline has no key (none is looked up, none recorded).
 */
export const frontKeyText = (cwd: string, args: readonly string[]): string | undefined =>
  [cwd, ...args].some(word => word.includes('\n') || word.includes('\0')) ? undefined : `${[cwd, KEY_HEADER, ...args].join('\n')}\n`;

/**
 * The cache directory the front looks in: exec's default, where the environment alone names
 * it, as a plain path (no `//`, `.` or `..` component, no trailing slash): else undefined.
 */
export const frontCacheDir = (env: Readonly<Record<string, string | undefined>>, uid: number): string | undefined => {
  let dir: string;
  if (uid === 0) dir = '/var/cache/nix-overlay-jail';
  else if (env['XDG_CACHE_HOME']?.startsWith('/')) dir = `${env['XDG_CACHE_HOME']}/nix-overlay-jail`;
  else if (env['HOME']?.startsWith('/')) dir = `${env['HOME']}/.cache/nix-overlay-jail`;
  else return undefined;
  return /\/\/|\/\.\.?\/|\n/.test(dir) ? undefined : dir;
};

export interface FrontInput {
  /** The Node.js to run the CLI with: a path, or a name found on PATH at each start. */
  node: string;
  /** The CLI's script; '' for nix-overlay-jail.cjs beside the front's real path. */
  cli: string;
}

export const frontScript = ({node, cli}: FrontInput): string => {
  if ([node, cli].some(word => word.includes('\0') || word.includes('\n'))) throw new Error('a front cannot carry a NUL byte or a newline');
  return String.raw`#!/bin/sh
# nix-overlay-jail: runs the Node.js CLI, except for an exec it has started before: that one
# starts warm from the launch plan exec recorded for the same arguments in the same directory,
# without Node, when everything the plan depends on is as recorded. NIX_OVERLAY_JAIL_NO_PLAN=1
# always runs the CLI; NIX_OVERLAY_JAIL_REQUIRE_PLAN=1 says why a plan was not used instead.
# The request to record (below) is the front's alone: never the caller's, never the jail's.
unset NIX_OVERLAY_JAIL_FRONT
noj_node=${shellQuote(node)}
# shellcheck disable=SC2016 # a path, quoted to be taken as it is
noj_cli=${shellQuote(cli)}
noj_full() {
  if [ -z "$noj_cli" ]; then
    noj_cli=$(readlink -f -- "$0") || {
      printf 'nix-overlay-jail: cannot find where %s is installed\n' "$0" >&2
      exit 125
    }
    noj_cli=${'$'}{noj_cli%/*}/nix-overlay-jail.cjs
  fi
  # Asks exec to record its plan for the next start.
  if [ -n "$noj_key" ]; then
    NIX_OVERLAY_JAIL_FRONT=1
    export NIX_OVERLAY_JAIL_FRONT
  else
    unset NIX_OVERLAY_JAIL_FRONT
  fi
  exec "$noj_node" "$noj_cli" "$@"
}

# A program on PATH (absolute directories only) into noj_found.
noj_find() {
  noj_found=
  noj_p=${'$'}{PATH-}:
  while [ -n "$noj_p" ]; do
    noj_l=${'$'}{noj_p%%:*}
    noj_p=${'$'}{noj_p#*:}
    case $noj_l in /*) ;; *) continue;; esac
    if [ -f "$noj_l/$1" ] && [ -x "$noj_l/$1" ]; then
      noj_found=$noj_l/$1
      return 0
    fi
  done
  return 1
}

# The key's hash, in a subshell: the physical working directory, then the arguments (noj_text).
noj_hash() {
  cd -P . 2>/dev/null || exit 1
  case $PWD in *"$noj_nl"*) exit 1;; esac
  exec "$noj_sha" <<EOF
$PWD
$noj_text
EOF
}

# The invocation's plan: noj_dir, the cache and its tools; fails (with noj_why) where the
# front cannot know them without Node.
noj_front() {
  [ "${'$'}{1-}" = exec ] || return 1
  noj_tried=1
  [ -z "${'$'}{NIX_OVERLAY_JAIL_NO_PLAN-}" ] || noj_no 'NIX_OVERLAY_JAIL_NO_PLAN is set' || return
  noj_nl='
'
  noj_ruid=
  while IFS=': 	' read -r noj_k noj_v noj_l; do
    case $noj_k in Uid) noj_ruid=$noj_v; break;; esac
  done 2>/dev/null </proc/$$/status
  case $noj_ruid in ''|*[!0-9]*) noj_no 'no user id in /proc'; return;; esac
  if [ "$noj_ruid" = 0 ]; then
    noj_cache=/var/cache/nix-overlay-jail
  else
    case ${'$'}{XDG_CACHE_HOME-} in
      /*) noj_cache=$XDG_CACHE_HOME/nix-overlay-jail;;
      *)
        case ${'$'}{HOME-} in
          /*) noj_cache=$HOME/.cache/nix-overlay-jail;;
          *) noj_no 'HOME is not an absolute path'; return;;
        esac;;
    esac
  fi
  case $noj_cache in *//*|*/./*|*/../*|*"$noj_nl"*) noj_no "the cache directory $noj_cache is not a plain path"; return;; esac
  noj_text=${shellQuote(KEY_HEADER)}
  for noj_l; do
    case $noj_l in *"$noj_nl"*) noj_no 'an argument holds a newline'; return;; esac
    noj_text=$noj_text$noj_nl$noj_l
  done
  noj_find sha256sum || noj_no 'sha256sum is not on PATH' || return
  noj_sha=$noj_found
  noj_key=$(noj_hash)
  noj_key=${'$'}{noj_key%% *}
  case $noj_key in *[!0-9a-f]*|'') noj_key=; noj_no 'the working directory has no name'; return;; esac
  [ "${'$'}{#noj_key}" -eq 64 ] || { noj_key=; noj_no 'sha256sum did not answer'; return; }
  noj_key=${'$'}{noj_key%????????????????????????????????}
  noj_dir=$noj_cache/${EXEC_PLANS}/$noj_key
  noj_find stat && noj_stat_tool=$noj_found && noj_find env && noj_env=$noj_found && noj_find setsid && noj_setsid=$noj_found && noj_find rm && noj_rm=$noj_found || noj_no 'stat, env, setsid or rm is not on PATH' || return
  noj_find bash || :
  noj_bash=$noj_found
  noj_ancestor_count=0
  noj_l=$noj_cache
  while [ -n "$noj_l" ]; do
    noj_l=${'$'}{noj_l%/*}
    noj_ancestor_count=$((noj_ancestor_count + 1))
  done
}

noj_key=
noj_owned_count=2
# What the check stats before the plan's own paths: the plan directory and the plan, the cache
# and its exec-plans directory, every directory above the cache from / down, the terminal.
noj_stat() {
  [ -z "$noj_tty" ] || set -- "$noj_tty" "$@"
  noj_l=$noj_cache
  while [ -n "$noj_l" ]; do
    noj_l=${'$'}{noj_l%/*}
    set -- "${'$'}{noj_l:-/}" "$@"
  done
  exec "$noj_stat_tool" -c ${shellQuote(STAT_FORMAT)} -- "$noj_dir" "$noj_dir/plan" "$noj_cache" "$noj_cache/${EXEC_PLANS}" "$@"
}
${WARM_PATH}${warmMain('noj_front "$@" && noj_terminal && noj_descriptors && noj_launch')}`;
};

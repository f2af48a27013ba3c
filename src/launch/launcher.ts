/**
 * The text of a wrap launcher, as a pure function: a POSIX shell script (dash, bash, busybox
 * sh) that starts a warm jail from its launch plan without Node, and runs
 * `nix-overlay-jail exec` for everything else.
 *
 * The warm path (each step builtins, unless said). The launcher's shell:
 *
 *  1. Reads the caller's terminal and the signals it was started with blocked from
 *     /proc/$$/stat (a pseudo-terminal only, nothing blocked; otherwise exec).
 *  2. Closes every descriptor above 2 it inherited, as exec closes them. dash closes only 0-9
 *     by number: under dash an inherited descriptor above 9 (IDEs, service managers and CI
 *     agents leave them) runs the launcher again under bash in POSIX mode (NixOS's /bin/sh,
 *     which closes any; no startup file), found when the launcher was written; without a bash,
 *     such a start goes to exec.
 *  3. Reads the plan's way (WAY_FILE), a hint, and starts a pipeline of two parts at once:
 *
 *     a. the check, a subshell: the plan read as data, then one stat(1) of everything it
 *        depends on: the plan directory, the plan and the cache directories (the caller's,
 *        writable by no one else, as exec requires of a cache), every directory above them
 *        (root's or the caller's, not writable by others unless sticky), the terminal, and the
 *        plan's own paths against its patterns. The plan file must be the one exec sealed
 *        (`seal`: its device, inode, ctime; a ctime no one can set back). Then the variables
 *        planning read, as recorded. Then the jail registers on the mask (masks/KEY/jails/PID,
 *        `pid starttime`) and checks that the mask is still there (gc moves a mask away before
 *        its last look for jails, so one of the two always sees the other: gc.ts), and the
 *        status file (run.PID.START) is made. Only then does it write "go".
 *     b. meanwhile, the chain's start: the namespaces of the way's unshare (UNSHARE) and in
 *        them GO, a shell that waits for "go" and only then uses anything of the plan: its
 *        words (which must begin as the chain it runs in), its files, the mount. Nothing
 *        in the plan directory is opened, made or run before the check has vouched for it.
 *
 *     The chain starts away from the caller's process group, with every signal at its
 *     default, as exec spawns it (in a session of its own). Under dash env(1) and setsid(1)
 *     start it; under bash a job started under job control (`set -m`) gets a process group of
 *     its own and is not made to ignore SIGINT and SIGQUIT, as a background job otherwise is,
 *     and GO resets with env(1) whatever the caller left ignored, only when it left anything.
 *     (It stays in the caller's session then: bubblewrap's monitor keeps the controlling
 *     terminal, which it never reads; on a terminal set to `stty tostop` an error bubblewrap
 *     prints would stop it. The sandbox has a session of its own either way.)
 *  4. Relays the terminal's signals to the jail's process group, found in bubblewrap's status
 *     (to the chain before that), and stops and continues the jail with itself on Ctrl-Z and fg.
 *  5. A check that refused, or a jail that never started (no child-pid in the status), goes
 *     to exec, which says why.
 */
import {shellQuote} from './shell.js';
import {MOUNT_COMMAND, MOUNT_FAILED, MOUNT_SCRIPT, UNSHARE, type LauncherWay} from '../mount/strategy.js';
import {PLAN_MAGIC, STAT_FORMAT, WAY_FILE, WORDS_FILE} from './plan.js';

export interface LauncherPlan {
  /** The plan directory (the cache's plans/KEY). */
  dir: string;
  /**
   * stat, env, setsid and rm, found on PATH when the launcher was written (no search at each
   * start); and bash, or '' where there is none.
   */
  tools: {stat: string; env: string; setsid: string; rm: string; bash: string};
  /** The cache directory and its plans directory: the caller's own, writable by no one else. */
  owned: string[];
  /** Every directory above the cache directory, from / down. */
  ancestors: string[];
}

export interface LauncherInput {
  node: string;
  cli: string;
  execOptions: readonly string[];
  command: readonly string[];
  /** Where exec records the plan; without it the launcher always runs exec. */
  plan?: LauncherPlan | undefined;
}

const words = (list: readonly string[]): string => list.map(shellQuote).join(' ');

const STRATEGIES: readonly LauncherWay[] = ['root', 'userns', 'bwrap'];

/**
 * The shell that starts the chain (`sh -c GO sh DIR STATUS TTY ENV N PREFIX... ARGS...`), in
 * the namespaces of the plan's way (its first N words, PREFIX), before the plan is checked. It
 * waits for the check's word, and only then reads the plan's words; they must begin with the
 * PREFIX it runs under. It does the mount of the root and userns ways itself (the launch
 * script's, without the shell of its own), resets what the caller left ignored, as exec's spawn
 * does, and runs bubblewrap with its descriptors.
 */
export const GO = String.raw`IFS=' 	
'
# Field 33 of /proc/PID/stat: the signals this shell was started with ignored.
noj_field_33() { noj_ignored=${'$'}{31-}; }
IFS= read -r noj_l </proc/$$/stat
set -f
# shellcheck disable=SC2086 # split into fields on purpose, with globbing off
noj_field_33 ${'$'}{noj_l##*) }
set +f
IFS= read -r noj_l && [ "$noj_l" = go ] || exit ${MOUNT_FAILED}
# shellcheck disable=SC2034 # noj_tty is read by the plan's words
noj_dir=$1 noj_status=$2 noj_tty=$3 noj_env=$4 noj_n=$5
shift 5
noj_i=0
while [ "$noj_i" -lt "$noj_n" ]; do
  eval "noj_p$noj_i=\$1"
  shift
  noj_i=$((noj_i + 1))
done
# command: a file that cannot be read or opened is a jail that did not start, not the end of
# this shell with a status of its own.
command . "$noj_dir/${WORDS_FILE}" || exit ${MOUNT_FAILED}
noj_i=0
while [ "$noj_i" -lt "$noj_n" ]; do
  eval "[ \"\$1\" = \"\$noj_p$noj_i\" ]" || exit ${MOUNT_FAILED}
  shift
  noj_i=$((noj_i + 1))
done
noj_reset=
case $noj_ignored in 0|'') ;; *) noj_reset=1;; esac
if [ -n "${'$'}{BASH_VERSION-}" ]; then
  # bash ignores SIGQUIT itself, and lists one ignored from the start as the trap ''.
  [ $(( ${'$'}{noj_ignored:-0} & ~4 )) -ne 0 ] || noj_reset=
  # shellcheck disable=SC3045 # bash only
  { trap -p QUIT; } 2>/dev/null >"$noj_status" && IFS= read -r noj_l <"$noj_status" && case $noj_l in *"-- ''"*) noj_reset=1;; esac
fi
command exec 0<&9 9<&- 3>"$noj_status" 4<"$noj_dir/seccomp" 5<"$noj_dir/passwd" 6<"$noj_dir/group" || exit ${MOUNT_FAILED}
# The jail's own /etc/hosts, when it has one (an empty file: the host's is bound instead).
[ ! -s "$noj_dir/hosts" ] || command exec 7<"$noj_dir/hosts" || exit ${MOUNT_FAILED}
# shellcheck disable=SC2016 # the mount script's text, compared as text
if [ "$#" -ge 6 ] && [ "$1" = sh ] && [ "$2" = -c ] && [ "$3" = ${shellQuote(MOUNT_SCRIPT)} ] && [ "$4" = sh ]; then
  shift 4
  ${MOUNT_COMMAND}
  shift 2
fi
[ -z "$noj_reset" ] || set -- "$noj_env" --default-signal "$@"
exec "$@"
`;

/** noj_start_chain's case for each way: the namespaces, then GO with them as its PREFIX. */
const WAY_CASES = STRATEGIES.map(way => {
  const prefix = words(UNSHARE[way]);
  return `    ${way}) set -- ${prefix}${prefix === '' ? '' : ' '}/bin/sh -c "$noj_go" sh "$noj_dir" "$noj_status" "$noj_tty" "$noj_env" ${UNSHARE[way].length} ${prefix}${prefix === '' ? '' : ' '}"$@";;`;
}).join('\n');

/** The warm path's functions: they read the variables a header sets (noj_dir, noj_stat, noj_owned_count, noj_ancestor_count, the tools). */
export const WARM_PATH = String.raw`
# Fields split as POSIX starts a shell, whatever the caller's environment says.
IFS=' 	
'

# Files of the plan directory read before it is vouched for: plain files only, so that nothing
# planted there (a FIFO, a link to a device) is opened.
noj_plain() {
  [ -f "$1" ] && [ ! -h "$1" ]
}

noj_no() {
  noj_why=$1
  return 1
}

# 1. The caller's terminal: /dev/pts/N from tty_nr (field 7), or none; what it left blocked.
noj_terminal() {
  noj_tty=
  IFS= read -r noj_l </proc/$$/stat || return 1
  set -f
  # shellcheck disable=SC2086
  set -- ${'$'}{noj_l##*) }
  set +f
  noj_nr=$5
  noj_start=${'$'}{20-}
  # Signals 1-31 this shell was started with blocked (field 32; GO looks at the ignored ones).
  noj_blocked=${'$'}{30-}
  case $noj_blocked in ''|*[!0-9]*) return 1;; esac
  [ "$noj_blocked" = 0 ] || noj_no 'signals are blocked, which exec unblocks' || return
  # Signals ignored when this shell started (field 33) cannot be trapped (POSIX): one started
  # in the background by a script ignores SIGINT and SIGQUIT, which exec relays (bash ignores
  # SIGQUIT itself, and its traps on it are never needed: only SIGINT matters there).
  noj_ignored=${'$'}{31-}
  case $noj_ignored in ''|*[!0-9]*) return 1;; esac
  noj_l=6
  [ -z "${'$'}{BASH_VERSION-}" ] || noj_l=2
  [ $(( noj_ignored & noj_l )) -eq 0 ] || noj_no 'SIGINT or SIGQUIT is ignored, and this shell could not relay it' || return
  case $noj_nr in ''|*[!0-9]*) return 1;; 0) return 0;; esac
  noj_major=$(( (noj_nr >> 8) & 0xfff ))
  noj_minor=$(( (noj_nr & 0xff) | ((noj_nr >> 12) & 0xfff00) ))
  [ "$noj_major" -ge 136 ] && [ "$noj_major" -le 143 ] || noj_no 'the terminal is not a pseudo-terminal' || return
  noj_tty=/dev/pts/$(( (noj_major - 136) * 256 + noj_minor ))
}

# $2 lines of standard input into $1_0, $1_1, ...
noj_lines() {
  noj_i=0
  while [ "$noj_i" -lt "$2" ]; do
    IFS= read -r "$1_$noj_i" || return 1
    noj_i=$((noj_i + 1))
  done
}

# 3a. The plan, read as data (on standard input).
noj_read() {
  IFS= read -r noj_l && [ "$noj_l" = '${PLAN_MAGIC}' ] || noj_no 'no plan, or one of another version' || return
  IFS= read -r noj_mask && IFS= read -r noj_host && IFS= read -r noj_n || return 1
  case $noj_n in ''|*[!0-9]*) return 1;; esac
  noj_lines noj_path "$noj_n" && noj_lines noj_pattern "$noj_n" || return 1
  IFS= read -r noj_e || return 1
  case $noj_e in ''|*[!0-9]*) return 1;; esac
  noj_lines noj_env "$noj_e" || return 1
  IFS= read -r noj_l && [ "$noj_l" = end ] || noj_no 'the plan is cut short' || return
}

noj_type() {
  [ $(( 0x$1 & 0xf000 )) -eq $(( 0x$2 )) ]
}

# The caller's own, writable by no one else.
noj_mine() {
  [ "$1" = "$noj_uid" ] && [ $(( 0x$2 & 0x12 )) -eq 0 ]
}

# Above the cache: root's or the caller's, a directory, not writable by others unless sticky.
noj_above() {
  noj_type "$2" 4000 && { [ "$1" = 0 ] || [ "$1" = "$noj_uid" ]; } && { [ $(( 0x$2 & 0x12 )) -eq 0 ] || [ $(( 0x$2 & 0x200 )) -ne 0 ]; }
}

noj_verify() {
  noj_plain "$noj_dir/seal" && IFS= read -r noj_seal 2>/dev/null <"$noj_dir/seal" || noj_no 'the plan is not sealed' || return
  noj_k=0
  noj_p=0
  noj_trusted=$(( 2 + noj_owned_count + noj_ancestor_count ))
  # Eight fields a line, none empty: taken apart by the shell's own field splitting.
  set -f
  # shellcheck disable=SC2086
  set -- $noj_out
  set +f
  while [ "$#" -ge 8 ]; do
    noj_u=$1 noj_f=$2 noj_d=$3 noj_ino=$4 noj_m=$5 noj_c=$6 noj_t=$7 noj_tt=$8
    shift 8
    noj_k=$((noj_k + 1))
    if [ "$noj_k" -eq 1 ]; then
      noj_uid=$noj_u
      # The caller's own (-O: owned by this shell's user), and no one else may write it.
      noj_type "$noj_f" 4000 && [ -O "$noj_dir" ] && noj_mine "$noj_u" "$noj_f" || noj_no 'the plan directory is not the caller'"'"'s alone' || return
    elif [ "$noj_k" -eq 2 ]; then
      noj_type "$noj_f" 8000 && noj_mine "$noj_u" "$noj_f" || noj_no 'the plan is not the caller'"'"'s alone' || return
      [ "$noj_d $noj_ino $noj_c" = "$noj_seal" ] || noj_no 'the plan was changed after exec wrote it' || return
    elif [ "$noj_k" -le $(( 2 + noj_owned_count )) ]; then
      noj_type "$noj_f" 4000 && noj_mine "$noj_u" "$noj_f" || noj_no 'the cache directory is not the caller'"'"'s alone' || return
    elif [ "$noj_k" -le "$noj_trusted" ]; then
      noj_above "$noj_u" "$noj_f" || noj_no 'a directory above the cache could be changed by others' || return
    elif [ "$noj_k" -eq $(( noj_trusted + 1 )) ] && [ -n "$noj_tty" ]; then
      noj_type "$noj_f" 2000 && [ $(( 0x$noj_t )) -eq "$noj_major" ] && [ $(( 0x$noj_tt )) -eq "$noj_minor" ] || noj_no 'the terminal is not the device its number says' || return
    else
      eval "noj_l=\$noj_pattern_$noj_p"
      # shellcheck disable=SC2254
      case "$noj_u $noj_f $noj_d $noj_ino $noj_m $noj_c $noj_t $noj_tt" in
        $noj_l) ;;
        *) noj_no 'the store, the mask or a bound path changed since the plan was made'; return;;
      esac
      noj_p=$((noj_p + 1))
    fi
  done
  [ "$noj_p" -eq "$noj_n" ] || noj_no 'stat did not answer for every path' || return
  # The group the jail maps is the caller's: exec wrote the plan with it (-G: the caller's group).
  [ -G "$noj_dir/plan" ] || noj_no 'the caller runs with another group than when the plan was made' || return
  { IFS= read -r noj_l </proc/sys/kernel/hostname; } 2>/dev/null && [ "$noj_l" = "$noj_host" ] || noj_no 'the host name is not what it was when the plan was made' || return
  # 3. The variables planning read (the plan is trusted from here on).
  noj_i=0
  while [ "$noj_i" -lt "$noj_e" ]; do
    eval "noj_l=\$noj_env_$noj_i"
    noj_name=${'$'}{noj_l%%=*}
    noj_name=${'$'}{noj_name#[+-]}
    # shellcheck disable=SC2034 # noj_value is read by the eval
    case $noj_l in
      -*) eval "[ -z \"\${$noj_name+x}\" ]" ;;
      *) noj_value=${'$'}{noj_l#*=}; eval "[ -n \"\${$noj_name+x}\" ] && [ \"\$$noj_name\" = \"\$noj_value\" ]" ;;
    esac || noj_no "$noj_name is not what it was when the plan was made" || return
    noj_i=$((noj_i + 1))
  done
}

# 2. Close what this shell inherited above 2 (not its own, which are closed on exec).
noj_descriptors() {
  for noj_l in "/proc/$$/fd/"*; do
    noj_n=${'$'}{noj_l##*/}
    case $noj_n in 0|1|2|*[!0-9]*) continue;; esac
    noj_flags=
    while IFS=': 	' read -r noj_k noj_v; do
      case $noj_k in flags) noj_flags=$noj_v;; esac
    done 2>/dev/null <"/proc/$$/fdinfo/$noj_n"
    # Gone since the listing (the listing's own descriptor): nothing to close.
    [ -n "$noj_flags" ] || continue
    [ $(( 0$noj_flags & 02000000 )) -eq 0 ] || continue
    # dash takes one digit in a redirection; bash (NixOS's /bin/sh) takes any number, and
    # runs this launcher again where dash cannot (below).
    if [ "$noj_n" -gt 9 ] && [ -z "${'$'}{BASH_VERSION-}" ]; then
      noj_rebash=$noj_bash
      [ -n "$noj_bash" ] || noj_no "descriptor $noj_n is open, and this shell cannot close it, nor find bash, which can" || return
      noj_no "descriptor $noj_n is open, and this shell cannot close it"
      return
    fi
    eval "exec $noj_n>&-"
  done
}

# 3a. Register on the mask as exec does; the mask must still be there after.
noj_register() {
  noj_record=$noj_mask/jails/$$
  { printf '%s %s\n' "$$" "$noj_start" >"$noj_record"; } 2>/dev/null || noj_no 'the mask is gone' || return
  if [ ! -f "$noj_mask/state.json" ]; then
    "$noj_rm" -f "$noj_record"
    noj_no 'the mask is gone'
    return
  fi
  : >"$noj_mask/used" 2>/dev/null
  return 0
}

# The number after KEY in a status line (LINE): into noj_num.
noj_number() {
  noj_num=${'$'}{2#*"$1"}
  noj_num=${'$'}{noj_num#*:}
  noj_num=${'$'}{noj_num#"${'$'}{noj_num%%[0-9]*}"}
  noj_num=${'$'}{noj_num%%[!0-9]*}
}

# The jail's process group (noj_pg) while it runs, and the program's status once bubblewrap
# reported it (noj_done; then no group).
noj_group() {
  noj_pg=
  noj_done=
  while IFS= read -r noj_l; do
    case $noj_l in
      *'"child-pid"'*) noj_number '"child-pid"' "$noj_l"; noj_pg=$noj_num;;
      *'"exit-code"'*) noj_number '"exit-code"' "$noj_l"; noj_done=${'$'}{noj_num:-?};;
    esac
  done 2>/dev/null <"$noj_status"
  [ -z "$noj_done" ] || noj_pg=
}

# 4. A trap only queues its signal (once: as the kernel keeps one of each pending), in a single
# command and no function: a signal that comes while another's trap runs nests no function, and
# the shell keeps the status of whatever its trap interrupted. The wait loop relays the queue, in
# order, outside every trap: a trap run inside another (dash runs them re-entrantly) would hand
# the inner command the outer trap's saved status, so a kill that worked could read as failed.
noj_trap() {
  for noj_l in "$@"; do
    # shellcheck disable=SC2064 # the signal's name and the pipe's number go in now, on purpose
    trap "case \" \$noj_queue \" in *' $noj_l '*) ;; *) ${'$'}{noj_wake:+[ -n \"\$noj_queue\" ] || echo >&$noj_wake; }noj_queue=\"\$noj_queue $noj_l\";; esac" "$noj_l"
  done
}

noj_relay() {
  noj_group
  # The check vouched for the plan (it made the status file) and the chain is alive, but
  # bubblewrap has not yet named the sandbox: it is starting, and its program may already
  # run. Read again until it does (a few milliseconds), rather than end the start.
  noj_w=0
  while [ -z "$noj_pg" ] && [ -z "$noj_done" ] && [ -e "$noj_status" ] && [ "$noj_w" -lt 20000 ] && kill -0 "$noj_chain" 2>/dev/null; do
    noj_group
    noj_w=$((noj_w + 1))
  done
  if [ -n "$noj_pg" ] && kill -s "$1" -- "-$noj_pg" 2>/dev/null; then return; fi
  # Not started yet: a signal that ends it ends the launch command (and so the sandbox).
  [ -n "$noj_done" ] && return
  case $1 in WINCH|CONT) ;; *) kill -s "$1" -- "${'$'}{noj_wake:+-}$noj_chain" 2>/dev/null;; esac
}

noj_suspend() {
  noj_group
  [ -z "$noj_pg" ] || kill -s STOP -- "-$noj_pg" 2>/dev/null
  trap - TSTP
  kill -s TSTP $$
  noj_trap TSTP
  noj_group
  [ -z "$noj_pg" ] || kill -s CONT -- "-$noj_pg" 2>/dev/null
}

# 3a. The pipeline's first part, a subshell: the stat line of everything the plan names, the
# checks and the registration; only then is the chain's shell told to go on.
noj_check() {
  { noj_plain "$noj_dir/plan" && noj_read 2>/dev/null <"$noj_dir/plan"; } || { noj_told; return; }
  set --
  noj_i=0
  while [ "$noj_i" -lt "$noj_n" ]; do
    eval "set -- \"\$@\" \"\$noj_path_$noj_i\""
    noj_i=$((noj_i + 1))
  done
  if noj_out=$(noj_stat "$@" 2>/dev/null) || noj_no 'a path the plan depends on is gone'; then
    if noj_verify && noj_register; then
      { : >"$noj_status"; } 2>/dev/null || noj_no 'the plan directory cannot be written' || return
      printf 'go\n'
      return
    fi
  fi
  noj_told
}

# Why the plan was not used, when asked (NIX_OVERLAY_JAIL_REQUIRE_PLAN).
noj_told() {
  [ -z "${'$'}{NIX_OVERLAY_JAIL_REQUIRE_PLAN-}" ] || printf 'nix-overlay-jail: the launch plan was not used: %s\n' "${'$'}{noj_why:-no plan}" >&2
}

# 3b. The pipeline's second part, while the check runs: the chain's namespaces as the plan's
# way makes them, and a shell in them that goes on when the check says so (GO).
# shellcheck disable=SC2016 # GO is a script of its own, checked as one
noj_go=${shellQuote(GO)}
noj_start_chain() {
  case $noj_way in
${WAY_CASES}
  esac
  [ -n "${'$'}{BASH_VERSION-}" ] || set -- "$noj_env" --default-signal "$noj_setsid" "$@"
  exec "$@"
}

# bash's wait loses a signal when two different ones come at once: the kernel starts the
# handler of the first and, on top of it, the second's, whose handler leaves the wait by a
# long jump and so never returns to the first (its trap never runs; seen with TERM then CONT,
# as systemd stops a service, in half the starts). Under bash the chain's start runs in a
# subshell of its own that traps the signals a relay may send it (its parts get them at their
# default) and writes the chain's status, a line, on the pipe noj_wake when the chain ends; the
# launcher reads that pipe instead of waiting, and a trap writes an empty line to it when it
# queues a signal, so a queued signal never waits for the next one. A signal that comes while
# read starts, before it reads (its trap runs after the read), is relayed when the read's
# one-second timeout ends it.
noj_launch_bash() {
  eval '{
    trap : INT QUIT HUP TERM USR1 USR2 WINCH CONT TSTP
    noj_check 9<&- '"$noj_wake"'>&- | noj_start_chain "$@" '"$noj_wake"'>&-
    noj_l=$?
    echo "$noj_l" >&'"$noj_wake"'
    exit "$noj_l"
  } &'
}

# 3, 4. Start both parts and wait for the chain, relaying signals (noj_relay, noj_suspend).
noj_launch() {
  noj_status=$noj_dir/run.$$.$noj_start
  noj_plain "$noj_dir/${WAY_FILE}" && IFS= read -r noj_way 2>/dev/null <"$noj_dir/${WAY_FILE}" || noj_no 'no plan, or one of an earlier version' || return
  case $noj_way in ${STRATEGIES.join('|')}) ;; *) noj_no 'the plan mounts in a way this launcher does not know'; return;; esac
  # Standard input closed (./launcher <&-): exec starts the program so.
  { command exec 9<&0; } 2>/dev/null || noj_no 'standard input is closed' || return
  noj_queue=
  # bash waits for the chain by reading a pipe (noj_wake), not with wait: see noj_launch_bash.
  noj_wake=
  [ -z "${'$'}{BASH_VERSION-}" ] || eval 'exec {noj_wake}<> <(:)' 2>/dev/null || noj_wake=
  noj_trap INT QUIT HUP TERM USR1 USR2 WINCH CONT TSTP
  # bash starts a job under job control in a process group of its own, with default SIGINT and
  # SIGQUIT: what setsid and env do for dash (noj_start_chain).
  [ -z "${'$'}{BASH_VERSION-}" ] || set -m
  if [ -n "$noj_wake" ]; then
    noj_launch_bash "$@"
  else
    noj_check 9<&- | noj_start_chain "$@" &
  fi
  noj_chain=$!
  set +m
  exec 9<&-
  while :; do
    while [ -n "$noj_queue" ]; do
      noj_s=${'$'}{noj_queue# }
      noj_s=${'$'}{noj_s%% *}
      noj_queue=${'$'}{noj_queue# }
      noj_queue=${'$'}{noj_queue#"$noj_s"}
      case $noj_s in TSTP) noj_suspend;; *) noj_relay "$noj_s";; esac
    done
    if [ -n "$noj_wake" ]; then
      # The chain's status, or an empty line from a trap (or nothing: a trapped signal ended
      # the read, or a second went by).
      noj_l=
      # shellcheck disable=SC3045 # bash only: noj_wake is set under bash alone
      IFS= read -r -t 1 -u "$noj_wake" noj_l
      case $noj_l in [0-9]*) noj_rc=$noj_l; break;; esac
      kill -0 "$noj_chain" 2>/dev/null && continue
      # Ended without a word (killed): its status, as wait has it.
      wait "$noj_chain" 2>/dev/null
      noj_rc=$?
      break
    fi
    # The queue is read in the wait's own word: a signal trapped before it leaves the queue
    # full, and the wait is for no child ($$), done at once; one that comes after it is pending
    # in the shell, and ends the wait at once. Either way nothing queued waits for the next one.
    # Quiet: bash reports a job killed by a signal it does not trap, and a pid not its child.
    wait "${'$'}{noj_queue:+$$}${'$'}{noj_queue:-$noj_chain}" 2>/dev/null
    noj_rc=$?
    # A signal ended the wait, or came before it: this is not (surely) the chain's status.
    [ -z "$noj_queue" ] || noj_rc=
    # Gone (a chain that ended meanwhile is a zombie until a wait takes its status).
    kill -0 "$noj_chain" 2>/dev/null || break
    # Still running: a trap ended the wait. A signal that came while dash ran a trap stays
    # pending in dash after its trap ran too, and every wait then ends at once, with 128+N
    # (and may take the chain's status with it): a trapped signal of its own, taken at once,
    # clears that before the next wait.
    trap : ALRM
    kill -s ALRM $$
    trap - ALRM
  done
  # A wait a signal ended (which may have taken the chain's status with it): the program's
  # status is the one bubblewrap reported; without one, the chain's, if no wait took it yet.
  if [ -z "$noj_rc" ] || [ "$noj_rc" -gt 128 ]; then
    noj_group
    case $noj_done in
      ''|*[!0-9]*) [ -n "$noj_rc" ] || { wait "$noj_chain" 2>/dev/null; noj_rc=$?; };;
      *) noj_rc=$noj_done;;
    esac
  fi
  trap - INT QUIT HUP TERM USR1 USR2 WINCH CONT TSTP
  # Whether the jail started matters only for the statuses of a start that failed (bubblewrap's
  # 1, the mount's 125, a program not found or not runnable): only then is the status read.
  noj_started=2
  case $noj_rc in
    1|125|126|127)
      if [ ! -e "$noj_status" ]; then
        # The check refused the plan (and said why, if asked to), or the chain never began.
        noj_refused=1
        return 1
      fi
      noj_started=
      while IFS= read -r noj_l; do
        case $noj_l in *'"child-pid"'*) noj_started=1;; *'"exit-code"'*) noj_started=2;; esac
      done 2>/dev/null <"$noj_status";;
  esac
  # The check registered the jail on the plan's mask (a plan rewritten since leaves it to gc).
  # Not waited for: the caller has the program's status as soon as the program ends.
  { IFS= read -r noj_l && IFS= read -r noj_mask; } 2>/dev/null <"$noj_dir/plan"
  "$noj_rm" -f "$noj_status" ${'$'}{noj_mask:+"$noj_mask/jails/$$"} </dev/null >/dev/null 2>&1 &
  # 5. Never started, or the program never ran (bubblewrap reports no exit code): exec says why.
  if [ "$noj_started" != 2 ] && { [ -z "$noj_started" ] || [ "$noj_rc" -eq 1 ]; }; then
    noj_no "the jail did not start (exit $noj_rc)"
    return
  fi
  exit "$noj_rc"
}

`;

/**
 * The warm path's first lines: START (a condition) tries the warm start, which exits with the
 * program's status when it is taken; otherwise the script runs noj_full with its arguments.
 * START sets noj_tried when the start was one the warm path is for: only then does
 * NIX_OVERLAY_JAIL_REQUIRE_PLAN stop it (exit 125, saying why).
 */
export const warmMain = (start: string): string => String.raw`noj_refused=
noj_mask=
noj_rebash=
noj_tried=
if ${start}; then :; fi
# Under dash, with a descriptor above 9 open: bash closes it and starts warm (nothing of the
# start has been done yet). --posix: no startup file (BASH_ENV) is read.
[ -z "$noj_rebash" ] || [ ! -f "$0" ] || exec "$noj_rebash" --posix "$0" "$@"
if [ -n "$noj_tried" ] && [ -n "${'$'}{NIX_OVERLAY_JAIL_REQUIRE_PLAN-}" ]; then
  [ -n "$noj_refused" ] || noj_told
  exit 125
fi
noj_full "$@"
`;

/**
 * The launcher's text. Every word is quoted, so what exec runs is exactly the words given
 * here followed by the launcher's own arguments ("$@").
 */
export const launcherScript = (input: LauncherInput): string => {
  const {node, cli, execOptions, command, plan} = input;
  if ([node, cli, ...execOptions, ...command, ...(plan === undefined ? [] : [plan.dir, ...plan.owned, ...plan.ancestors, ...Object.values(plan.tools)])].some(word => word.includes('\0'))) {
    throw new Error('a launcher cannot carry a NUL byte');
  }
  const planOptions = plan === undefined ? [] : [`--launch-plan=${plan.dir}`, `--launch-words=${command.length}`];
  const exec = [node, cli, 'exec', ...planOptions, ...execOptions, '--', ...command].map(shellQuote).join(' \\\n    ');
  const head = `#!/bin/sh
# Written by nix-overlay-jail wrap: runs the command below in a jail whose /nix/store
# holds only its closure.${plan === undefined ? '' : `
# A warm start follows the launch plan exec recorded, without Node, when everything the
# plan depends on is as recorded; otherwise (and with NIX_OVERLAY_JAIL_NO_PLAN set) exec
# runs the jail and records the plan again. NIX_OVERLAY_JAIL_REQUIRE_PLAN=1 says why a plan
# was not used, instead of running exec.`}
noj_full() {
  # shellcheck disable=SC2016,SC1003 # the words, each quoted to reach exec as it is
  exec ${exec} \\
    "$@"
}
`;
  if (plan === undefined) return `${head}noj_full "$@"\n`;
  return `${head}noj_dir=${shellQuote(plan.dir)}
noj_owned_count=${plan.owned.length}
noj_ancestor_count=${plan.ancestors.length}
noj_env=${shellQuote(plan.tools.env)}
noj_setsid=${shellQuote(plan.tools.setsid)}
noj_rm=${shellQuote(plan.tools.rm)}
noj_bash=${shellQuote(plan.tools.bash)}
noj_stat() {
  exec ${shellQuote(plan.tools.stat)} -c ${shellQuote(STAT_FORMAT)} -- "$noj_dir" "$noj_dir/plan" ${words([...plan.owned, ...plan.ancestors])} ${'$'}{noj_tty:+"$noj_tty"} "$@"
}
${WARM_PATH}${warmMain(String.raw`noj_tried=1 && [ -z "${'$'}{NIX_OVERLAY_JAIL_NO_PLAN-}" ] && noj_terminal && noj_descriptors && noj_launch "$@"`)}`;
};

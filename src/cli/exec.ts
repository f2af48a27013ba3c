/** `exec`: its options, help and how they become ExecOptions. */
import path from 'node:path';
import process from 'node:process';
import {parseDuration} from '../duration.js';
import {JailError} from '../errors.js';
import {parseKeepFd} from '../jail/descriptors.js';
import {parseLimits} from '../jail/limits.js';
import {parseCgroupLimits} from '../jail/cgroup.js';
import {profileFile} from '../profiles/builtin.js';
import {asStrings, closureFlags, hostFlags, hostOptions, CLOSURE_HELP, maskFlags, MASK_HELP, type Command, type Flags} from './command.js';

/**
 * The front's request to record this invocation's plan (NIX_OVERLAY_JAIL_FRONT=1), taken out
 * of the environment before anything can pass it on.
 */
const FRONT_ASKED = process.env['NIX_OVERLAY_JAIL_FRONT'] === '1';
delete process.env['NIX_OVERLAY_JAIL_FRONT'];

/** The key of the plan the front asked for: this invocation's (the working directory and the arguments). */
const askedFrontKey = async (): Promise<string | undefined> => {
  if (!FRONT_ASKED) return undefined;
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch {
    return undefined;
  }
  const {frontKey} = await import('../launch/record.js');
  return frontKey(cwd, process.argv.slice(2));
};

export const execFlags: Flags = {
  ...hostFlags,
  ...closureFlags,
  ...maskFlags,
  mountWith: {type: 'string', default: 'auto', choices: ['auto', 'root', 'userns', 'bwrap', 'fuse']},
  shareNet: {type: 'boolean', default: false},
  setenv: {type: 'string', isMultiple: true},
  keepEnv: {type: 'string', isMultiple: true},
  chdir: {type: 'string'},
  bindCwd: {type: 'boolean', default: false},
  bwrapArg: {type: 'string', isMultiple: true},
  keepFd: {type: 'string', isMultiple: true},
  home: {type: 'string'},
  noSystemLinks: {type: 'boolean', default: false},
  dryRun: {type: 'boolean', default: false},
  timeout: {type: 'string'},
  killAfter: {type: 'string'},
  limit: {type: 'string', isMultiple: true},
  memory: {type: 'string'},
  cpus: {type: 'string'},
  pids: {type: 'string'},
  apparmor: {type: 'string'},
  parseOnly: {type: 'boolean', default: false},
  quiet: {type: 'boolean', default: false},
  launchPlan: {type: 'string'},
  launchWords: {type: 'string'},
};

/** --launch-plan DIR --launch-words K, as a wrap launcher passes them: K words of the command are its own. */
const launchPlanOption = (flags: Record<string, unknown>, operands: string[]) => {
  const dir = flags['launchPlan'] as string | undefined;
  if (dir === undefined) return undefined;
  const words = Number(flags['launchWords']);
  if (!Number.isInteger(words) || words < 1 || words > operands.length) {
    throw new JailError('usage', `--launch-plan needs --launch-words N, at most the ${operands.length} words of the command`);
  }
  return {dir, words};
};

/** --timeout DURATION [--kill-after DURATION]; none for 0, as timeout(1). */
const timeoutOption = (flags: Record<string, unknown>): {ms: number; killAfterMs: number} | undefined => {
  const timeout = flags['timeout'] as string | undefined;
  const killAfter = flags['killAfter'] as string | undefined;
  if (timeout === undefined) {
    if (killAfter !== undefined) throw new JailError('usage', '--kill-after needs --timeout');
    return undefined;
  }
  const ms = parseDuration(timeout, '--timeout');
  return ms === 0 ? undefined : {ms, killAfterMs: parseDuration(killAfter ?? '5s', '--kill-after')};
};

/** The profiles the options named (each --profile=FILE), absolute: a launch plan checks them. */
export const profileFiles = (options: readonly string[]): string[] =>
  options.filter(option => option.startsWith('--profile=')).map(option => path.resolve(profileFile(option.slice('--profile='.length))));

export const execOptions = (flags: Record<string, unknown>, operands: string[], options: readonly string[] = []) => ({
  profiles: profileFiles(options),
  ...hostOptions(flags),
  argv: operands,
  storeDir: String(flags['store']),
  also: asStrings(flags['also']),
  closureFiles: asStrings(flags['closureFile']),
  graphs: asStrings(flags['graph']),
  cacheDir: flags['cacheDir'] as string | undefined,
  execOnly: Boolean(flags['execOnly']),
  mode: flags['mode'] as 'auto' | 'whiteout' | 'allowlist',
  mountWith: flags['mountWith'] as 'auto' | 'root' | 'userns' | 'bwrap' | 'fuse',
  shareNet: Boolean(flags['shareNet']),
  setenv: asStrings(flags['setenv']),
  keepEnv: asStrings(flags['keepEnv']),
  chdir: flags['chdir'] as string | undefined,
  bindCwd: Boolean(flags['bindCwd']),
  bwrapArg: asStrings(flags['bwrapArg']),
  keepFd: [...new Set(asStrings(flags['keepFd']).map(parseKeepFd))],
  home: flags['home'] as string | undefined,
  noSystemLinks: Boolean(flags['noSystemLinks']),
  dryRun: Boolean(flags['dryRun']),
  quiet: Boolean(flags['quiet']),
  launchPlan: launchPlanOption(flags, operands),
  timeout: timeoutOption(flags),
  limits: parseLimits(asStrings(flags['limit'])),
  apparmor: flags['apparmor'] as string | undefined,
  cgroup: parseCgroupLimits({memory: flags['memory'] as string | undefined, cpus: flags['cpus'] as string | undefined, pids: flags['pids'] as string | undefined}),
});

export const execCli: Command = {
  summary: 'run a program in a jail whose /nix/store is its closure only',
  usage: 'nix-overlay-jail exec [options] [--] COMMAND [ARG...]',
  body: `
  COMMAND is found on PATH (or taken as a path) and resolved through symlinks into its
  store entry; that entry's closure is all the jail's /nix/store holds.
${CLOSURE_HELP}
${MASK_HELP}

  Mounting:
    --mount-with HOW         auto (default), root, userns, bwrap (bubblewrap >= 0.11.0
                             mounts the overlay itself; 0.9 and 0.10 cannot) or fuse
                             (fuse-overlayfs, with /dev/fuse usable; whiteout masks only).
                             auto: root for root; for others bwrap where it can, else userns;
                             fuse only where the kernel cannot mount overlay in a user
                             namespace (before Linux 5.11)

  The sandbox (new user, pid, ipc, uts and cgroup namespaces, no network, fresh /proc,
  minimal /dev, tmpfs /tmp, dies with its parent, environment cleared, descriptors 0-2 only):
    --share-net              keep the network
    --setenv NAME=VALUE      set a variable in the jail (repeatable)
    --keep-env NAME          pass a variable through (repeatable; PATH is the closure's bin
                             directories, HOME and TERM are kept)
    --bind SRC[:DEST]        bind a host path read-write (repeatable)
    --ro-bind SRC[:DEST]     bind a host path read-only (repeatable)
    --chdir DIR              start in DIR inside the jail
    --bind-cwd               bind the working directory read-write at its own path and start
                             there (a project's checkout); not /, nor in or above the store
    --bwrap-arg ARG          pass ARG to bubblewrap (repeatable; --bwrap-arg=--foo)
    --no-system-links        make no /bin/sh and /usr/bin/env; by default, when the closure
                             holds a bin/sh (bin/env), they link to it, the program's own first
    --home DIR               keep DIR between runs as the jail's $HOME, read-write (made with
                             mode 0700 if missing); without it $HOME is empty in every jail
    --keep-fd N              pass the caller's descriptor N to the program at the same number
                             (repeatable); every other descriptor above 2 is closed first
    --timeout DURATION       end the jail when DURATION (90s, 10m, 1.5h; seconds without a
                             unit; 0: never) has passed: SIGTERM to every process in it, its
                             daemons too, then SIGKILL; exit 124, as timeout(1)
    --kill-after DURATION    how long SIGTERM has before SIGKILL (default 5s)
    --limit NAME=VALUE       a resource limit for the jail's every process, and bubblewrap's
                             set-up (repeatable): as (address space), fsize (file size) and
                             core (core file size), sizes such as 512M or 2G; nofile (open
                             files), nproc (processes of your user: not held for root), cpu
                             (CPU seconds). Soft and hard alike; above your hard limit: exit 125
    --memory SIZE            put the jail in a cgroup of its own (a systemd scope, removed
                             after) with at most SIZE of memory (512M, 2G; no swap)
    --cpus N                 ... with N CPUs' worth of time (1.5, 0.25)
    --pids N                 ... with at most N processes. These need cgroup v2 and a systemd
                             manager that delegates them (doctor says); else exit 125
    --dry-run                print the command that would run, one argument per line, and stop
                             (and, on standard error, the store paths host resources add)
    --apparmor NAME          start only where the AppArmor profile NAME (from
                             nix-overlay-jail apparmor) is loaded and enforced, which then
                             holds the program to its closure a second time; else exit 125
    --parse-only             check the options and stop, reading nothing of the host: for
                             checks at build time (Nix's wrap). Profiles in the store are read
                             and checked; profiles elsewhere are left for the launch
    --launch-plan DIR        (for wrap launchers) record the run's launch plan in DIR, a
    --launch-words N         plans/KEY directory of the cache; the command's first N words
                             are the launcher's, the rest its arguments

  The host (each path that enters the jail, these and --bind/--ro-bind alike, is followed
  through its symbolic links: a chain into the store is made again in the jail, with the
  store paths it passes through and the closure of the one it ends in):
    --net                    the host network, /etc/resolv.conf, hosts, nsswitch.conf,
                             services and protocols, the CA bundle (the one NIX_SSL_CERT_FILE
                             or SSL_CERT_FILE names, else the system's) at
                             /etc/ssl/certs/ca-certificates.crt, SSL_CERT_FILE and
                             NIX_SSL_CERT_FILE pointing at it
    --allow-host PATTERN     a network of the jail's own in which only these hosts can be
                             reached, over HTTP and CONNECT (TLS), through a proxy that runs
                             outside the jail for its lifetime (repeatable): example.org,
                             *.example.org (the names below it, not itself), either with
                             :PORT (else 80 and 443). HTTP_PROXY, HTTPS_PROXY and ALL_PROXY
                             (both cases) point at it; names are resolved outside; no other
                             route, no DNS. The CA bundle comes as with --net. A refused
                             request gets a 403 naming the option that would allow it, and
                             one line here (--quiet: none). Not with --net or --share-net
    --allow-localhost-port PORT  the host's 127.0.0.1:PORT at the jail's 127.0.0.1:PORT,
                             and nothing else of the host's loopback (repeatable)
    --quiet                  no line for each request the proxy refuses
    --gpu                    /dev/dri, NVIDIA's device nodes, /run/opengl-driver(-32)
    --locale                 LANG, LANGUAGE, LC_*, TZ, TZDIR, LOCALE_ARCHIVE and /etc/localtime
    --fonts                  /etc/fonts, /usr/share/fonts, /usr/local/share/fonts and
                             /usr/share/fontconfig (where Debian's conf.d links lead)
    --strict                 fail (exit 125) when a host resource asked for is missing;
                             without it, one line says which and the jail starts anyway

  The desktop (each server's socket bound read-only at the host's path, or one line saying
  it is not running):
    --wayland                the compositor's socket ($XDG_RUNTIME_DIR/$WAYLAND_DISPLAY),
                             WAYLAND_DISPLAY and XDG_RUNTIME_DIR
    --x11                    the socket of $DISPLAY alone (a local display; not the rest of
                             /tmp/.X11-unix), DISPLAY, and an XAUTHORITY holding only that
                             display's cookie. X11 lets any client read the keyboard and the
                             screen of the others: prefer --wayland where you can
    --audio                  the PulseAudio and PipeWire sockets that exist (PipeWire's pulse
                             socket included), PULSE_SERVER, XDG_RUNTIME_DIR
    --talk-name NAME         the session bus, through xdg-dbus-proxy, with NAME callable
                             (repeatable; org.example.* covers the names below it). No bus
                             option, no bus. The proxy runs outside the jail and ends with it;
                             the jail sees only its socket, at $XDG_RUNTIME_DIR/bus
    --own-name NAME          the session bus, NAME may be owned (and called)
    --see-name NAME          the session bus, NAME may be seen but not called
    --system-talk-name NAME  the system bus, through the proxy, with NAME callable
    --desktop                --wayland (--x11 when there is no Wayland), --audio, --gpu,
                             --fonts, --locale and the desktop portals on the session bus

  Profiles:
    --profile FILE           options from a JSON object, keys as the long options are typed:
                             {"net": true, "ro-bind": ["data:/data"], "home": "state"};
                             repeatable, read in order; options on the command line come
                             after them (a repeatable one adds, any other one wins). Relative
                             paths are taken from the profile's directory
    --profile ci             a CI step: --bind-cwd, --timeout 1h, --kill-after 10s, no core
                             files; the rest as always (an empty $HOME and a private /tmp
                             gone after the run, no network: add --allow-host for the hosts
                             it needs)
    --profile agent          a coding agent: the same with --timeout 2h and at most 4096 open
                             files (./ci, ./agent: files of those names)

  The second time: the installed nix-overlay-jail is a shell front that starts an exec it
  has run before (the same arguments in the same directory) from the launch plan this exec
  recorded, without Node, when everything the plan rests on is as it was.
  NIX_OVERLAY_JAIL_NO_PLAN=1 always runs Node; NIX_OVERLAY_JAIL_REQUIRE_PLAN=1 says why a
  plan was not used (exit 125) instead. nix-overlay-jail gc removes old plans.

  Exit status: the program's; 128+N when a signal N killed it; 125 when nix-overlay-jail
  fails, 126 when COMMAND cannot run, 127 when it is not found. The terminal's signals
  (Ctrl-C, Ctrl-\\, hang-up, window size) and SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1
  and SIGUSR2 sent to nix-overlay-jail reach the jailed program's process group; Ctrl-Z
  stops the jail and fg continues it.

  Examples
    $ nix-overlay-jail exec -- hello --greeting "hi there"
    $ nix-overlay-jail exec --exec-only --ro-bind ~/data:/data -- jq . /data/x.json`,
  flags: execFlags,
  stopAtFirstOperand: true,
  passThrough: ['bwrap-arg'],
  run: async (flags, operands, given) => {
    const {execCommand, planExec} = await import('../commands/exec.js');
    const options = execOptions(flags, operands, given);
    if (flags['parseOnly']) {
      const {parseBind, parseSetenv} = await import('../jail/args.js');
      for (const bind of options.bind) parseBind(bind, false);
      for (const bind of options.roBind) parseBind(bind, true);
      for (const assignment of options.setenv) parseSetenv(assignment);
      if (operands.length === 0) throw new JailError('usage', 'no command given (usage: nix-overlay-jail exec [options] [--] COMMAND [ARG...])');
      return 0;
    }
    if (options.dryRun) {
      const plan = await planExec(options);
      process.stderr.write(`nix-overlay-jail: mode ${plan.mode}, mount ${plan.strategy}, mask ${plan.maskDir} (${plan.maskStatus})\n`);
      const {describeAdded} = await import('../host/resources.js');
      for (const [entry, added] of plan.added) process.stderr.write(`nix-overlay-jail: adds ${describeAdded(entry, added)}\n`);
      if (plan.bus !== undefined) {
        const {proxyArgs} = await import('../host/desktop.js');
        process.stderr.write(`nix-overlay-jail: starts ${[plan.bus.plan.proxy, ...proxyArgs(plan.bus.plan, plan.bus.dir, 3)].join(' ')}\n`);
      }
      process.stdout.write(plan.argv.map(arg => `${arg}\n`).join(''));
      return 0;
    }
    return execCommand({...options, frontKey: options.launchPlan === undefined ? await askedFrontKey() : undefined});
  },
};

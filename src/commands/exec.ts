/**
 * `exec`: run a program in a jail whose /nix/store is its closure, with one overlay mount.
 *
 * Warm path (same command, store unchanged): resolve the command, read its cached closure,
 * stat the store, read the mask's state and stat its layer (the tamper stamp), register the
 * jail on the mask — no nix-store call, no listing of the store — then start the jail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {closureCacheKey, readCachedClosure, writeCachedClosure} from '../closure/cache.js';
import {assertStoreDir, computeClosure, type Closure} from '../closure/index.js';
import {findCommand, resolveIntoStore} from '../closure/resolve.js';
import {EXIT_CANNOT_RUN, EXIT_TOOL_FAILURE, JailError, reason} from '../errors.js';
import {closureSearchPath, jailEnvironment, parseBind, parseSetenv, systemLinks, type Bind} from '../jail/args.js';
import {assertKeepable, closeInheritedDescriptors, controlDescriptors} from '../jail/descriptors.js';
import {callerIdentity, hostsFile, identityFiles} from '../jail/identity.js';
import {assertRunnable} from '../jail/interpreter.js';
import {controllingTerminal} from '../jail/terminal.js';
import {ttyInjectionFilter} from '../jail/seccomp.js';
import {entriesWithBin, isFile, systemFileProviders} from '../mask/build.js';
import {MaskCache, defaultCacheDir, readMaskState, type MaskMode} from '../mask/cache.js';
import {allowlistUnavailable, chooseMaskMode, ensureMask, locateMask, type MaskModeChoice, type ReadyMask} from '../mask/mode.js';
import {envMark, TERMINAL_MARK} from '../launch/plan.js';
import {registerJail} from '../mask/usage.js';
import {bwrapOverlayUsable, bwrapVersion, findOnPath, fuseUnavailable, requireTools, usernsOverlayUnavailable, usernsUnavailable} from '../mount/capabilities.js';
import {chooseStrategy, launchArgv, MOUNT_FAILED, NATIVE_OVERLAY_SINCE, type MaskView, type Strategy, type StrategyChoice} from '../mount/strategy.js';
import type {HostIntegration} from '../host/integration.js';
import {busDirectory, startBusProxy, type RunningProxy} from '../host/bus.js';
import {proxyBinds, type BusPlan} from '../host/desktop.js';
import {planHost, withAdded} from '../host/request.js';
import {launchPlanOf} from '../launch/facts.js';
import {assertPlanDir, ensurePlanDir, execPlansDir, plansDir, writeLaunchPlan} from '../launch/record.js';
import {frontCacheDir} from '../launch/front.js';
import type {AddedEntry} from '../host/resources.js';
import type {Consulted} from '../host/view.js';
import type {JailTimeout} from '../jail/run.js';
import type {NetSession} from '../net/session.js';
import {aboveHardLimit, prlimitWords, type Limit} from '../jail/limits.js';
import {cgroupFacts, cgroupUnavailable, scopeWords, type CgroupLimits} from '../jail/cgroup.js';
import {apparmorUnavailable, assertProfileName} from '../apparmor/profile.js';
import {apparmorHost} from '../apparmor/host.js';
import {coversStore, JAIL_STORE, storePrefixes, SYSTEM_LINKS, type StoreEntryName} from '../store.js';
import {proxyEnvironment, proxyPort, type NetAllowance} from '../net/allow.js';

export interface ExecOptions {
  argv: string[];
  storeDir: string;
  also: string[];
  closureFiles: string[];
  graphs: string[];
  cacheDir?: string | undefined;
  execOnly: boolean;
  mode: MaskModeChoice;
  mountWith: StrategyChoice;
  shareNet: boolean;
  setenv: string[];
  keepEnv: string[];
  bind: string[];
  roBind: string[];
  chdir?: string | undefined;
  /** --bind-cwd: the working directory, read-write at its own path, and the jail starts there. */
  bindCwd?: boolean | undefined;
  bwrapArg: string[];
  /** Descriptors passed to the program at their own numbers; every other one above 2 is closed. */
  keepFd: number[];
  /** A host directory kept between runs as the jail's $HOME, read-write (made 0700 if missing). */
  home?: string | undefined;
  /** Make no /bin/sh and /usr/bin/env in the jail, even when the closure has them. */
  noSystemLinks?: boolean | undefined;
  /** The profiles the options came from (their content decides the jail as much as the options). */
  profiles?: readonly string[] | undefined;
  /** Host integration: --net, --gpu, --locale, --fonts (each off when not given). */
  host?: HostIntegration | undefined;
  /** Fail (125) when a host resource an option asked for is missing, instead of going on. */
  strict?: boolean | undefined;
  /** Where the one-line notices go (an option's missing host resource). */
  warn?: ((line: string) => void) | undefined;
  /** --allow-host and --allow-localhost-port: a network of the jail's own, out through the proxy. */
  allow?: NetAllowance | undefined;
  /** --quiet: no line for each request the proxy refuses. */
  quiet?: boolean | undefined;
  /** Plan only: compute the closure and the command lines, write nothing. */
  dryRun: boolean;
  /** Where the D-Bus proxy's sockets go on the host (exec makes it); by default a new name. */
  busDir?: string | undefined;
  /** --apparmor NAME: start only where that AppArmor profile is loaded and enforced. */
  apparmor?: string | undefined;
  /** --memory, --cpus, --pids: the jail in a cgroup (a systemd scope) of its own. */
  cgroup?: CgroupLimits | undefined;
  /** --limit: resource limits for bubblewrap and everything in the jail. */
  limits?: readonly Limit[] | undefined;
  /** --timeout and --kill-after: the time the jail has, and how long SIGTERM has before SIGKILL. */
  timeout?: JailTimeout | undefined;
  /** Record a launch plan for a wrap launcher there; its command's first `words` operands are its own. */
  launchPlan?: {dir: string; words: number} | undefined;
  /** Record the launch plan the front starts this invocation from, at CACHE/exec-plans/KEY (frontKey). */
  frontKey?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
}

export interface ExecPlan {
  argv: string[];
  /** The jail's network by host name: bubblewrap waits on blockFd until the bridge listens. */
  net?: {allowance: NetAllowance; proxyPort: number; blockFd: number} | undefined;
  statusFd: number;
  /** What bubblewrap reads, by descriptor: the seccomp filter, /etc/passwd and /etc/group. */
  inputs: Map<number, Buffer>;
  key: string;
  cacheDir: string;
  /** The opened cache (undefined for --dry-run, which writes nothing). */
  cache: MaskCache | undefined;
  strategy: Strategy;
  mode: MaskMode;
  maskDir: string;
  maskStatus: string;
  /** Store entries host resources brought into the jail, and what brought each. */
  added: Array<[StoreEntryName, AddedEntry]>;
  /** The D-Bus proxy to start before the jail, and the directory for its sockets. */
  bus: {plan: BusPlan; dir: string} | undefined;
  /** What the jail's program sees: its path, the closure's store paths and the binds, as the jail shows them; and $HOME. */
  seen: {program: string; closure: string[]; binds: Bind[]; home: string | undefined};
  /** For a launcher's plan: the command line with stand-ins, what it rests on, or why it cannot have one. */
  launch?: {template: string[]; mask: ReadyMask; binds: Bind[]; files: Buffer[]; consulted: Consulted; inputs: string[]; uncovered: string | undefined} | undefined;
}

/** Resolve the command to the program the jail runs (`/nix/store/NAME/…`) and its host file. */
export const resolveCommand = (command: string, storeDir: string, searchPath: string | undefined) => {
  const prefixes = storePrefixes(storeDir);
  const given = command.includes('/') ? command : findCommand(command, searchPath);
  let resolved;
  try {
    resolved = resolveIntoStore(given, storeDir, prefixes);
  } catch (error) {
    if (error instanceof JailError && error.kind === 'not-in-store') {
      throw new JailError(
        'not-in-store',
        `${command} (${given}) is not in the Nix store, and only store programs exist inside the jail: run a store path, or pass a closure with --closure-file, --graph or --also and run a program from it by its /nix/store path`,
        EXIT_CANNOT_RUN,
      );
    }
    throw error;
  }
  const hostFile = path.join(storeDir, resolved.entry, resolved.rest);
  try {
    if (!fs.statSync(hostFile).isFile()) throw new Error('not a file');
    fs.accessSync(hostFile, fs.constants.X_OK);
  } catch {
    throw new JailError('cannot-run', `${command}: not an executable file: ${hostFile}`, EXIT_CANNOT_RUN);
  }
  const jailPath = resolved.rest === '' ? `${JAIL_STORE}/${resolved.entry}` : `${JAIL_STORE}/${resolved.entry}/${resolved.rest}`;
  return {entry: resolved.entry, given, jailPath};
};

/**
 * --home DIR: DIR bound read-write at the jail's $HOME (the caller's, as the jail's passwd
 * names it; DIR itself when there is none), made with mode 0700 if it does not exist yet
 * (not by --dry-run, which writes nothing).
 */
const homeBind = (dir: string | undefined, jailHome: string | undefined, dryRun: boolean): Bind[] => {
  if (dir === undefined) return [];
  const source = path.resolve(dir);
  try {
    if (!dryRun && !fs.existsSync(source)) fs.mkdirSync(source, {recursive: true, mode: 0o700});
    if (fs.existsSync(source) && !fs.statSync(source).isDirectory()) throw new JailError('usage', `--home ${source}: not a directory`);
  } catch (error) {
    if (error instanceof JailError) throw error;
    throw new JailError('usage', `--home ${source}: ${reason(error)}`);
  }
  const dest = jailHome !== undefined && path.isAbsolute(jailHome) && jailHome !== '/' ? jailHome : source;
  return [{source, dest, readOnly: false}];
};

/**
 * The closure of store entries, from the closure cache (a store path's closure never changes);
 * nix-store -qR only the first time.
 */
const cachedClosure = async (storeDir: string, entries: StoreEntryName[], cache: MaskCache | undefined, cacheDir: string, dryRun: boolean): Promise<Closure> => {
  const file = path.join(cacheDir, 'closures', `${closureCacheKey(storeDir, entries)}.json`);
  const cached = readCachedClosure(file, storeDir, entries);
  if (cached) return {storeDir, roots: cached.roots, entries: new Set(cached.entries)};
  const closure = await computeClosure({storeDir, roots: entries.map(entry => path.join(storeDir, entry)), closureFiles: [], graphs: [], verifyPresent: dryRun});
  if (cache !== undefined) writeCachedClosure(file, {format: 1, storeDir, roots: entries, entries: [...closure.entries].sort()});
  return closure;
};

/** The program's closure, from the closure cache when the command alone decides it. */
const closureFor = async (options: ExecOptions, cache: MaskCache | undefined, cacheDir: string, entry: string, given: string) => {
  const storeDir = path.resolve(options.storeDir);
  const cacheable = options.also.length === 0 && options.closureFiles.length === 0 && options.graphs.length === 0;
  if (cacheable) return cachedClosure(storeDir, [entry], cache, cacheDir, options.dryRun);
  return computeClosure({
    storeDir,
    roots: [given, ...options.also],
    closureFiles: options.closureFiles,
    graphs: options.graphs,
    verifyPresent: options.dryRun,
  });
};

/** --bind-cwd's directory: the working directory's real path; never /, and nothing in or above the store. */
const boundWorkingDirectory = (): string => {
  let cwd: string;
  try {
    cwd = fs.realpathSync(process.cwd());
  } catch (error) {
    throw new JailError('usage', `--bind-cwd: the working directory is gone (${reason(error)})`);
  }
  if (coversStore(cwd)) throw new JailError('usage', `--bind-cwd: the working directory ${cwd} is / or in or above the store; start in the project's directory`);
  return cwd;
};

export const planExec = async (options: ExecOptions): Promise<ExecPlan> => {
  const [command, ...args] = options.argv;
  if (command === undefined) throw new JailError('usage', 'no command given (usage: nix-overlay-jail exec [options] [--] COMMAND [ARG...])');
  const storeDir = path.resolve(options.storeDir);
  assertStoreDir(storeDir);
  const jailHome = options.env['HOME'];
  const home = homeBind(options.home, jailHome, options.dryRun);
  const workingDirectory = options.bindCwd ? boundWorkingDirectory() : undefined;
  const userBinds = [
    ...(workingDirectory === undefined ? [] : [{source: workingDirectory, dest: workingDirectory, readOnly: false}]),
    ...options.bind.map(value => parseBind(value, false)),
    ...options.roBind.map(value => parseBind(value, true)),
  ];
  const userSetenv = options.setenv.map(parseSetenv);
  assertKeepable(options.keepFd);

  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir(options.env));
  const isRoot = process.getuid?.() === 0;
  const noUserns = options.mountWith === 'root' ? undefined : usernsUnavailable();
  const auto = options.mountWith === 'auto' && !isRoot;
  const oldKernel = auto ? usernsOverlayUnavailable() : undefined;
  const strategy = chooseStrategy(options.mountWith, {
    isRoot,
    usernsUnavailable: noUserns,
    usernsOverlayUnavailable: oldKernel,
    // Asking bubblewrap its version costs a process: only when the choice depends on it.
    bwrapVersion: options.mountWith === 'bwrap' || (auto && (noUserns || oldKernel)) ? bwrapVersion() : undefined,
    bwrapOverlayUsable: auto && !noUserns && !oldKernel && bwrapOverlayUsable(findOnPath('bwrap'), cacheDir, storeDir),
    fuseUnavailable,
  });
  if (options.apparmor !== undefined) {
    const {enabled, loaded} = apparmorHost();
    const why = apparmorUnavailable(assertProfileName(options.apparmor, '--apparmor'), enabled, loaded);
    if (why !== undefined) throw new JailError('usage', why);
  }
  const limits = options.limits ?? [];
  if (limits.length > 0) {
    if (isRoot && limits.some(limit => limit.name === 'nproc')) {
      throw new JailError('usage', '--limit nproc does not hold for a jail run as root: the kernel does not limit the processes of root');
    }
    const above = aboveHardLimit(limits, fs.readFileSync('/proc/self/limits', 'utf8'));
    if (above !== undefined) throw new JailError('usage', above);
  }
  if (options.allow !== undefined && (options.shareNet || options.host?.net === true)) {
    throw new JailError('usage', '--allow-host and --allow-localhost-port give the jail a network of its own, through a proxy: not with --net or --share-net, which give it the host\'s');
  }
  requireTools([...(strategy === 'bwrap' ? ['bwrap'] : strategy === 'fuse' ? ['bwrap', 'unshare', 'sh', 'setpriv', 'fuse-overlayfs'] : ['bwrap', 'unshare', 'sh', 'mount']), ...(limits.length > 0 ? ['prlimit'] : []), ...(options.allow === undefined ? [] : ['nsenter', 'setpriv', 'unshare'])]);

  const {entry, given, jailPath} = resolveCommand(command, storeDir, options.env['PATH']);
  const cache = options.dryRun ? undefined : MaskCache.open(cacheDir);
  const programClosure = await closureFor(options, cache, cacheDir, entry, given);
  const taken = [...home.map(bind => bind.dest), '/etc/passwd', '/etc/group', ...(options.noSystemLinks ? [] : SYSTEM_LINKS.map(([, dest]) => dest))];
  const {integration, host, links: hostLinks, consulted} = planHost({host: options.host, strict: options.strict, warn: options.warn, env: options.env, storeDir, userBinds, taken});
  const bus = integration.bus === undefined ? undefined : {plan: integration.bus, dir: options.busDir ?? busDirectory(options.env)};
  const binds: Bind[] = [...home, ...host.binds.map(({source, dest, readOnly}) => ({source, dest, readOnly})), ...(bus === undefined ? [] : proxyBinds(bus.plan, bus.dir))];
  const {statusFd, seccompFd, passwdFd, groupFd, hostsFd, fileFds: allFileFds} = controlDescriptors(options.keepFd, integration.files.length + (options.allow === undefined ? 0 : 1));
  const fileFds = allFileFds.slice(0, integration.files.length);
  const net = options.allow === undefined ? undefined : {allowance: options.allow, proxyPort: proxyPort(options.allow.localPorts), blockFd: allFileFds.at(-1)!};
  const closure = await withAdded(programClosure, host, async entries => (await cachedClosure(storeDir, entries, cache, cacheDir, options.dryRun)).entries);

  const mode = chooseMaskMode(options.mode, () => strategy === 'root'
    ? allowlistUnavailable(cacheDir, storeDir, !options.dryRun)
    : `allowlist masks need real root and the root mount (this run mounts with ${strategy})`);
  const request = {mode, storeDir, closure: closure.entries, execOnly: options.execOnly};

  let maskDir: string;
  let maskStatus: ExecPlan['maskStatus'];
  let binEntries: string[];
  let systemFiles: Record<string, string> | undefined;
  let view: MaskView;
  let mountPoint: string;
  let mask: ReadyMask | undefined;
  if (cache === undefined) {
    const located = locateMask(cacheDir, request);
    maskDir = located.layout.dir;
    maskStatus = readMaskState(located.layout.state) ? 'built earlier' : 'not built yet (a real run builds it)';
    binEntries = entriesWithBin(storeDir, closure.entries);
    view = located.view;
    mountPoint = located.layout.merged;
  } else {
    mask = await ensureMask(cache, request);
    maskDir = mask.dir;
    maskStatus = mask.status;
    binEntries = mask.state.binEntries;
    systemFiles = mask.state.systemFiles;
    view = mask.view;
    mountPoint = mask.mountPoint;
  }
  // PATH and the system links come from the program's closure, never from what host
  // resources added.
  if (closure !== programClosure) {
    binEntries = binEntries.filter(name => programClosure.entries.has(name));
    systemFiles = undefined;
  }
  const searchPath = closureSearchPath(closure.roots, binEntries);
  // The closure's providers come with the mask (found once, when it was built); a mask made
  // before they were recorded, or none (--dry-run), has them found now.
  systemFiles ??= systemFileProviders(storeDir, binEntries);
  const links = [
    ...(options.noSystemLinks ? [] : systemLinks(closure.roots, (entry, file) => isFile(path.join(storeDir, entry, file)), file => systemFiles[file])),
    ...hostLinks,
  ];
  assertRunnable(jailPath, {storeDir, closure: closure.entries, bindDests: binds.map(bind => bind.dest), opaque: options.bwrapArg.length > 0, links});

  // The jail's own /etc/hosts, unless the host's comes in (--net, or a bind of the caller's).
  const hosts = [...binds, ...links].some(made => made.dest === '/etc/hosts') ? undefined : hostsFile(os.hostname());
  const environment = {path: searchPath, keep: [...options.keepEnv, ...integration.keepEnv], set: [...integration.setenv, ...(net === undefined ? [] : proxyEnvironment(net.proxyPort)), ...userSetenv]};
  const commandLine = (terminal: string | undefined, env: Record<string, string>): string[] => launchArgv({
    strategy,
    limits: prlimitWords(limits),
    view,
    mountPoint,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    jail: {
      argv: [jailPath, ...args],
      env,
      shareNet: options.shareNet || integration.shareNet,
      binds,
      devices: integration.devices,
      chdir: options.chdir ?? workingDirectory,
      home: jailHome,
      extra: [...options.bwrapArg, ...(net === undefined ? [] : ['--block-fd', String(net.blockFd)])],
      statusFd,
      seccompFd,
      terminal,
      files: [
        {fd: passwdFd, dest: '/etc/passwd'},
        {fd: groupFd, dest: '/etc/group'},
        ...(hosts === undefined ? [] : [{fd: hostsFd, dest: '/etc/hosts'}]),
        ...integration.files.map((file, index) => ({fd: fileFds[index]!, dest: file.dest})),
      ],
      links,
    },
  });
  // In a cgroup of its own, when asked: the whole launch command starts in a systemd scope.
  const scope = options.cgroup === undefined ? [] : (() => {
    const facts = cgroupFacts(options.env, findOnPath('systemd-run'));
    const why = cgroupUnavailable(options.cgroup, facts);
    if (why !== undefined) throw new JailError('usage', why);
    return scopeWords(options.cgroup, facts);
  })();
  // With bubblewrap mounting, an ordinary user's bubblewrap runs in a user namespace of the
  // caller's for --allow-host: the bridge enters it to reach the jail's network (net/session.ts).
  const ownNamespace = net !== undefined && strategy === 'bwrap' && !isRoot ? ['unshare', '--user', '--map-current-user', '--'] : [];
  const argv = [...scope, ...ownNamespace, ...commandLine(controllingTerminal(), jailEnvironment({host: options.env, ...environment}))];
  // A launch plan's command line: the same, with the terminal and the kept variables as stand-ins.
  let launch: ExecPlan['launch'];
  if ((options.launchPlan !== undefined || options.frontKey !== undefined) && cache !== undefined && mask !== undefined) {
    const kept = ['HOME', 'TERM', ...environment.keep];
    const marked = Object.fromEntries(kept.map(name => [name, envMark(name)]));
    launch = {
      template: commandLine(TERMINAL_MARK, jailEnvironment({host: marked, ...environment})),
      mask,
      binds,
      files: [],
      consulted,
      // What else decided this jail: the files the closure and the options came from, the
      // names the jail's passwd and group take from the host's, and this program itself.
      inputs: [...options.closureFiles, ...options.graphs, ...(options.profiles ?? []), '/etc/passwd', '/etc/group', process.execPath, ...(process.argv[1] === undefined ? [] : [fs.realpathSync(process.argv[1])])],
      uncovered: strategy === 'fuse' ? '--mount-with fuse'
        : options.timeout !== undefined ? '--timeout'
        : options.allow !== undefined ? '--allow-host or --allow-localhost-port'
        // A launcher starts from anywhere, and its plan does not know where (the front's key does).
        : options.bindCwd && options.launchPlan !== undefined ? '--bind-cwd'
        : options.apparmor !== undefined ? '--apparmor'
        : options.cgroup !== undefined ? '--memory, --cpus or --pids'
        : options.keepFd.length > 0 ? '--keep-fd'
        : integration.bus !== undefined ? 'a D-Bus proxy'
          : integration.files.length > 0 ? 'an X cookie'
            : options.host?.locale || options.host?.desktop ? '--locale (its LC_* variables)'
              : host.added.size > 0 || host.links.length > 0 ? 'host paths that lead into the store'
                : mask.state.racy ? 'a store that changed as the mask was made'
                  : undefined,
    };
  }
  const identity = identityFiles(callerIdentity(options.env['HOME']));
  const inputs = new Map([
    [seccompFd, ttyInjectionFilter()],
    [passwdFd, Buffer.from(identity.passwd)],
    [groupFd, Buffer.from(identity.group)],
    ...(hosts === undefined ? [] : [[hostsFd, Buffer.from(hosts)] as [number, Buffer]]),
    ...integration.files.map((file, index): [number, Buffer] => [fileFds[index]!, file.data]),
  ]);
  // In PLAN_FILES order; a jail without its own /etc/hosts has an empty one, which GO leaves closed.
  if (launch !== undefined) launch.files = [seccompFd, passwdFd, groupFd, hostsFd].map(fd => inputs.get(fd) ?? Buffer.alloc(0));
  const seen = {program: jailPath, closure: [...closure.entries].map(entry => `${JAIL_STORE}/${entry}`), binds, home: jailHome};
  return {argv, statusFd, inputs, key: path.basename(maskDir), cacheDir, cache, strategy, mode, maskDir, maskStatus, added: [...host.added], bus, launch, seen, net};
};

/** What to tell the user when the jail never started; the failing program printed its own line above. */
const startFailure = (strategy: Strategy, exitCode: number): string => {
  if (strategy === 'fuse' && exitCode === MOUNT_FAILED) return 'fuse-overlayfs could not mount the store (see above)';
  if (strategy !== 'bwrap' && exitCode === MOUNT_FAILED) {
    return strategy === 'userns'
      ? `cannot mount the overlay in a user namespace (see above): this needs Linux 5.11 or later; run as root, or install bubblewrap ${NATIVE_OVERLAY_SINCE.join('.')} or later`
      : 'cannot mount the overlay (see above): check that the kernel has overlayfs (modprobe overlay)';
  }
  return `the jail did not start (${strategy === 'bwrap' ? 'bwrap' : `${strategy} mount`}, exit ${exitCode}): see the message above`;
};

/**
 * Where this run's launch plan goes, and how many of its command's words are the plan's: a
 * wrap launcher's (--launch-plan; the rest are the launcher's own arguments), or the front's
 * for this invocation (all of them), in a cache the front looks in. Undefined: none.
 */
const planTarget = (plan: ExecPlan, options: ExecOptions): {dir: string; words: number} | undefined => {
  const cache = plan.cache!;
  if (options.launchPlan !== undefined) {
    ensurePlanDir(plansDir(cache.dir), cache.uid);
    return {dir: assertPlanDir(options.launchPlan.dir, plan.cacheDir), words: options.launchPlan.words};
  }
  if (options.frontKey === undefined) return undefined;
  // The front finds its cache from the environment alone, by the name it is made at.
  if (fs.realpathSync(cache.dir) !== frontCacheDir(options.env, cache.uid)) return undefined;
  ensurePlanDir(execPlansDir(cache.dir), cache.uid);
  return {dir: path.join(execPlansDir(cache.dir), options.frontKey), words: options.argv.length};
};

/**
 * Record the launch plan a wrap launcher (--launch-plan) or the front asked for, when this run
 * can have one. Returns why it cannot, if so. A plan that cannot be written only makes the
 * next start slower, so nothing fails for it; a directory that is not the cache's plans/KEY is
 * ignored.
 */
const recordPlan = (plan: ExecPlan, options: ExecOptions): string | undefined => {
  const launch = plan.launch;
  if (launch === undefined || plan.cache === undefined) return undefined;
  try {
    const target = planTarget(plan, options);
    if (target === undefined) return undefined;
    if (launch.uncovered !== undefined) {
      // A plan this run cannot vouch for must not be used by the next start either.
      fs.rmSync(path.join(target.dir, 'seal'), {force: true});
      return launch.uncovered;
    }
    // The launcher's own arguments come after its command's; the plan ends before them.
    const runtimeArgs = options.argv.length - target.words;
    const template = runtimeArgs > 0 ? launch.template.slice(0, -runtimeArgs) : launch.template;
    writeLaunchPlan(target.dir, plan.cache.uid, launchPlanOf({...launch, template, strategy: plan.strategy}, options.env), launch.files);
    return undefined;
  } catch (error) {
    return reason(error);
  }
};

/** Plan a launcher's jail now (building its mask) and record its launch plan: `wrap` does this. */
export const prepareLaunch = async (options: ExecOptions): Promise<string | undefined> => recordPlan(await planExec({...options, dryRun: false}), options);

export const execCommand = async (options: ExecOptions): Promise<number> => {
  // Register on the mask so gc leaves it alone; if gc removed it since it was looked up,
  // look it up (build it) again.
  for (let attempt = 0; attempt < 3; attempt++) {
    // A real run (never a dry one) opens the cache, so plan.cache is set.
    const plan = await planExec({...options, dryRun: false});
    const registration = await registerJail(plan.cache!, plan.key);
    if (registration === undefined) continue;
    if (options.launchPlan !== undefined || options.frontKey !== undefined) recordPlan(plan, options);
    let proxy: RunningProxy | undefined;
    let network: NetSession | undefined;
    try {
      if (plan.bus !== undefined || plan.net !== undefined) {
        // The proxies run outside the jail: they must not get what the caller let this process inherit either.
        closeInheritedDescriptors(options.keepFd);
      }
      if (plan.bus !== undefined) proxy = await startBusProxy(plan.bus.plan, plan.bus.dir);
      if (plan.net !== undefined) {
        const {startNetSession} = await import('../net/session.js');
        network = await startNetSession(plan.net.allowance, plan.net.proxyPort, options.env, options.quiet ? undefined : options.warn);
      }
      const {runJail} = await import('../jail/run.js');
      const session = network;
      const beforeProgram = plan.net === undefined || session === undefined ? undefined : {fd: plan.net.blockFd, before: (pid: number, launcher: number) => session.bridge(pid, launcher)};
      const outcome = await runJail(plan.argv, {statusFd: plan.statusFd, inputs: plan.inputs, keep: options.keepFd}, options.timeout, beforeProgram);
      if (outcome.timedOut) {
        const {formatDuration} = await import('../duration.js');
        options.warn?.(`${options.argv[0]} timed out after ${formatDuration(options.timeout!.ms)}: the jail was ended`);
        return outcome.exitCode;
      }
      if (!outcome.started) throw new JailError('mount', startFailure(plan.strategy, outcome.exitCode), EXIT_TOOL_FAILURE);
      // Started, but bubblewrap reported no exit status of the program and failed: the program
      // never ran (its execvp failed, or the sandbox's set-up did), which its own `exit 1`
      // could not be told from.
      if (!outcome.reported && outcome.exitCode === 1) {
        throw new JailError('cannot-run', `${options.argv[0]} could not be started in the jail (see bubblewrap's message above)`, EXIT_CANNOT_RUN);
      }
      return outcome.exitCode;
    } finally {
      await network?.stop();
      await proxy?.stop();
      registration.release();
    }
  }
  throw new JailError('cache', 'the mask kept disappearing while starting the jail (is gc running in a loop?)');
};


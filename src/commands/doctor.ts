/**
 * `doctor`: check everything exec depends on, one line per check, each with what to do.
 * Checks that touch the system (a user namespace, an overlay mount, a whiteout) are tried
 * for real in throw-away directories and namespaces, and leave nothing behind.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {integrationPlan, NO_INTEGRATION, type HostIntegration} from '../host/integration.js';
import {hostProbe} from '../host/request.js';
import {codeCacheState} from '../launcher-globals.js';
import {cgroupFacts, cgroupUnavailable} from '../jail/cgroup.js';
import {apparmorHost} from '../apparmor/host.js';
import {apparmorEnforced} from '../apparmor/profile.js';
import {loadExeca} from '../process.js';
import {defaultCacheDir} from '../mask/cache.js';
import {bwrapOverlayUsable, bwrapVersion, findOnPath, fuseUnavailable, readSysctl, usernsOverlayUnavailable, usernsUnavailable} from '../mount/capabilities.js';
import {hasNativeOverlay, MOUNT_SCRIPT, NATIVE_OVERLAY_SINCE, UNSHARE} from '../mount/strategy.js';

export type CheckStatus = 'ok' | 'warning' | 'failure';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

/** What one host option (--net, --gpu, --x11, ...) brings on this host, and what it lacks. */
export interface HostOptionReport {
  option: string;
  brings: string[];
  missing: string[];
}

export interface DoctorReport {
  checks: Check[];
  hostOptions: HostOptionReport[];
  /** Whether `exec` can work here for this caller. */
  canExec: boolean;
  strategy: 'root' | 'userns' | 'bwrap' | 'fuse' | 'none';
}

const kernelAtLeast = (release: string, major: number, minor: number): boolean => {
  const [a = 0, b = 0] = release.split(/[.-]/).map(Number);
  return a > major || (a === major && b >= minor);
};

/** The nearest existing directory at or above `dir` (where a cache would be created). */
const existingAncestor = (dir: string): string => {
  let current = path.resolve(dir);
  while (!fs.existsSync(current)) current = path.dirname(current);
  return current;
};

const probeWhiteout = async (dir: string): Promise<string | undefined> => {
  const execa = await loadExeca();
  let scratch: string | undefined;
  try {
    scratch = fs.mkdtempSync(path.join(dir, '.nix-overlay-jail-doctor-'));
    const result = await execa('mknod', [path.join(scratch, 'w'), 'c', '0', '0'], {reject: false});
    if (result.failed) return result.stderr.trim() || `mknod exit ${result.exitCode}`;
    const stats = fs.lstatSync(path.join(scratch, 'w'));
    if (!stats.isCharacterDevice() || stats.rdev !== 0) return 'mknod made something other than a whiteout';
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    if (scratch) fs.rmSync(scratch, {recursive: true, force: true});
  }
};

const probeTrustedXattr = async (dir: string): Promise<string | undefined> => {
  const execa = await loadExeca();
  const scratch = fs.mkdtempSync(path.join(dir, '.nix-overlay-jail-doctor-'));
  try {
    const result = await execa('setfattr', ['-n', 'trusted.nix-overlay-jail.doctor', '-v', 'y', scratch], {reject: false});
    return result.failed ? result.stderr.trim() || `setfattr exit ${result.exitCode}` : undefined;
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true});
  }
};

/** Mount a two-layer overlay with a whiteout, in a user namespace or (as root) a mount namespace. */
const probeOverlay = async (inUserNamespace: boolean): Promise<string | undefined> => {
  const execa = await loadExeca();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'nix-overlay-jail-doctor-'));
  try {
    for (const dir of ['upper', 'lower', 'merged']) fs.mkdirSync(path.join(scratch, dir));
    fs.writeFileSync(path.join(scratch, 'lower', 'hidden'), '');
    fs.writeFileSync(path.join(scratch, 'lower', 'shown'), '');
    const mknod = await execa('mknod', [path.join(scratch, 'upper', 'hidden'), 'c', '0', '0'], {reject: false});
    if (mknod.failed) return `cannot make a whiteout in ${os.tmpdir()}: ${mknod.stderr.trim()}`;
    const [unshare, ...namespaces] = UNSHARE[inUserNamespace ? 'userns' : 'root'];
    const result = await execa(unshare!, [...namespaces, 'sh', '-c', MOUNT_SCRIPT, 'sh',
      `ro,lowerdir=${path.join(scratch, 'upper')}:${path.join(scratch, 'lower')}`, path.join(scratch, 'merged'),
      'ls', '-A', path.join(scratch, 'merged')], {reject: false});
    if (result.failed) return (result.stderr.trim().split('\n').pop() ?? '') || `exit ${result.exitCode}`;
    if (result.stdout.trim() !== 'shown') return `the merged directory showed ${JSON.stringify(result.stdout.trim())}, not just "shown"`;
    return undefined;
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true});
  }
};

/** A one-line missing notice (`--gpu: this host has no /dev/dri, /run/opengl-driver`) as the list of what lacks. */
const lacking = (line: string): string[] => {
  const said = line.replace(/^--[a-z0-9-]+: /, '');
  return said.startsWith('this host has no ') ? said.slice('this host has no '.length).split(', ') : [said];
};

/** Each host option alone on this host: what it would bring, and what it lacks. */
const HOST_OPTIONS: ReadonlyArray<[string, Partial<HostIntegration>]> = [
  ['--net', {net: true}],
  ['--gpu', {gpu: true}],
  ['--locale', {locale: true}],
  ['--fonts', {fonts: true}],
  ['--wayland', {wayland: true}],
  ['--x11', {x11: true}],
  ['--audio', {audio: true}],
  ['--talk-name', {talk: ['org.example.Doctor']}],
  ['--system-talk-name', {systemTalk: ['org.example.Doctor']}],
];

const hostOptionReports = (): HostOptionReport[] => HOST_OPTIONS.map(([option, wanted]) => {
  const plan = integrationPlan({...NO_INTEGRATION, ...wanted}, hostProbe(process.env));
  return {
    option,
    brings: [
      ...plan.devices,
      ...plan.resources.map(resource => (resource.source === resource.dest ? resource.source : `${resource.source} at ${resource.dest}`)),
      ...plan.keepEnv.map(name => `$${name}`),
      ...plan.files.map(file => file.dest),
      ...(plan.bus?.ends.map(end => `${end.address} through ${plan.bus?.proxy}`) ?? []),
    ],
    missing: plan.missing.flatMap(lacking),
  };
});

export const doctor = async (options: {cacheDir?: string | undefined; storeDir: string}): Promise<DoctorReport> => {
  const checks: Check[] = [];
  const add = (name: string, status: CheckStatus, detail: string): void => {
    checks.push({name, status, detail});
  };
  const isRoot = process.getuid?.() === 0;
  const release = os.release();

  add('kernel', kernelAtLeast(release, 5, 11) ? 'ok' : 'warning',
    kernelAtLeast(release, 5, 11) ? `Linux ${release}` : `Linux ${release}: overlay mounts in user namespaces need 5.11 or later (root still works)`);
  const overlayfs = fs.readFileSync('/proc/filesystems', 'utf8').split('\n').some(line => line.trim().endsWith('overlay'));
  add('overlayfs', overlayfs ? 'ok' : 'failure', overlayfs ? 'overlay is in /proc/filesystems' : 'overlay is not in /proc/filesystems: load it with modprobe overlay');

  const tools = Object.fromEntries(['bwrap', 'unshare', 'mknod', 'mount', 'sh', 'flock'].map(name => [name, findOnPath(name)]));
  for (const [name, found] of Object.entries(tools)) {
    add(name, found ? 'ok' : 'failure', found ?? `${name} not found on PATH: install ${name === 'bwrap' ? 'bubblewrap' : name === 'mknod' ? 'coreutils' : name === 'sh' ? 'dash' : 'util-linux'}`);
  }
  const version = tools['bwrap'] ? bwrapVersion() : undefined;
  if (tools['bwrap']) {
    add('bwrap version', 'ok', version === undefined ? 'unknown version' : `bubblewrap ${version.join('.')}${hasNativeOverlay(version) ? ': mounts overlays itself (--overlay-src)' : `: cannot mount overlays itself (${NATIVE_OVERLAY_SINCE.join('.')} and later can); the mount is done before it starts`}`);
  }

  const usernsProblem = usernsUnavailable();
  const sysctls = ['user.max_user_namespaces', 'kernel.unprivileged_userns_clone', 'kernel.apparmor_restrict_unprivileged_userns']
    .map(name => [name, readSysctl(name)] as const).filter(([, value]) => value !== undefined).map(([name, value]) => `${name}=${value}`).join(', ');
  add('user namespaces', usernsProblem ? (isRoot ? 'warning' : 'failure') : 'ok', usernsProblem ?? `unprivileged user namespaces allowed (${sysctls})`);

  let usernsOverlay = false;
  if (!usernsProblem && tools['unshare'] && tools['mknod'] && tools['sh'] && tools['mount']) {
    const problem = await probeOverlay(true);
    usernsOverlay = problem === undefined;
    add('overlay in a user namespace', problem ? (isRoot ? 'warning' : 'failure') : 'ok',
      problem ? `tried and failed: ${problem} (needs Linux 5.11+; ordinary users cannot jail this way)` : 'mounted a throw-away overlay with a whiteout in a user namespace');
  }
  let rootOverlay = false;
  if (isRoot && tools['unshare'] && tools['mknod'] && tools['sh'] && tools['mount']) {
    const problem = await probeOverlay(false);
    rootOverlay = problem === undefined;
    add('overlay as root', problem ? 'failure' : 'ok', problem ? `tried and failed: ${problem}` : 'mounted a throw-away overlay with a whiteout in a private mount namespace');
  }

  const cacheDir = path.resolve(options.cacheDir ?? defaultCacheDir());
  const probeDir = existingAncestor(cacheDir);
  const whiteoutProblem = tools['mknod'] ? await probeWhiteout(probeDir) : 'mknod missing';
  add('whiteouts in the cache', whiteoutProblem ? 'failure' : 'ok',
    whiteoutProblem ? `cannot make whiteouts in ${probeDir}: ${whiteoutProblem} (use --cache-dir on ext4, xfs, btrfs or tmpfs)` : `${cacheDir} can hold whiteouts`);

  if (!isRoot) {
    add('trusted xattrs', 'warning', 'allowlist masks need real root (trusted.* extended attributes); whiteout masks work without');
  } else if (!findOnPath('setfattr')) {
    add('trusted xattrs', 'warning', 'setfattr not found: install attr to check trusted extended attributes (allowlist masks)');
  } else {
    const problem = await probeTrustedXattr(probeDir);
    add('trusted xattrs', problem ? 'warning' : 'ok', problem ? `cannot set trusted.* attributes in ${probeDir}: ${problem} (allowlist masks will not work there)` : `${probeDir} takes trusted.* attributes`);
  }

  let storeOk = false;
  try {
    storeOk = fs.statSync(options.storeDir).isDirectory();
  } catch {
    storeOk = false;
  }
  add('store', storeOk ? 'ok' : 'failure', storeOk ? `${options.storeDir} (${fs.readdirSync(options.storeDir).length} entries)` : `${options.storeDir} does not exist: install Nix, or pass --store DIR`);
  const nixStore = findOnPath('nix-store');
  const remote = process.env['NIX_REMOTE'];
  const daemon = fs.existsSync('/nix/var/nix/daemon-socket/socket');
  add('closures', nixStore ? 'ok' : 'warning', nixStore
    ? `nix-store -qR through ${remote ? `NIX_REMOTE=${remote}` : daemon && !isRoot ? 'the Nix daemon' : isRoot ? 'the local store (root)' : 'the local store, and no daemon socket: start nix-daemon'}`
    : 'nix-store not found: closures must come from --closure-file or --graph');

  // What limits this host can hold for a jail (--limit; --memory, --cpus, --pids).
  const prlimit = findOnPath('prlimit');
  add('resource limits', prlimit ? 'ok' : 'warning', prlimit
    ? `--limit: as, fsize, core, nofile, cpu${isRoot ? ' (nproc: not for root)' : ', nproc'}, set by ${prlimit}`
    : 'prlimit not found on PATH: install util-linux for --limit');
  const cgroupWhy = cgroupUnavailable({memoryBytes: 1, cpus: 1, pids: 1}, cgroupFacts(process.env, findOnPath('systemd-run')));
  add('cgroup limits', cgroupWhy === undefined ? 'ok' : 'warning', cgroupWhy ?? '--memory, --cpus, --pids: a systemd scope of the jail\'s own, with the memory, cpu and pids controllers');

  // FUSE: the fourth way, for kernels and stores the kernel's overlay cannot serve.
  const fuseWhy = fuseUnavailable();
  add('fuse', fuseWhy === undefined ? 'ok' : 'warning', fuseWhy === undefined
    ? `--mount-with fuse can work (fuse-overlayfs, /dev/fuse usable); auto takes it only where no kernel way works${usernsOverlay || rootOverlay ? ', which here they do' : ''}`
    : `--mount-with fuse cannot work: ${fuseWhy}`);

  // AppArmor: whether this kernel would hold a profile from `apparmor`.
  const enforced = apparmorEnforced(apparmorHost().enabled);
  add('apparmor', enforced ? 'ok' : 'warning', enforced
    ? 'this kernel enforces AppArmor: a profile from nix-overlay-jail apparmor, once loaded, holds the program to its closure'
    : 'this kernel does not enforce AppArmor: profiles from nix-overlay-jail apparmor only compile here');

  const codeCache = codeCacheState();
  if (codeCache !== undefined) {
    add('code cache', codeCache === 'used' ? 'ok' : 'warning', codeCache === 'used'
      ? `this binary started from the V8 code cache its build made (node ${process.version})`
      : `the V8 code cache of this binary is ${codeCache === 'missing' ? 'missing' : `rejected by node ${process.version} (built with another Node.js?)`}: every start compiles the CLI (~5 ms slower); rebuild with npm run build`);
  }

  const base = Boolean(tools['bwrap'] && overlayfs && tools['mknod'] && !whiteoutProblem);
  // As exec's auto choice (chooseStrategy): an ordinary user's bubblewrap mounts when it can.
  const bwrapOverlay = hasNativeOverlay(version) && bwrapOverlayUsable(tools['bwrap'], cacheDir, options.storeDir);
  const fuseBase = Boolean(tools['bwrap'] && tools['mknod'] && !whiteoutProblem && fuseWhy === undefined && (isRoot || !usernsProblem));
  const strategy: DoctorReport['strategy'] = isRoot && base && rootOverlay && tools['unshare'] ? 'root'
    : base && usernsOverlay ? bwrapOverlay ? 'bwrap' : 'userns'
      : base && hasNativeOverlay(version) && !usernsOverlayUnavailable() ? 'bwrap'
        : fuseBase ? 'fuse' : 'none';
  return {checks, hostOptions: hostOptionReports(), canExec: strategy !== 'none', strategy};
};

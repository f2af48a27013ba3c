/**
 * --memory, --cpus and --pids: the jail in a cgroup of its own, a transient systemd scope
 * (`systemd-run --scope`, the user's manager for an ordinary user, which delegates cgroup v2
 * controllers to it), removed when the jail ends. Where the host has no such manager, or
 * cgroups of version 1, or a controller not delegated, exec says which, in one line.
 *
 * Pure but for cgroupFacts, which reads what the host offers.
 */
import fs from 'node:fs';
import {JailError} from '../errors.js';
import {sizeInBytes} from './limits.js';

export interface CgroupLimits {
  memoryBytes?: number | undefined;
  cpus?: number | undefined;
  pids?: number | undefined;
}

/** --memory SIZE, --cpus N, --pids N as typed; undefined when none is given. */
export const parseCgroupLimits = (given: {memory?: string | undefined; cpus?: string | undefined; pids?: string | undefined}): CgroupLimits | undefined => {
  if (given.memory === undefined && given.cpus === undefined && given.pids === undefined) return undefined;
  const limits: CgroupLimits = {};
  if (given.memory !== undefined) {
    const bytes = sizeInBytes(given.memory);
    if (!Number.isSafeInteger(bytes) || bytes < 1024 ** 2) throw new JailError('usage', `--memory must be a size such as 512M or 2G, at least 1M, got ${JSON.stringify(given.memory)}`);
    limits.memoryBytes = bytes;
  }
  if (given.cpus !== undefined) {
    const cpus = /^\d+(\.\d{1,2})?$/.test(given.cpus) ? Number(given.cpus) : NaN;
    if (!(cpus >= 0.01) || cpus > 4096) throw new JailError('usage', `--cpus must be a number of CPUs such as 1 or 0.5 (two decimals at most), got ${JSON.stringify(given.cpus)}`);
    limits.cpus = cpus;
  }
  if (given.pids !== undefined) {
    const pids = /^\d+$/.test(given.pids) ? Number(given.pids) : NaN;
    if (!Number.isSafeInteger(pids) || pids < 1) throw new JailError('usage', `--pids must be a number of processes, at least 1, got ${JSON.stringify(given.pids)}`);
    limits.pids = pids;
  }
  return limits;
};

/** The scope's systemd properties. Swap is held at 0 beside the memory, or it would take the rest. */
export const scopeProperties = (limits: CgroupLimits): string[] => [
  ...(limits.memoryBytes === undefined ? [] : [`MemoryMax=${limits.memoryBytes}`, 'MemorySwapMax=0']),
  ...(limits.cpus === undefined ? [] : [`CPUQuota=${Math.round(limits.cpus * 100)}%`]),
  ...(limits.pids === undefined ? [] : [`TasksMax=${limits.pids}`]),
];

/** What the host offers the caller. */
export interface CgroupFacts {
  isRoot: boolean;
  uid: number;
  /** cgroup v2 mounted at /sys/fs/cgroup (not version 1, not a hybrid). */
  unified: boolean;
  systemdRun: string | undefined;
  /** A systemd manager for the caller answers: the system's for root, the user's otherwise. */
  manager: boolean;
  /** The controllers the caller's manager can give a scope (undefined: unreadable). */
  controllers: readonly string[] | undefined;
}

const CONTROLLER = {memoryBytes: ['memory', '--memory'], cpus: ['cpu', '--cpus'], pids: ['pids', '--pids']} as const;

/** Why these limits cannot be held here, in one line, or undefined. */
export const cgroupUnavailable = (limits: CgroupLimits, facts: CgroupFacts): string | undefined => {
  const asked = (Object.keys(CONTROLLER) as Array<keyof typeof CONTROLLER>).filter(key => limits[key] !== undefined);
  const options = asked.map(key => CONTROLLER[key][1]).join(', ');
  if (!facts.unified) return `${options}: this host's cgroups at /sys/fs/cgroup are not version 2 (version 1, or a hybrid), which these limits need`;
  if (facts.systemdRun === undefined) return `${options}: systemd-run not found on PATH (the jail's cgroup is a systemd scope)`;
  if (!facts.manager) {
    return facts.isRoot
      ? `${options}: systemd is not running (no /run/systemd/system), and the jail's cgroup is a systemd scope`
      : `${options}: no systemd user manager answers (no $XDG_RUNTIME_DIR/systemd/private: log in, or loginctl enable-linger), and the jail's cgroup is a scope of it`;
  }
  const missing = asked.filter(key => facts.controllers?.includes(CONTROLLER[key][0]) !== true);
  if (missing.length > 0) {
    const where = facts.isRoot ? '/sys/fs/cgroup/cgroup.controllers' : `user@${facts.uid}.service's cgroup.controllers`;
    return `${missing.map(key => CONTROLLER[key][1]).join(', ')}: the cgroup controller${missing.length > 1 ? 's' : ''} ${missing.map(key => CONTROLLER[key][0]).join(', ')} ${missing.length > 1 ? 'are' : 'is'} not delegated to you (${where})`;
  }
  return undefined;
};

/** The words that start the launch command in a scope of its own, with the limits. */
export const scopeWords = (limits: CgroupLimits, facts: CgroupFacts): string[] => [
  facts.systemdRun!, ...(facts.isRoot ? [] : ['--user']), '--scope', '--quiet', '--collect',
  ...scopeProperties(limits).map(property => `--property=${property}`), '--',
];

/** Read what the host offers: the cgroup mount, systemd-run, the manager, the delegated controllers. */
export const cgroupFacts = (env: Readonly<Record<string, string | undefined>>, systemdRun: string | undefined): CgroupFacts => {
  const uid = process.getuid?.() ?? 0;
  const isRoot = uid === 0;
  const unified = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some(line => {
    const [before, after] = line.split(' - ');
    return before?.split(' ')[4] === '/sys/fs/cgroup' && after?.split(' ')[0] === 'cgroup2';
  });
  const runtime = env['XDG_RUNTIME_DIR'];
  const manager = isRoot ? fs.existsSync('/run/systemd/system') : runtime !== undefined && runtime.startsWith('/') && fs.existsSync(`${runtime}/systemd/private`);
  let controllers: string[] | undefined;
  try {
    const file = isRoot ? '/sys/fs/cgroup/cgroup.controllers' : `/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service/cgroup.controllers`;
    controllers = fs.readFileSync(file, 'utf8').trim().split(/\s+/).filter(name => name !== '');
  } catch {
    controllers = undefined;
  }
  return {isRoot, uid, unified, systemdRun, manager, controllers};
};

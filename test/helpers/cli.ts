/**
 * Running the real nix-overlay-jail binary, as root or as the unprivileged test user, and
 * looking at the host the way a test must: the mount table, and overlay mounts of masks.
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {TEST_USER} from './env.js';
import {nixEnv, ROOT} from './nix.js';

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

/**
 * Wait until the store last changed over 2 s ago: a whiteout mask made within that of a change
 * cannot prove it saw it (the store's mtime is too coarse a witness), so exec gives it no plan.
 */
export const settledStore = async (): Promise<void> => {
  const age = Date.now() - fs.statSync('/nix/store').mtimeMs;
  if (age < 2100) await sleep(2100 - age);
};

/** Wait, `ms` at most (10 s), until `holds` is true; false if it never was. */
export const eventually = async (holds: () => boolean, ms = 10_000): Promise<boolean> => {
  for (let waited = 0; waited < ms; waited += 50) {
    if (holds()) return true;
    await sleep(50);
  }
  return holds();
};

export interface Collected {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Standard output as bytes (a binary file a jail printed). */
  bytes: Buffer;
}

/**
 * Run a command from `cwd` (/) to its end (a minute at most), standard input closed.
 * `extraFds` are descriptors it is given at those numbers, as a parent that leaks them would
 * pass them.
 */
export const collect = (command: string, argv: readonly string[], env: NodeJS.ProcessEnv, extraFds: readonly number[] = [], cwd = '/'): Collected => {
  const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe'];
  const opened = extraFds.map(() => fs.openSync('/etc/hostname', 'r'));
  try {
    for (const [index, fd] of extraFds.entries()) {
      while (stdio.length < fd) stdio.push('ignore');
      stdio[fd] = opened[index]!;
    }
    const result = spawnSync(command, argv, {env, cwd, stdio, timeout: 60_000, maxBuffer: 64 << 20});
    return {status: result.status, signal: result.signal, stdout: result.stdout.toString(), stderr: result.stderr.toString(), bytes: result.stdout};
  } finally {
    for (const fd of opened) fs.closeSync(fd);
  }
};

/** The bundled binary, as installed (package.json bin). */
export const CLI = path.join(ROOT, 'dist/bin/nix-overlay-jail.cjs');
/** The installed command: the shell front that runs CLI (front.ts). */
export const FRONT = path.join(ROOT, 'dist/bin/nix-overlay-jail');

export interface Run {
  status: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  cwd?: string;
}

export const run = (args: readonly string[], options: RunOptions = {}): Run => {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: options.env ?? nixEnv(),
    input: options.input ?? '',
    cwd: options.cwd ?? os.tmpdir(),
    maxBuffer: 256 * 1024 * 1024,
  });
  return {status: result.status ?? -1, signal: result.signal, stdout: result.stdout, stderr: result.stderr};
};

export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `args` (a subcommand and its arguments) with `options` inserted after the subcommand. */
export const withOptions = (args: readonly string[], ...options: string[]): string[] => [args[0]!, ...options, ...args.slice(1)];

/** Start a command without waiting, collecting its output: for tests that start several at once. */
export const startCollecting = (command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Exit> =>
  new Promise(resolve => {
    const child = spawn(command, args, {stdio: ['ignore', 'pipe', 'pipe'], env, cwd});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', chunk => (stdout += chunk));
    child.stderr.on('data', chunk => (stderr += chunk));
    child.on('close', code => resolve({code, stdout, stderr}));
  });

/** Run the binary without waiting. */
export const runAsync = (args: readonly string[], env: NodeJS.ProcessEnv = nixEnv()): Promise<Exit> =>
  startCollecting(process.execPath, [CLI, ...args], env);

/**
 * The package as the test user can read it: the checkout itself when its path is open to
 * others, else a copy of dist/ and node_modules/ in a world-readable temporary directory.
 */
let userPackage: string | undefined;
export const userCli = (): string => {
  if (userPackage === undefined) {
    const readable = spawnSync(SETPRIV, [...asUser(), 'test', '-r', CLI], {stdio: 'ignore'}).status === 0;
    if (readable) {
      userPackage = ROOT;
    } else {
      userPackage = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-pkg-'));
      fs.chmodSync(userPackage, 0o755);
      for (const part of ['dist', 'node_modules', 'package.json']) {
        fs.cpSync(path.join(ROOT, part), path.join(userPackage, part), {recursive: true});
      }
    }
  }
  return path.join(userPackage, 'dist/bin/nix-overlay-jail.cjs');
};

export const userHome = (): string => execFileSync('sh', ['-c', `getent passwd ${TEST_USER} | cut -d: -f6`], {encoding: 'utf8'}).trim();

/** setpriv switches identity and execs, so the pid it is started with is the tool's own. */
const asUser = (): string[] => [`--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, '--init-groups', '--'];

export const userEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env['PATH'],
  HOME: userHome(),
  USER: TEST_USER,
  TERM: 'dumb',
  NIX_REMOTE: 'daemon',
});

/** The command line that runs the binary as the test user. */
export const userCommand = (args: readonly string[]): [string, string[]] => [SETPRIV, [...asUser(), process.execPath, userCli(), ...args]];

/** Found once, so that a test may run the tool with a PATH of its own. */
const SETPRIV = execFileSync('sh', ['-c', 'command -v setpriv || echo setpriv'], {encoding: 'utf8'}).trim();

/** Any command as the test user (its login-like environment and `env`), to its end. */
export const collectAsUser = (command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Collected =>
  collect(SETPRIV, [...asUser(), command, ...args], {...userEnv(), ...env});

/** Run the binary as the unprivileged test user, with a login-like environment. */
export const runAsUser = (args: readonly string[], options: RunOptions = {}): Run => {
  const [command, argv] = userCommand(args);
  const result = spawnSync(command, argv, {
    encoding: 'utf8',
    env: {...userEnv(), ...options.env},
    input: options.input ?? '',
    cwd: options.cwd ?? '/',
    maxBuffer: 256 * 1024 * 1024,
  });
  return {status: result.status ?? -1, signal: result.signal, stdout: result.stdout, stderr: result.stderr};
};

const made: string[] = [];
process.on('exit', () => {
  // Tests leave nothing behind: caches, synthetic stores and package copies all go.
  for (const dir of made) fs.rmSync(dir, {recursive: true, force: true});
  if (userPackage !== undefined && userPackage !== ROOT) fs.rmSync(userPackage, {recursive: true, force: true});
});

/** A fresh temporary directory, removed when the tests end; `owner` may be the test user. */
export const tempDir = (prefix: string, owner?: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `noj-${prefix}-`));
  made.push(dir);
  if (owner !== undefined) execFileSync('chown', [owner, dir]);
  return dir;
};

/** Whether a live process's command line (its words joined by NUL, one after each) satisfies `test`. */
export const anyProcess = (test: (cmdline: string) => boolean): boolean => fs.readdirSync('/proc').some(name => {
  try {
    return /^\d+$/.test(name) && test(fs.readFileSync(`/proc/${name}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
});

export const mountTable = (): string => fs.readFileSync('/proc/self/mountinfo', 'utf8');

/**
 * What the store looks like through a mask, mounted read-only as `lowerdir=MASK:STORE` in a
 * private mount namespace (so nothing is left mounted). Returns `ls -a` of the merged root,
 * or the error of listing it.
 */
export const mergedListing = (mask: string, store: string, extraLayers: string[] = []): string[] => {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-merged-'));
  try {
    const lower = [...extraLayers, mask, store].map(dir => dir.replace(/[\\,:]/g, match => `\\${match}`)).join(':');
    const output = execFileSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c',
      'mount -t overlay -o "$1" overlay "$2" && ls -a -1 "$2"', 'sh', `ro,lowerdir=${lower}`, target], {encoding: 'utf8'});
    return output.split('\n').filter(line => line !== '').sort();
  } finally {
    fs.rmdirSync(target);
  }
};

export const baseNames = (paths: readonly string[]): string[] => paths.map(entry => path.basename(entry)).sort();

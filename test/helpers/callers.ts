/**
 * Who runs the tool and how it mounts, for tests that must hold for every combination: root
 * (allowlist and whiteout masks), an ordinary user (user namespace), and bubblewrap 0.11+
 * mounting the overlay itself, as root and as that user.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {CLI, tempDir, userCli, userCommand, userEnv, withOptions} from './cli.js';
import {missing, TEST_USER, withNewBwrap} from './env.js';
import {nixEnv} from './nix.js';

export interface Caller {
  name: string;
  /** Why this caller cannot run here, or undefined. */
  needs: string | undefined;
  /** The command line that runs the tool with `args` (a subcommand first) as this caller. */
  command: (args: readonly string[]) => [string, string[]];
  /** The same, as typed in a shell that already runs as this caller. */
  inShell: (args: readonly string[]) => string[];
  env: () => NodeJS.ProcessEnv;
  /** A fresh cache directory this caller owns. */
  cache: () => string;
  /** Whether the caller is the unprivileged test user. */
  user: boolean;
  /** The mounting way, as --mount-with would name it. */
  mountWith: 'root' | 'userns' | 'bwrap';
}

const asRoot = (args: readonly string[]): [string, string[]] => [process.execPath, [CLI, ...args]];

/** The same caller with extra options after the subcommand. */
const withArgs = (caller: Caller, name: string, options: string[], extra: Partial<Caller> = {}): Caller => ({
  ...caller,
  name,
  command: args => caller.command(withOptions(args, ...options)),
  inShell: args => caller.inShell(withOptions(args, ...options)),
  ...extra,
});

const root: Caller = {name: 'root', needs: missing('root', 'nix', 'bwrap'), command: asRoot, inShell: args => [process.execPath, CLI, ...args], env: nixEnv, cache: () => tempDir('cache'), user: false, mountWith: 'root'};
const user: Caller = {name: 'an ordinary user', needs: missing('test-user', 'nix', 'bwrap'), command: userCommand, inShell: args => [process.execPath, userCli(), ...args], env: userEnv, cache: () => tempDir('cache', TEST_USER), user: true, mountWith: 'userns'};

const bwrapMounting = (caller: Caller): Caller => withArgs(caller, `${caller.name}, with bubblewrap mounting the overlay itself`, ['--mount-with', 'bwrap'], {
  needs: caller.needs ?? missing('bwrap-0.11'),
  env: () => withNewBwrap(caller.env()),
  mountWith: 'bwrap',
});

/**
 * The user namespace named, not left to auto: where the host's own bubblewrap is 0.11 or later,
 * auto would pick bubblewrap for the user, and no suite would run the user namespace.
 */
const userns = withArgs(user, user.name, ['--mount-with', 'userns']);

/**
 * Run a launcher as the caller: root directly, the test user through setpriv (which execs);
 * by its #! line (/bin/sh), or by the shell given.
 */
export const launcherCommand = (caller: Caller, launcher: string, args: readonly string[], shell?: string): [string, string[]] => {
  const argv = shell === undefined ? [launcher, ...args] : [shell, launcher, ...args];
  return caller.user ? ['setpriv', [`--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, '--init-groups', '--', ...argv]] : [argv[0]!, argv.slice(1)];
};

/** One caller for each mounting way: root, the user namespace, bubblewrap as root and as a user. */
export const mountingWays: Caller[] = [root, userns, bwrapMounting(root), bwrapMounting(user)];

/** Every mounting way and, as root, each mask kind and the execute-only store. */
export const everyJailKind: Caller[] = [
  root,
  withArgs(root, 'root with a whiteout mask', ['--mode', 'whiteout']),
  withArgs(root, 'root with a whiteout mask and --exec-only', ['--mode', 'whiteout', '--exec-only']),
  withArgs(root, 'root with an allowlist mask and --exec-only', ['--exec-only']),
  userns,
  withArgs(userns, 'an ordinary user with --exec-only', ['--exec-only']),
  bwrapMounting(root),
  bwrapMounting(user),
];

/**
 * The shells a launcher or the front meets: this machine's /bin/sh (dash on Debian), bash, and
 * bash as NixOS's /bin/sh (started as sh: POSIX mode). Each starts the chain its own way
 * (launcher.ts).
 */
let bashAsSh: string | undefined;
export const posixBash = (): string => {
  if (bashAsSh === undefined) {
    const dir = tempDir('launch-sh');
    fs.chmodSync(dir, 0o755);
    bashAsSh = path.join(dir, 'sh');
    fs.symlinkSync(execFileSync('sh', ['-c', 'command -v bash'], {encoding: 'utf8'}).trim(), bashAsSh);
  }
  return bashAsSh;
};
export const SHELLS: ReadonlyArray<[string, () => string | undefined]> = [['/bin/sh', () => undefined], ['bash', () => 'bash'], ['bash as sh', posixBash]];

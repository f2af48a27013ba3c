/**
 * Descriptors the caller holds open never reach the jailed program, except those passed with
 * --keep-fd: for every mounting way and mask kind, as root and as an ordinary user, and
 * through a `wrap` launcher. A directory descriptor of the store would walk around the mask.
 */
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {run, tempDir, userHome} from '../helpers/cli.js';
import {everyJailKind, type Caller} from '../helpers/callers.js';
import {missing, when} from '../helpers/env.js';
import {buildFixture, nixEnv} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The numbers the caller holds open, and what each one is. */
const HELD = [5, 20, 240, 1000] as const;

/**
 * Run `command` with descriptors open at the HELD numbers: the store directory (5), the
 * caller's home (20), a connected unix socket (240) and a pipe (1000).
 */
const runHolding = async (command: [string, string[]], env: NodeJS.ProcessEnv, home: string): Promise<Outcome> => {
  const dir = tempDir('socket');
  // The child's copy of the socket may reset the connection when it closes: that is no failure.
  const server = net.createServer(connection => connection.on('error', () => undefined).end('from the host socket\n'));
  await new Promise<void>(resolve => server.listen(path.join(dir, 'socket'), resolve));
  const socket = net.connect(path.join(dir, 'socket')).on('error', () => undefined);
  await new Promise<void>(resolve => socket.on('connect', resolve));
  const store = fs.openSync('/nix/store', 'r');
  const homeFd = fs.openSync(home, 'r');
  try {
    const stdio: Array<'pipe' | 'ignore' | number | net.Socket> = ['ignore', 'pipe', 'pipe'];
    for (let fd = 3; fd <= 1000; fd++) stdio.push('ignore');
    stdio[5] = store;
    stdio[20] = homeFd;
    stdio[240] = socket;
    stdio[1000] = 'pipe';
    const child = spawn(command[0], command[1], {stdio, env, cwd: '/'});
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', chunk => (stdout += chunk));
    child.stderr!.on('data', chunk => (stderr += chunk));
    const code = await new Promise<number | null>(resolve => child.on('close', resolve));
    return {code, stdout, stderr};
  } finally {
    fs.closeSync(store);
    fs.closeSync(homeFd);
    socket.destroy();
    server.close();
  }
};

/**
 * The program lists its descriptors (the glob's own directory handle is the one above 2),
 * then tries each held number: the secret outside the closure through the store descriptor,
 * a file in the caller's home, the socket and the pipe.
 */
const probe = (outsider: string): string[] => ['-c', `
  cd /proc/self/fd && echo "fds:" *
  cat /proc/self/fd/5/${path.basename(outsider)}/secret.txt 2>/dev/null && echo "REACHED 5"
  cat /proc/self/fd/20/noj-canary 2>/dev/null && echo "REACHED 20"
  [ -e /proc/self/fd/240 ] && echo "REACHED 240"
  [ -e /proc/self/fd/1000 ] && echo "REACHED 1000"
  exit 0`];

const canary = (caller: Caller): string => {
  const home = caller.user ? userHome() : '/root';
  fs.writeFileSync(path.join(home, 'noj-canary'), 'host home\n');
  if (caller.user) fs.chownSync(path.join(home, 'noj-canary'), Number(fs.statSync(home).uid), Number(fs.statSync(home).gid));
  return home;
};

for (const caller of everyJailKind) {
  const fds = suite(`inherited descriptors, as ${caller.name}`);
  const fdTest = when(fds, caller.needs);

  fdTest('should start the program with descriptors 0, 1 and 2 only', async () => {
    const {app, outsider} = buildFixture();
    const home = canary(caller);
    const result = await runHolding(caller.command(['exec', '--cache-dir', caller.cache(), '--', `${app}/bin/sh`, ...probe(outsider)]), caller.env(), home);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, 'fds: 0 1 2 3\n');
    tally('escape', HELD.length);
  });

  fdTest('should pass a --keep-fd descriptor at its number, and still no other', async () => {
    const {app, outsider} = buildFixture();
    const home = canary(caller);
    const result = await runHolding(caller.command(['exec', '--keep-fd', '20', '--keep-fd', '1000', '--cache-dir', caller.cache(), '--', `${app}/bin/sh`, ...probe(outsider)]), caller.env(), home);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, 'fds: 0 1 1000 2 20 3\nhost home\nREACHED 20\nREACHED 1000\n');
    tally('escape', HELD.length - 2);
  });

  fdTest('should refuse --keep-fd of a descriptor that is not open, of 0 to 2, or one of its own (Node\'s pipe)', async () => {
    const {app} = buildFixture();
    for (const [fd, message] of [['77', /--keep-fd 77: descriptor 77 is not open/], ['1', /descriptors 0, 1 and 2 always reach the program/], ['x', /needs a descriptor number/], ['4', /descriptor 4 is nix-overlay-jail's own \(pipe:/]] as const) {
      const result = await runHolding(caller.command(['exec', '--keep-fd', fd, '--cache-dir', caller.cache(), '--', `${app}/bin/sh`, '-c', 'echo RAN']), caller.env(), '/');
      assert.is(result.code, 125, fd);
      assert.match(result.stderr, message);
      assert.is(result.stdout, '');
    }
    tally('input', 4);
  });

  fds.run();
}

// ---

const launchers = suite('inherited descriptors through a wrap launcher');

when(launchers, missing('root', 'nix', 'bwrap'))('should close them, and keep the one the launcher was written with', async () => {
  const {app, outsider} = buildFixture();
  const dir = tempDir('launcher');
  const cache = tempDir('cache');
  const plain = run(['wrap', '--out', path.join(dir, 'plain'), '--cache-dir', cache, `${app}/bin/sh`]);
  assert.is(plain.status, 0, plain.stderr);
  const keeping = run(['wrap', '--out', path.join(dir, 'keeping'), '--keep-fd', '240', '--cache-dir', cache, `${app}/bin/sh`]);
  assert.is(keeping.status, 0, keeping.stderr);
  const home = canary({user: false} as Caller);
  const closed = await runHolding([path.join(dir, 'plain'), probe(outsider)], nixEnv(), home);
  assert.is(closed.code, 0, closed.stderr);
  assert.is(closed.stdout, 'fds: 0 1 2 3\n');
  assert.match(keeping.stderr, /starts through exec each time: no launch plan \(--keep-fd\)/);
  assert.not.match(fs.readFileSync(path.join(dir, 'keeping'), 'utf8'), /^noj_dir=/m, 'no warm path, which would close 240 first');
  // Under dash (which cannot close 240 by number) and bash (which can) alike.
  for (const shell of [[], ['bash'], ['bash', '--posix']]) {
    const launcher = path.join(dir, 'keeping');
    const kept = await runHolding(shell.length === 0 ? [launcher, probe(outsider)] : [shell[0]!, [...shell.slice(1), launcher, ...probe(outsider)]], nixEnv(), home);
    assert.is(kept.code, 0, `${shell.join(' ')}: ${kept.stderr}`);
    assert.is(kept.stdout, 'fds: 0 1 2 240 3\nREACHED 240\n', shell.join(' '));
  }
  tally('escape', HELD.length * 2 - 1);
});

launchers.run();

/**
 * --limit: the limits hold inside the jail (a program sees them, soft and hard, and meets
 * them), for every mounting way and through a wrap launcher's warm start; nproc holds for an
 * ordinary user and is refused for root, where the kernel does not hold it; a limit above the
 * caller's hard limit is one line, exit 125.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {anyProcess, collect, tempDir} from '../helpers/cli.js';
import {launcherCommand, mountingWays, type Caller} from '../helpers/callers.js';
import {TEST_USER, when} from '../helpers/env.js';
import {buildFixture} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';

const run = (caller: Caller, args: readonly string[], env: NodeJS.ProcessEnv = {}) => {
  const [command, argv] = caller.command(args);
  return collect(command, argv, {...caller.env(), ...env});
};

for (const caller of mountingWays) {
  const limits = suite(`--limit, as ${caller.name}`);
  const test = when(limits, caller.needs);

  test('should set each limit, soft and hard, for the program and what it starts, and hold it', () => {
    const sh = path.join(buildFixture().app, 'bin/sh');
    const script = [
      'ulimit -Sn; ulimit -Hn; ulimit -f; ulimit -c; ulimit -t; ulimit -v',
      // A child sees them too; the 16th descriptor cannot be opened; nothing raises a limit.
      'sh -c "ulimit -n"',
      'exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null 9</dev/null',
      'ls -l /proc/self/fd >/dev/null && echo listed',
      'ulimit -n 17 2>/dev/null && echo raised || echo "not raised"',
      // A file may not grow past fsize (SIGXFSZ ends the writer).
      'head -c 8192 /dev/zero >/tmp/big; echo "writer: $?"; wc -c </tmp/big',
    ].join('\n');
    const result = run(caller, ['exec', '--cache-dir', caller.cache(), '--limit', 'nofile=16', '--limit', 'fsize=4K', '--limit', 'core=0',
      '--limit', 'cpu=60', '--limit', 'as=4G', '--', sh, '-c', script]);
    assert.is(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n'), ['16', '16', '8', '0', '60', String(4 * 1024 * 1024), '16', 'listed', 'not raised', `writer: ${128 + 25}`, '4096']);
    tally('escape', 1);
  });

  test('should hold through a wrap launcher\'s warm start', () => {
    const sh = path.join(buildFixture().app, 'bin/sh');
    const dir = tempDir('limits-wrap', caller.user ? TEST_USER : undefined);
    const launcher = path.join(dir, 'launcher');
    const wrote = run(caller, ['wrap', '--out', launcher, '--cache-dir', caller.cache(), '--limit', 'nofile=16', sh, '-c', 'ulimit -n; ulimit -Hn']);
    assert.is(wrote.status, 0, wrote.stderr);
    const [command, argv] = launcherCommand(caller, launcher, []);
    const asCaller = (env: NodeJS.ProcessEnv) => collect(command, argv, {...caller.env(), ...env});
    assert.is(asCaller({}).stdout, '16\n16\n');
    const warm = asCaller({NIX_OVERLAY_JAIL_REQUIRE_PLAN: '1'});
    assert.is(warm.status, 0, warm.stderr);
    assert.is(warm.stdout, '16\n16\n');
  });

  if (caller.user) {
    test('should hold nproc for an ordinary user: a fork past it fails, and the jail ends', () => {
      const sh = path.join(buildFixture().app, 'bin/sh');
      // nproc counts every process of the user, outside the jail too: the limit is what the
      // test user runs now and 20 more. 60 background sleeps: busybox's sh stops at the fork
      // that fails ("can't fork"), and the jail ends with it, its sleeps too.
      const uid = Number(execFileSync('id', ['-u', TEST_USER], {encoding: 'utf8'}));
      const running = fs.readdirSync('/proc').filter(name => {
        try {
          return /^\d+$/.test(name) && /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${name}/status`, 'utf8'))?.[1] === String(uid);
        } catch {
          return false;
        }
      }).length;
      const mark = String(3000 + Math.floor(Math.random() * 1000));
      const script = `i=0; while [ $i -lt 60 ]; do echo $i; sleep ${mark} & i=$((i+1)); done`;
      const result = run(caller, ['exec', '--cache-dir', caller.cache(), '--limit', `nproc=${running + 20}`, '--', sh, '-c', script]);
      const seen = `(${running} running) ${result.status}: ${result.stderr}`;
      assert.is.not(result.status, 0, seen);
      assert.match(result.stderr, /can't fork: Resource temporarily unavailable/, seen);
      const started = result.stdout.trim().split('\n').length;
      assert.ok(started < 60, `${started} forks ${seen}`);
      assert.not.ok(anyProcess(cmdline => cmdline === `sleep\0${mark}\0`), 'no sleep of the jail is left');
      tally('escape', 1);
    });
  } else {
    test('should refuse nproc for root, whose processes the kernel does not limit', () => {
      const result = run(caller, ['exec', '--limit', 'nproc=10', '--', path.join(buildFixture().app, 'bin/sh'), '-c', 'true']);
      assert.is(result.status, 125);
      assert.is(result.stderr, 'nix-overlay-jail: --limit nproc does not hold for a jail run as root: the kernel does not limit the processes of root\n');
    });
  }

  test('should refuse a limit above the caller\'s hard limit, in one line', () => {
    const hard = /^Max open files\s+\S+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    // The test user's hard limit is what root's is here (setpriv keeps it).
    const above = hard === null ? 2 ** 40 : Number(hard[1]) + 1;
    const result = run(caller, ['exec', '--limit', `nofile=${above}`, '--', path.join(buildFixture().app, 'bin/sh'), '-c', 'true']);
    assert.is(result.status, 125, result.stderr);
    assert.match(result.stderr, new RegExp(`^nix-overlay-jail: --limit nofile=${above} is above your hard limit of \\d+ \\(open files\\): it cannot be raised\\n$`));
    tally('input', 1);
  });

  limits.run();
}

/**
 * --timeout: when the time runs out every process in the jail ends (one that ignores SIGTERM,
 * and a daemon in a session of its own, by SIGKILL after --kill-after), nothing of the jail
 * is left, and the status is 124, as timeout(1) gives it; a program that ends in time keeps
 * its own status. For every mounting way, and through a wrap launcher.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {anyProcess, collect, tempDir} from '../helpers/cli.js';
import {launcherCommand, mountingWays, type Caller} from '../helpers/callers.js';
import {TEST_USER, when} from '../helpers/env.js';
import {buildFixture} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';

/** The processes, of every user, whose pid namespace is `namespace` (pid:[N]). */
const inNamespace = (namespace: string): number[] => fs.readdirSync('/proc').filter(name => /^\d+$/.test(name)).filter(name => {
  try {
    return fs.readlinkSync(`/proc/${name}/ns/pid`) === namespace;
  } catch {
    return false;
  }
}).map(Number);

const run = (caller: Caller, args: readonly string[]) => {
  const [command, argv] = caller.command(args);
  return collect(command, argv, caller.env());
};

for (const caller of mountingWays) {
  const timeouts = suite(`--timeout, as ${caller.name}`);
  const test = when(timeouts, caller.needs);

  test('should end every process of the jail, daemons and ones that ignore SIGTERM, and exit 124', () => {
    const sh = path.join(buildFixture().app, 'bin/sh');
    // A daemon, double-forked into a session of its own, that notes the SIGTERM it gets; and
    // the program, which ignores SIGTERM and so ends by SIGKILL.
    const mark = `${1_000_000 + crypto.randomInt(1_000_000)}`;
    const out = tempDir('timeout-out', caller.user ? TEST_USER : undefined);
    const daemon = `trap 'echo got TERM >/out/daemon; exit 0' TERM; sleep ${mark} & echo up >/out/daemon; wait`;
    // (The daemon starts first: a signal ignored when a shell starts cannot be trapped in it.)
    const script = `readlink /proc/self/ns/pid; (setsid sh -c "${daemon}" &); trap "" TERM; while [ ! -s /out/daemon ]; do sleep 0.05; done; echo ready; sleep 1000`;
    const result = run(caller, ['exec', '--cache-dir', caller.cache(), '--bind', `${out}:/out`, '--timeout', '1s', '--kill-after', '1s', '--', sh, '-c', script]);
    assert.is(result.status, 124, result.stderr);
    const [namespace, ready] = result.stdout.trim().split('\n');
    assert.match(namespace!, /^pid:\[\d+\]$/);
    assert.is(ready, 'ready');
    assert.is(result.stderr, `nix-overlay-jail: ${sh} timed out after 1s: the jail was ended\n`);
    assert.is(fs.readFileSync(path.join(out, 'daemon'), 'utf8'), 'got TERM\n', 'the daemon got SIGTERM');
    assert.equal(inNamespace(namespace!), [], 'no process of the jail is left');
    assert.not.ok(anyProcess(cmdline => cmdline.includes(mark)), 'its sleep is gone');
    tally('escape', 1);
  });

  test('should keep the program\'s own status when it ends in time, and take 0 for no timeout', () => {
    const sh = path.join(buildFixture().app, 'bin/sh');
    for (const timeout of ['60s', '0']) {
      const result = run(caller, ['exec', '--cache-dir', caller.cache(), '--timeout', timeout, '--', sh, '-c', 'exit 3']);
      assert.is(result.status, 3, `${timeout}: ${result.stderr}`);
      assert.is(result.stderr, '');
    }
  });

  test('should time out a wrap launcher\'s jail too (such a launcher always starts through exec)', () => {
    const sh = path.join(buildFixture().app, 'bin/sh');
    const dir = tempDir('timeout-wrap', caller.user ? TEST_USER : undefined);
    const launcher = path.join(dir, 'launcher');
    const cache = caller.cache();
    const wrote = run(caller, ['wrap', '--out', launcher, '--cache-dir', cache, '--timeout', '1s', '--kill-after', '1s', sh, '-c', 'trap "" TERM; sleep 1000']);
    assert.is(wrote.status, 0, wrote.stderr);
    const [command, argv] = launcherCommand(caller, launcher, []);
    const started = collect(command, argv, caller.env());
    assert.is(started.status, 124, started.stderr);
    assert.match(started.stderr, /timed out after 1s: the jail was ended\n$/);
  });

  timeouts.run();
}

const bad = suite('--timeout and --kill-after, refused');
when(bad, mountingWays[0]!.needs)('should refuse a duration that is not one, and --kill-after alone', () => {
  const sh = path.join(buildFixture().app, 'bin/sh');
  for (const [args, message] of [
    [['--timeout', 'soon'], /--timeout must be a duration such as 90s/],
    [['--timeout=-1'], /--timeout must be a duration/],
    [['--timeout', '30d'], /at most 24d/],
    [['--timeout', '1s', '--kill-after', '1x'], /--kill-after must be a duration/],
    [['--kill-after', '1s'], /--kill-after needs --timeout/],
  ] as Array<[string[], RegExp]>) {
    const result = run(mountingWays[0]!, ['exec', ...args, '--', sh, '-c', 'true']);
    assert.is(result.status, 125, args.join(' '));
    assert.match(result.stderr, message);
    assert.is(result.stderr.split('\n').length, 2, 'one line');
    tally('input', 1);
  }
});
bad.run();

/**
 * --mount-with fuse, for real: fuse-overlayfs mounts the whiteout mask over the store in the
 * jail's namespaces, as root and as an ordinary user (in a user namespace, /dev/fuse made
 * usable for the run and put back after). The exactness tests (the jail's store is the
 * closure; a path outside it unreachable by its full name; dot entries hidden; --exec-only),
 * descriptors, signals and exit statuses, verify, a launcher (through exec), allowlist masks
 * refused, and a SIGKILLed nix-overlay-jail leaves no FUSE process and no mount.
 */
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {anyProcess, baseNames, collect, eventually, tempDir, type Collected} from '../helpers/cli.js';
import {launcherCommand, mountingWays} from '../helpers/callers.js';
import {TEST_USER, when} from '../helpers/env.js';
import {buildFixture} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';
import {fuseUnavailable} from '../../src/mount/capabilities.js';

// /dev/fuse for the test user during this file, its mode put back after (also on a crash).
const fuseMode = fs.existsSync('/dev/fuse') ? fs.statSync('/dev/fuse').mode & 0o777 : undefined;
const restore = (): void => {
  if (fuseMode !== undefined && process.getuid?.() === 0) fs.chmodSync('/dev/fuse', fuseMode);
};
process.on('exit', restore);

const needs = fuseUnavailable();
const [root, user] = [mountingWays[0]!, mountingWays[1]!];

/** A FUSE process of fuse-overlayfs that runs (zombies, which init reaps, aside). */
const fuseRuns = (): boolean => fs.readdirSync('/proc').filter(name => /^\d+$/.test(name)).some(pid => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.includes('(fuse-overlayfs)') && !/\) Z /.test(stat);
  } catch {
    return false;
  }
});

for (const caller of [root, user]) {
  const fuse = suite(`--mount-with fuse, as ${caller.name}`);
  const fuseTest = when(fuse, caller.needs ?? needs);
  let cache = '';
  fuse.before(() => {
    if (caller.needs !== undefined) return;
    if (caller.user && fuseMode !== undefined) fs.chmodSync('/dev/fuse', 0o666);
    cache = caller.cache();
  });
  fuse.after(restore);

  const exec = (args: string[], fds: number[] = []): Collected => {
    const [command, argv] = caller.command(['exec', '--mount-with', 'fuse', '--cache-dir', cache, ...args]);
    return collect(command, argv, caller.env(), fds);
  };
  const sh = (): string => `${buildFixture().app}/bin/sh`;

  fuseTest('the jail\'s store is exactly the closure, mounted by fuse-overlayfs; outside paths, .links and /nix/var unreachable', () => {
    const fixture = buildFixture();
    const listing = exec(['--', sh(), '-c', 'ls -a -1 /nix/store; echo ==; grep " /nix/store " /proc/self/mountinfo']);
    assert.is(listing.status, 0, listing.stderr);
    assert.is(listing.stderr, '', 'no word from fuse-overlayfs');
    const [names, mounts] = listing.stdout.split('==\n') as [string, string];
    // fuse-overlayfs lists no '..' at the store's root; every name is the closure's.
    assert.equal(names.trim().split('\n').filter(name => name !== '.' && name !== '..').sort(), baseNames(fixture.closure));
    assert.match(mounts, / - fuse\.fuse-overlayfs /);
    const probes = ['/nix/store/.links', '/nix/var', `${fixture.outsider}/secret.txt`, fixture.outsider, `/nix/store/./${path.basename(fixture.outsider)}/secret.txt`];
    const script = 'for p; do if [ -e "$p" ] || cat "$p" 2>/dev/null; then echo "REACHED $p"; fi; done; echo done';
    const reached = exec(['--', sh(), '-c', script, 'sh', ...probes]);
    assert.is(reached.status, 0, reached.stderr);
    assert.is(reached.stdout, 'done\n');
    tally('escape', probes.length);
  });

  fuseTest('--exec-only: the store cannot be listed, its paths still run', () => {
    const result = exec(['--exec-only', '--', sh(), '-c', 'ls /nix/store >/dev/null 2>&1 && echo listed; cat /nix/store/*-fixture-data.txt 2>/dev/null; echo ran']);
    assert.is(result.status, 0, result.stderr);
    assert.not.match(result.stdout, /listed/);
    assert.match(result.stdout, /ran\n$/);
    tally('escape', 1);
  });

  fuseTest('descriptors 5 and 10 are closed; exit statuses and signal deaths come through', () => {
    const fds = exec(['--', sh(), '-c', 'ls /proc/self/fd'], [5, 10]);
    assert.is(fds.status, 0, fds.stderr);
    assert.equal(fds.stdout.trim().split('\n'), ['0', '1', '2', '3']);
    assert.is(exec(['--', sh(), '-c', 'exit 7']).status, 7);
    assert.is(exec(['--', sh(), '-c', 'kill -TERM $$']).status, 143);
    assert.is(exec(['--', sh(), '-c', 'exec /nonexistent/x']).status, 127);
    tally('escape', 2);
  });

  fuseTest('SIGINT reaches the program\'s handler; a SIGKILLed nix-overlay-jail leaves no FUSE process and no jail', async () => {
    const [command, argv] = caller.command(['exec', '--mount-with', 'fuse', '--cache-dir', cache, '--', sh(), '-c', 'trap "echo got INT; exit 5" INT; echo ready; while :; do sleep 0.05; done']);
    for (const signal of ['SIGINT', 'SIGKILL'] as const) {
      const child = spawn(command, argv, {env: caller.env(), stdio: ['ignore', 'pipe', 'pipe']});
      let stdout = '';
      await new Promise<void>(resolve => child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('ready\n')) resolve();
      }));
      assert.ok(fuseRuns(), 'fuse-overlayfs serves the running jail');
      const ended = new Promise<number | null>(resolve => child.on('close', code => resolve(code)));
      child.kill(signal);
      const code = await ended;
      if (signal === 'SIGINT') {
        assert.is(code, 5);
        assert.is(stdout, 'ready\ngot INT\n');
      }
      assert.ok(await eventually(() => !fuseRuns()), `no fuse-overlayfs after ${signal}`);
      assert.ok(await eventually(() => !anyProcess(cmdline => cmdline.includes('echo ready; while :'))), `no jail after ${signal}`);
    }
    tally('fault', 1);
  });

  fuseTest('verify mounts it as exec does; a launcher runs through exec; an allowlist mask is refused in one line', () => {
    const fixture = buildFixture();
    const [verifyCommand, verifyArgv] = caller.command(['verify', '--mount-with', 'fuse', '--cache-dir', cache, fixture.app]);
    const verified = collect(verifyCommand, verifyArgv, caller.env());
    assert.is(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /^ok: the jail sees exactly the closure/m);
    const launcher = path.join(tempDir('fuse-launcher', caller.user ? TEST_USER : undefined), 'jailed');
    const [wrapCommand, wrapArgv] = caller.command(['wrap', '--out', launcher, '--mount-with', 'fuse', '--cache-dir', cache, sh(), '-c', 'ls /nix/store | wc -l']);
    const wrapped = collect(wrapCommand, wrapArgv, caller.env());
    assert.is(wrapped.status, 0, wrapped.stderr);
    const [command, argv] = launcherCommand(caller, launcher, []);
    const started = collect(command, argv, caller.env());
    assert.is(started.status, 0, started.stderr);
    assert.is(started.stdout.trim(), String(fixture.closure.length));
    const allowlist = exec(['--mode', 'allowlist', '--', sh(), '-c', 'true']);
    assert.is(allowlist.status, 125);
    assert.is(allowlist.stderr.trim().split('\n').length, 1, allowlist.stderr);
    tally('input', 1);
  });

  fuse.run();
}

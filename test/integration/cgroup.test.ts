/**
 * --memory, --cpus and --pids, for every mounting way. Where this host holds them (cgroup v2,
 * a systemd manager that delegates the controllers), a jail past its process count cannot fork
 * and one past its memory is killed; where it does not (these machines: cgroups of version 1),
 * exec says what is missing in one line, exit 125, and starts nothing.
 */
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {collect} from '../helpers/cli.js';
import {mountingWays, type Caller} from '../helpers/callers.js';
import {when} from '../helpers/env.js';
import {buildFixture} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';
import {cgroupFacts, cgroupUnavailable} from '../../src/jail/cgroup.js';

const run = (caller: Caller, args: readonly string[]) => {
  const [command, argv] = caller.command(args);
  return collect(command, argv, caller.env());
};

for (const caller of mountingWays) {
  const cgroups = suite(`--memory, --cpus and --pids, as ${caller.name}`);
  const test = when(cgroups, caller.needs);

  test('should hold the limits where the host delegates them, and say what is missing where it does not', () => {
    const sh = path.join(buildFixture().app, 'bin/sh');
    // What the caller's host offers, as exec will see it (root's facts for root; the test user's environment otherwise).
    const why = caller.user ? undefined : cgroupUnavailable({memoryBytes: 1, cpus: 1, pids: 1}, cgroupFacts(caller.env(), '/usr/bin/systemd-run'));
    const pids = run(caller, ['exec', '--cache-dir', caller.cache(), '--pids', '20', '--', sh, '-c', 'i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; echo all started']);
    if (pids.status === 125) {
      // Not held here: one line naming the option and what is missing, and no jail started.
      assert.match(pids.stderr, /^nix-overlay-jail: --pids: (this host's cgroups at \/sys\/fs\/cgroup are not version 2|systemd-run not found|no systemd user manager|systemd is not running|the cgroup controller pids is not delegated)[^\n]*\n$/);
      assert.is(pids.stdout, '');
      if (!caller.user) assert.is(pids.stderr, `nix-overlay-jail: ${why!.replace('--memory, --cpus, --pids', '--pids')}\n`);
      const memory = run(caller, ['exec', '--memory', '64M', '--cpus', '0.5', '--', sh, '-c', 'echo started']);
      assert.is(memory.status, 125);
      assert.match(memory.stderr, /^nix-overlay-jail: --memory, --cpus: /);
      tally('input', 2);
      return;
    }
    // Held: the 40 forks stop at the limit, and a jail past its memory is killed.
    assert.match(pids.stderr, /can't fork/, pids.stderr);
    assert.not.match(pids.stdout, /all started/);
    const memory = run(caller, ['exec', '--cache-dir', caller.cache(), '--memory', '16M', '--', sh, '-c', 'x=a; while :; do x="$x$x"; done']);
    assert.is(memory.status, 128 + 9, memory.stderr);
    tally('escape', 2);
  });

  cgroups.run();
}

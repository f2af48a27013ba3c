/**
 * Real, dynamically linked programs (Debian's, patched into the store with their libraries)
 * in a jail, for each mounting way, as root and as an ordinary user: they run with nothing of
 * the host's /lib, see exactly their closure, and without their libraries in the closure the
 * tool refuses to start them (126), naming the dynamic loader.
 */
import {execFileSync} from 'node:child_process';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {baseNames, tempDir} from '../helpers/cli.js';
import {mountingWays} from '../helpers/callers.js';
import {TEST_USER, when} from '../helpers/env.js';
import {debianPrograms} from '../helpers/nix.js';
import {closureFile} from '../helpers/store.js';
import {tally} from '../helpers/tally.js';

const hasPatchelf = (): boolean => {
  try {
    execFileSync('sh', ['-c', 'command -v patchelf && command -v ldd'], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
};

for (const caller of mountingWays) {
  const real = suite(`dynamically linked programs, as ${caller.name}`);
  const realTest = when(real, caller.needs ?? (hasPatchelf() ? undefined : 'needs patchelf and ldd'));
  const exec = (args: string[]): {status: number | null; stdout: string; stderr: string} => {
    const [command, argv] = caller.command(['exec', '--cache-dir', cache, ...args]);
    try {
      const stdout = execFileSync(command, argv, {encoding: 'utf8', env: caller.env(), cwd: '/', stdio: ['ignore', 'pipe', 'pipe']});
      return {status: 0, stdout, stderr: ''};
    } catch (error) {
      const failed = error as {status: number | null; stdout: string; stderr: string};
      return {status: failed.status, stdout: failed.stdout, stderr: failed.stderr};
    }
  };
  let cache = '';
  real.before(() => {
    if (caller.needs === undefined) cache = caller.cache();
  });

  realTest('should run with only its closure: ls lists exactly the programs and their libraries', () => {
    const {programs, libraries} = debianPrograms(['ls', 'id']);
    const result = exec(['--', `${programs}/bin/ls`, '-1', '-a', '/nix/store']);
    assert.is(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').sort(), ['.', '..', ...baseNames([programs, libraries])].sort());
  });

  realTest('should run as the caller: id reports the caller\'s own uid and gid', () => {
    const {programs} = debianPrograms(['ls', 'id']);
    const expected = caller.user
      ? execFileSync('id', ['-u', TEST_USER], {encoding: 'utf8'}).trim()
      : '0';
    const result = exec(['--', `${programs}/bin/id`, '-u']);
    assert.is(result.status, 0, result.stderr);
    assert.is(result.stdout.trim(), expected);
  });

  realTest('should refuse, with 126, a program whose loader and libraries are not in the closure', () => {
    const {programs, loader} = debianPrograms(['ls', 'id']);
    const list = closureFile(tempDir('partial', caller.user ? TEST_USER : undefined), [path.basename(programs)]);
    const result = exec(['--closure-file', list, '--', `${programs}/bin/ls`, '/']);
    assert.is(result.status, 126, result.stderr);
    assert.match(result.stderr, `its interpreter ${loader} is not in the closure`);
    tally('input', 1);
  });

  real.run();
}

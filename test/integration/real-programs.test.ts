/**
 * Real, dynamically linked programs (Debian's, patched into the store with their libraries)
 * in a jail, for each mounting way, as root and as an ordinary user: they run with nothing of
 * the host's /lib, see exactly their closure, and without their libraries in the closure the
 * tool refuses to start them (126), naming the dynamic loader.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {baseNames, tempDir} from '../helpers/cli.js';
import {mountingWays} from '../helpers/callers.js';
import {TEST_USER, when} from '../helpers/env.js';
import {buildFixture, debianPrograms} from '../helpers/nix.js';
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

  realTest('should run as the caller, by name: id reports the caller\'s uid, user and group', () => {
    const {programs} = debianPrograms(['ls', 'id']);
    const who = caller.user ? TEST_USER : 'root';
    const expected = ['-u', '-un', '-gn'].map(flag => execFileSync('id', [flag, who], {encoding: 'utf8'}).trim()).join(' ');
    const result = exec(['--', `${programs}/bin/id`, '-u']);
    assert.is(result.status, 0, result.stderr);
    const names = ['-un', '-gn'].map(flag => exec(['--', `${programs}/bin/id`, flag]).stdout.trim());
    assert.is([result.stdout.trim(), ...names].join(' '), expected);
  });

  realTest('should give the jail an /etc/passwd and /etc/group of root, the caller and nobody only', () => {
    const fixture = buildFixture();
    const result = exec(['--', `${fixture.app}/bin/sh`, '-c', 'cat /etc/passwd; echo --; cat /etc/group; echo --; echo $HOME']);
    assert.is(result.status, 0, result.stderr);
    const [passwd, group, home] = result.stdout.split('--\n') as [string, string, string];
    const uid = Number(execFileSync('id', ['-u', caller.user ? TEST_USER : 'root'], {encoding: 'utf8'}));
    const gid = Number(execFileSync('id', ['-g', caller.user ? TEST_USER : 'root'], {encoding: 'utf8'}));
    const names = passwd.trim().split('\n').map(line => line.split(':')[0]);
    assert.equal(names, caller.user ? ['root', TEST_USER, 'nobody'] : ['root', 'nobody']);
    assert.ok(passwd.includes(`:x:${uid}:${gid}::${home.trim()}:`), passwd);
    assert.equal(group.trim().split('\n').map(line => line.split(':').slice(0, 3).join(':')),
      caller.user ? ['root:x:0', `${execFileSync('id', ['-gn', TEST_USER], {encoding: 'utf8'}).trim()}:x:${gid}`, 'nogroup:x:65534'] : ['root:x:0', 'nogroup:x:65534']);
    assert.not.match(passwd, /daemon|sshd|_apt/, 'nothing else of the host\'s');
    tally('escape', 1);
  });

  realTest('should refuse, with 126, a program whose loader and libraries are not in the closure', () => {
    const {programs, loader} = debianPrograms(['ls', 'id']);
    const list = closureFile(tempDir('partial', caller.user ? TEST_USER : undefined), [path.basename(programs)]);
    const result = exec(['--closure-file', list, '--', `${programs}/bin/ls`, '/']);
    assert.is(result.status, 126, result.stderr);
    assert.match(result.stderr, `its interpreter ${loader} is not in the closure`);
    tally('input', 1);
  });

  realTest('should keep --home DIR between runs as the jail\'s $HOME, made 0700 when missing', () => {
    const fixture = buildFixture();
    const dir = path.join(tempDir('home', caller.user ? TEST_USER : undefined), 'kept', 'home');
    const first = exec(['--home', dir, '--', `${fixture.app}/bin/sh`, '-c', 'echo "from the first run" > "$HOME/kept.txt"; echo "$HOME"']);
    assert.is(first.status, 0, first.stderr);
    assert.is(fs.statSync(dir).mode & 0o777, 0o700);
    assert.is(fs.statSync(dir).uid, Number(execFileSync('id', ['-u', caller.user ? TEST_USER : 'root'], {encoding: 'utf8'})));
    const second = exec(['--home', dir, '--', `${fixture.app}/bin/sh`, '-c', 'cat "$HOME/kept.txt"']);
    assert.is(second.status, 0, second.stderr);
    assert.is(second.stdout, 'from the first run\n');
    assert.is(fs.readFileSync(path.join(dir, 'kept.txt'), 'utf8'), 'from the first run\n');
    // Without --home the jail's $HOME is empty again.
    assert.is(exec(['--', `${fixture.app}/bin/sh`, '-c', 'ls -A "$HOME" | wc -l']).stdout.trim(), '0');
    const file = path.join(path.dirname(dir), 'a-file');
    fs.writeFileSync(file, '');
    const refused = exec(['--home', file, '--', `${fixture.app}/bin/sh`, '-c', 'true']);
    assert.is(refused.status, 125);
    assert.match(refused.stderr, /^nix-overlay-jail: --home .*a-file: not a directory\n$/);
  });

  realTest('should give the jail /bin/sh from the closure (and /usr/bin/env only if the closure has one)', () => {
    const fixture = buildFixture();
    // The fixture's app has bin/sh (busybox) and nothing has bin/env.
    const script = 'readlink /bin/sh; /bin/sh -c "echo via /bin/sh"; [ -e /usr/bin/env ] && echo ENV; exit 0';
    const linked = exec(['--', `${fixture.app}/bin/sh`, '-c', script]);
    assert.is(linked.status, 0, linked.stderr);
    assert.is(linked.stdout, `${fixture.app}/bin/sh\nvia /bin/sh\n`);
    const none = exec(['--no-system-links', '--', `${fixture.app}/bin/sh`, '-c', '[ -e /bin/sh ] && echo SH; exit 0']);
    assert.is(none.stdout, '');
    // The Debian programs' closure holds no shell: no /bin/sh, and none is added.
    const {programs, libraries} = debianPrograms(['ls', 'id']);
    const bare = exec(['--', `${programs}/bin/ls`, '-1', '/', '/nix/store']);
    assert.is(bare.status, 0, bare.stderr);
    assert.not.match(bare.stdout, /^bin$/m);
    assert.match(bare.stdout, `${path.basename(libraries)}`);
  });

  real.run();
}

/**
 * Escape attempts from inside the jail, as root and as an ordinary user: each must fail.
 */
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {CLI, run, runAsUser, tempDir, userCommand, userEnv, withOptions, type Run, type RunOptions} from '../helpers/cli.js';
import {missing, TEST_USER, when, withNewBwrap} from '../helpers/env.js';
import {buildFixture, nixEnv} from '../helpers/nix.js';
import {addBusybox, BUSYBOX_ENTRY} from '../helpers/store.js';
import {tally} from '../helpers/tally.js';
import {tiocstiProgram} from '../helpers/tiocsti.js';

const hasCompiler = spawnSync('sh', ['-c', 'command -v cc && command -v script'], {stdio: 'ignore'}).status === 0;

/** With bubblewrap 0.11+ mounting the overlay itself: `--mount-with bwrap`, its build first on PATH. */
const bwrapMounting = (caller: typeof callers[number]): typeof callers[number] => ({
  name: `${caller.name}, with bubblewrap mounting the overlay itself`,
  needs: caller.needs ?? missing('bwrap-0.11'),
  run: (args: readonly string[], options?: RunOptions) => caller.run(withOptions(args, '--mount-with', 'bwrap'), {...options, env: withNewBwrap(options?.env ?? caller.env())}),
  cache: caller.cache,
  command: (args: string[]) => caller.command(withOptions(args, '--mount-with', 'bwrap')),
  env: () => withNewBwrap(caller.env()),
  bwrapMounts: true,
});

const callers = [
  {name: 'root', needs: missing('root', 'nix', 'bwrap'), run, cache: () => tempDir('cache'), command: (args: string[]): [string, string[]] => [process.execPath, [CLI, ...args]], env: nixEnv, bwrapMounts: false},
  {name: 'an ordinary user', needs: missing('test-user', 'nix', 'bwrap'), run: runAsUser, cache: () => tempDir('cache', TEST_USER), command: userCommand, env: userEnv, bwrapMounts: false},
];
callers.push(...callers.map(bwrapMounting));

for (const caller of callers) {
  const escape = suite(`escape attempts as ${caller.name}`);
  const attempt = when(escape, caller.needs);
  let cache = '';
  escape.before(() => {
    if (caller.needs === undefined) cache = caller.cache();
  });
  const jail = (script: string, args: string[] = [], options?: RunOptions): Run =>
    caller.run(['exec', '--cache-dir', cache, '--', path.join(buildFixture().app, 'bin', 'sh'), '-c', script, 'sh', ...args], options);

  attempt('should not reach a non-closure path through .., /proc/self/root, /proc/1/root or a cwd', () => {
    const {app, outsider} = buildFixture();
    const name = path.basename(outsider);
    const probes = [`${app}/../${name}/secret.txt`, `/proc/self/root/nix/store/${name}/secret.txt`, `/proc/1/root/nix/store/${name}/secret.txt`,
      `/proc/self/cwd/../../nix/store/${name}/secret.txt`, `/nix/store/./${name}/secret.txt`, `/nix/store/.links`, '/nix/var/nix/daemon-socket/socket'];
    const script = 'for p; do cat "$p" >/dev/null 2>&1 && echo "READ $p"; ls "$p" >/dev/null 2>&1 && echo "LISTED $p"; done; ' +
      'for d in /proc/*/root /proc/*/cwd; do ls "$d/nix/store" 2>/dev/null; done | sort -u';
    const result = jail(script, probes);
    assert.is(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.not.ok(lines.some(line => line.startsWith('READ') || line.startsWith('LISTED')), result.stdout);
    assert.not.ok(lines.includes(name), 'the outsider is not listed through any /proc/*/root');
    tally('escape', probes.length * 2 + 2);
  });

  attempt('should not reach a store path outside the closure by its full, known name under a whiteout mask with --exec-only', () => {
    // Store hashes of anything from nixpkgs are public: a program may know the exact name.
    // --exec-only stops listing, not reaching; the whiteout is what hides the path.
    const {app, outsider} = buildFixture();
    const script = 'ls /nix/store >/dev/null 2>&1 && echo LISTED; for p; do [ -e "$p" ] && echo "EXISTS $p"; cat "$p/secret.txt" 2>/dev/null && echo "READ $p"; done; [ -e "$0" ] && echo closure-ok';
    const result = caller.run(['exec', '--cache-dir', cache, ...(caller.name === 'root' ? ['--mode', 'whiteout'] : []), '--exec-only', '--',
      path.join(app, 'bin', 'sh'), '-c', script, app, outsider, `/nix/store/${path.basename(outsider)}/`]);
    assert.is(result.status, 0, result.stderr);
    assert.is(result.stdout, 'closure-ok\n', 'the store could not be listed, the closure was there, the outsider was not');
    assert.ok(fs.existsSync(path.join(outsider, 'secret.txt')), 'the outsider is there on the host');
    tally('escape', 3);
  });

  attempt('should not reach a non-closure path through a closure symlink that points at it', () => {
    // Nix would make a symlink's target part of the closure; a store given with --store and
    // a closure file can hold such a symlink, as a hand-made or hostile closure may.
    const dir = tempDir('symlinks');
    fs.chmodSync(dir, 0o755);
    const store = path.join(dir, 'store');
    fs.mkdirSync(store);
    const busybox = addBusybox(store);
    const secret = `${'s'.repeat(32)}-secret`;
    fs.mkdirSync(path.join(store, secret));
    fs.writeFileSync(path.join(store, secret, 'secret.txt'), 'secret\n');
    const links = {absolute: `${'a'.repeat(32)}-absolute`, relative: `${'r'.repeat(32)}-relative`, inner: `${'i'.repeat(32)}-inner`};
    fs.symlinkSync(`/nix/store/${secret}`, path.join(store, links.absolute));
    fs.symlinkSync(`${secret}/secret.txt`, path.join(store, links.relative));
    fs.mkdirSync(path.join(store, links.inner));
    fs.symlinkSync(`../${secret}`, path.join(store, links.inner, 'up'));
    fs.symlinkSync(`/nix/store/${secret}/secret.txt`, path.join(store, links.inner, 'file'));
    const probes = [`/nix/store/${links.absolute}/secret.txt`, `/nix/store/${links.relative}`, `/nix/store/${links.inner}/up/secret.txt`,
      `/nix/store/${links.inner}/file`, `/nix/store/${secret}/secret.txt`];
    const reads = (closure: string[]): string[] => {
      const list = path.join(tempDir('symlink-closure'), 'closure');
      fs.writeFileSync(list, closure.map(name => `/nix/store/${name}\n`).join(''), {mode: 0o644});
      fs.chmodSync(path.dirname(list), 0o755);
      const script = 'b="$1"; shift; for p; do "$b" cat "$p" >/dev/null 2>&1 && echo "$p"; done; echo done';
      const result = caller.run(['exec', '--cache-dir', cache, '--store', store, '--closure-file', list, '--', busybox, 'sh', '-c', script, 'sh', busybox, ...probes]);
      assert.is(result.status, 0, result.stderr);
      return result.stdout.trim().split('\n').filter(line => line !== 'done');
    };
    // With the target in the closure every probe reads it: the probes are right.
    assert.equal(reads([BUSYBOX_ENTRY, secret, ...Object.values(links)]), probes);
    assert.equal(reads([BUSYBOX_ENTRY, ...Object.values(links)]), []);
    tally('escape', probes.length);
  });

  attempt('should refuse writing, creating, renaming, removing and chmod-ing anything under /nix/store', () => {
    const {lib} = buildFixture();
    const before = fs.statSync(lib);
    const script = 'p="$1"; touch /nix/store/new && echo CREATED; mkdir /nix/store/dir && echo MKDIR; echo x > "$p/lib.txt" && echo WROTE; ' +
      'mv "$p" /nix/store/moved && echo RENAMED; rm -rf "$p" && echo REMOVED; chmod 777 "$p" && echo CHMOD; ln -s x /nix/store/link && echo LINKED; echo done';
    const result = jail(script, [lib]);
    assert.is(result.stdout, 'done\n', result.stdout);
    assert.is(fs.readFileSync(path.join(lib, 'lib.txt'), 'utf8'), 'library file\n');
    assert.is(fs.statSync(lib).mode, before.mode);
    tally('escape', 7);
  });

  attempt('should refuse mount, umount, pivot_root, unshare and device mknod from inside', () => {
    const script = 'mount -t tmpfs none /nix/store 2>/dev/null && echo MOUNTED; umount /nix/store 2>/dev/null && echo UNMOUNTED; ' +
      'mkdir -p /tmp/new /tmp/new/old; pivot_root /tmp/new /tmp/new/old 2>/dev/null && echo PIVOTED; ' +
      'unshare -U true 2>/dev/null && echo UNSHARED-USER; unshare -m true 2>/dev/null && echo UNSHARED-MOUNT; ' +
      'mknod /tmp/null c 1 3 2>/dev/null && echo MKNOD; chroot / true 2>/dev/null && echo CHROOT; echo done';
    assert.is(jail(script).stdout, 'done\n');
    tally('escape', 7);
  });

  attempt('should not see or signal host processes', () => {
    const script = 'ls /proc | grep -c "^[0-9]"; kill -0 "$1" 2>/dev/null && echo SIGNALLED; echo done';
    const result = jail(script, [String(process.pid)]);
    const [count, last] = result.stdout.trim().split('\n');
    assert.ok(Number(count) <= 4, `the jail sees ${count} processes`);
    assert.is(last, 'done');
    tally('escape', 2);
  });

  attempt('should show no host path in /proc/self/mountinfo but the store and the mask the README names', () => {
    const result = jail('cat /proc/self/mountinfo');
    assert.is(result.status, 0, result.stderr);
    for (const line of result.stdout.trim().split('\n')) {
      const fields = line.split(' ');
      const superOptions = fields[fields.indexOf('-') + 3] ?? '';
      // The overlay's options name the mask layer and the store (or its parent): documented.
      // bubblewrap mounting the overlay itself names them below its /oldroot (0.11), or by
      // the descriptors it opened them with (0.12 and later), which name no host path.
      const root = caller.bwrapMounts ? '/oldroot' : '';
      for (const hostPath of superOptions.match(/\/[^,:]+/g) ?? []) {
        const bwrapDescriptor = caller.bwrapMounts && /^\/proc\/self\/fd\/\d+$/.test(hostPath);
        assert.ok(bwrapDescriptor || hostPath.startsWith(`${root}${cache}/masks/`) || hostPath === `${root}/nix/store` || hostPath === `${root}/nix`, `${hostPath} in ${line}`);
      }
      // A mount's root inside its filesystem must not name a host directory.
      assert.not.match(fields[3] ?? '', /^\/(tmp|home|root|var|work|etc|usr)\b/, line);
    }
    tally('escape', 1);
  });

  when(escape, caller.needs ?? (hasCompiler ? undefined : 'needs cc and script (util-linux)'))(
    'should not push input into the caller\'s terminal (TIOCSTI)', () => {
      const program = tiocstiProgram();
      const [command, args] = caller.command(['exec', '--cache-dir', cache, '--', program]);
      // script(1) gives the jail a real terminal, as an interactive caller has.
      const quoted = [command, ...args].map(word => `'${word.replace(/'/g, `'\\''`)}'`).join(' ');
      const result = spawnSync('script', ['-qec', quoted, '/dev/null'], {encoding: 'utf8', env: caller.env(), cwd: '/'});
      assert.match(result.stdout, /TIOCSTI Operation not permitted/);
      assert.not.match(result.stdout, /SUCCEEDED/);
      assert.is(result.status, 0, result.stdout);
      tally('escape', 1);
    });

  escape.run();
}

/**
 * `exec` for real: a busybox-based Nix closure jailed by real bubblewrap over a real overlay
 * mount, as root and as an ordinary user who reaches Nix through the daemon.
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {baseNames, CLI, mountTable, run, runAsUser, tempDir, userCommand, userEnv, withOptions, type Run, type RunOptions} from '../helpers/cli.js';
import {missing, NEW_BWRAP_DIR, TEST_USER, when, withNewBwrap} from '../helpers/env.js';
import {buildFixture, nixEnv} from '../helpers/nix.js';
import {addBusybox, BUSYBOX_ENTRY, closureFile, makeStore, settle} from '../helpers/store.js';
import {tally} from '../helpers/tally.js';

interface Caller {
  name: string;
  needs: string | undefined;
  run: (args: readonly string[], options?: RunOptions) => Run;
  spawn: (args: readonly string[]) => ReturnType<typeof spawn>;
  cacheDir: () => string;
  /** bubblewrap 0.11+ mounts the overlay itself (--mount-with bwrap), found first on PATH. */
  bwrapMounts?: boolean;
}


const callers: Caller[] = [
  {
    name: 'root',
    needs: missing('root', 'nix', 'bwrap'),
    run,
    spawn: args => spawn(process.execPath, [CLI, ...args], {stdio: ['ignore', 'pipe', 'pipe'], env: nixEnv()}),
    cacheDir: () => tempDir('cache'),
  },
  {
    name: 'root with a whiteout mask',
    needs: missing('root', 'nix', 'bwrap'),
    run: (args, options) => run(withOptions(args, '--mode', 'whiteout'), options),
    spawn: args => spawn(process.execPath, [CLI, ...withOptions(args, '--mode', 'whiteout')], {stdio: ['ignore', 'pipe', 'pipe'], env: nixEnv()}),
    cacheDir: () => tempDir('cache'),
  },
  {
    name: 'an ordinary user',
    needs: missing('test-user', 'nix', 'bwrap'),
    run: runAsUser,
    spawn: args => {
      const [command, argv] = userCommand(args);
      return spawn(command, argv, {stdio: ['ignore', 'pipe', 'pipe'], env: userEnv(), cwd: '/'});
    },
    cacheDir: () => tempDir('cache', TEST_USER),
  },
  {
    name: 'root, with bubblewrap mounting the overlay itself',
    needs: missing('root', 'nix', 'bwrap-0.11'),
    run: (args, options) => run(withOptions(args, '--mount-with', 'bwrap'), {...options, env: withNewBwrap(options?.env ?? nixEnv())}),
    spawn: args => spawn(process.execPath, [CLI, ...withOptions(args, '--mount-with', 'bwrap')], {stdio: ['ignore', 'pipe', 'pipe'], env: withNewBwrap(nixEnv())}),
    cacheDir: () => tempDir('cache'),
    bwrapMounts: true,
  },
  {
    name: 'an ordinary user, with bubblewrap mounting the overlay itself',
    needs: missing('test-user', 'nix', 'bwrap-0.11'),
    run: (args, options) => runAsUser(withOptions(args, '--mount-with', 'bwrap'), {...options, env: withNewBwrap(options?.env ?? userEnv())}),
    spawn: args => {
      const [command, argv] = userCommand(withOptions(args, '--mount-with', 'bwrap'));
      return spawn(command, argv, {stdio: ['ignore', 'pipe', 'pipe'], env: withNewBwrap(userEnv()), cwd: '/'});
    },
    cacheDir: () => tempDir('cache', TEST_USER),
    bwrapMounts: true,
  },
];

/** A promise that fails after `ms` instead of hanging the suite. */
const within = <T>(ms: number, what: string, promise: Promise<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(value => {
      clearTimeout(timer);
      resolve(value);
    }, reject);
  });

const printArgs = 'for a; do printf "<%s>" "$a"; done';

for (const caller of callers) {
  const jail = suite(`exec as ${caller.name}`);
  const jailTest = when(jail, caller.needs);
  let cache = '';
  const exec = (args: string[], options?: RunOptions): Run => caller.run(['exec', '--cache-dir', cache, ...args], options);
  const sh = (): string => path.join(buildFixture().app, 'bin', 'sh');

  jail.before(() => {
    if (caller.needs === undefined) cache = caller.cacheDir();
  });

  jailTest('should show exactly the closure in /nix/store, dot entries included', () => {
    const result = exec(['--', sh(), '-c', 'ls -a -1 /nix/store']);
    assert.is(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim().split('\n').sort(), ['.', '..', ...baseNames(buildFixture().closure)].sort());
  });

  jailTest('should make .links, the Nix database, the daemon socket and other store paths unreachable', () => {
    const fixture = buildFixture();
    const probes = ['/nix/store/.links', '/nix/var/nix/db/db.sqlite', '/nix/var/nix/daemon-socket/socket', '/nix/var',
      `${fixture.outsider}/secret.txt`, fixture.outsider];
    const script = 'for p; do if [ -e "$p" ] || cat "$p" 2>/dev/null; then echo "REACHED $p"; fi; done; echo done';
    const result = exec(['--', sh(), '-c', script, 'sh', ...probes]);
    assert.is(result.status, 0, result.stderr);
    assert.is(result.stdout, 'done\n');
    assert.ok(fs.existsSync(`${fixture.outsider}/secret.txt`), 'the outsider exists on the host');
    tally('escape', probes.length);
  });

  jailTest('should have exactly one mount at /nix/store and none below it', () => {
    const result = exec(['--', sh(), '-c', 'cat /proc/self/mountinfo']);
    assert.is(result.status, 0, result.stderr);
    const points = result.stdout.trim().split('\n').map(line => line.split(' ')[4]!);
    assert.is(points.filter(point => point === '/nix/store').length, 1);
    assert.is(points.filter(point => point.startsWith('/nix/store/')).length, 0);
    assert.match(result.stdout, / \/nix\/store ro,[^ ]* - overlay /);
  });

  jailTest('should pass the exit status and a signal death through', () => {
    assert.is(exec(['--', sh(), '-c', 'exit 7']).status, 7);
    assert.is(exec(['--', sh(), '-c', 'kill -9 $$']).status, 128 + 9);
    assert.is(exec(['--', sh(), '-c', 'kill -TERM $$']).status, 128 + 15);
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    jailTest(`should deliver ${signal} sent to the tool to the program`, async () => {
      const child = caller.spawn(['exec', '--cache-dir', cache, '--', sh(), '-c',
        `trap "echo got-${signal}; exit 42" ${signal.slice(3)}; echo ready; while :; do sleep 0.05; done`]);
      let stdout = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`program never became ready: ${stdout}`)), 30_000);
        child.stdout!.on('data', chunk => {
          stdout += chunk;
          if (stdout.includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      child.kill(signal);
      const code = await within(30_000, 'the tool to exit', new Promise(resolve => child.on('close', resolve)));
      assert.is(code, 42);
      assert.match(stdout, new RegExp(`got-${signal}`));
    });
  }

  jailTest('should answer 137 and leave nothing behind when bubblewrap itself is SIGKILLed', async () => {
    const marker = `noj-killed-bwrap-${process.pid}-${Date.now()}`;
    const before = mountTable();
    // The marker is the program's $0, in its command line for pgrep to find.
    const child = caller.spawn(['exec', '--cache-dir', cache, '--', sh(), '-c', 'echo ready; while :; do sleep 1; done', marker]);
    const exited = new Promise<number | null>(resolve => child.on('close', resolve));
    await within(30_000, 'the program to start', new Promise<void>(resolve => child.stdout!.on('data', chunk => String(chunk).includes('ready') && resolve())));
    // The tool's only child is the launch command, which by now is bubblewrap's monitor.
    const [bwrap] = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ').map(Number);
    assert.is(fs.readFileSync(`/proc/${bwrap}/comm`, 'utf8').trim(), 'bwrap');
    process.kill(bwrap!, 'SIGKILL');
    assert.is(await within(30_000, 'the tool to exit', exited), 128 + 9);
    await within(10_000, 'the jailed program to be gone', (async () => {
      while (spawnSync('pgrep', ['-f', marker]).status === 0) await new Promise(resolve => setTimeout(resolve, 50));
    })());
    for (const key of fs.readdirSync(path.join(cache, 'masks'))) {
      const jails = path.join(cache, 'masks', key, 'jails');
      assert.equal(fs.existsSync(jails) ? fs.readdirSync(jails) : [], [], 'no registration left');
    }
    assert.is(mountTable(), before);
  });

  jailTest('should pass arguments byte for byte, with no shell in between', () => {
    const args = ['with space', "'single'", '"double"', '$(id -u)', '`id`', 'line1\nline2', '', '*', '--', '\\back'];
    const result = exec(['--', sh(), '-c', printArgs, 'sh', ...args]);
    assert.is(result.status, 0, result.stderr);
    assert.is(result.stdout, args.map(arg => `<${arg}>`).join(''));
  });

  jailTest('should pass standard input and a clean environment through', () => {
    const result = exec(['--setenv', 'GREETING=hi there', '--', sh(), '-c', 'cat; env | sort'], {input: 'from stdin\n'});
    assert.is(result.status, 0, result.stderr);
    const [first, ...env] = result.stdout.trim().split('\n');
    assert.is(first, 'from stdin');
    const names = env.map(line => line.split('=')[0]).filter(name => name !== 'PWD' && name !== 'SHLVL' && name !== 'OLDPWD');
    assert.equal(names.sort(), ['GREETING', 'HOME', 'PATH', 'TERM'].filter(name => name !== 'TERM' || env.some(line => line.startsWith('TERM='))));
    assert.ok(env.includes('GREETING=hi there'));
    assert.ok(env.some(line => line.startsWith(`PATH=${buildFixture().app}/bin`)));
  });

  jailTest('should make listing fail but running work with --exec-only', () => {
    const result = exec(['--exec-only', '--', sh(), '-c', 'ls /nix/store; echo "ls=$?"; cat "$0/ref"', buildFixture().app]);
    assert.is(result.status, 0, result.stderr);
    assert.match(result.stdout, /ls=1/);
    assert.match(result.stdout, new RegExp(path.basename(buildFixture().link)));
    tally('escape', 1);
  });

  jailTest('should change nothing with --dry-run and print one argument per line', () => {
    const fresh = path.join(caller.cacheDir(), 'never-made');
    const result = caller.run(['exec', '--dry-run', '--cache-dir', fresh, '--', sh(), '-c', 'echo $HOME']);
    assert.is(result.status, 0, result.stderr);
    assert.not.ok(fs.existsSync(fresh), 'no cache directory was made');
    const lines = result.stdout.split('\n');
    assert.ok(lines.includes('bwrap'));
    assert.ok(lines.includes('echo $HOME'), 'the argument is printed as it is, not quoted');
    assert.match(result.stderr, caller.name === 'root' ? /mode allowlist, mount root/ : caller.bwrapMounts ? /mode whiteout, mount bwrap/ : /mode whiteout, mount (root|userns)/);
  });

  jailTest('should leave the host mount table and the host store as they were', () => {
    const before = mountTable();
    const store = fs.statSync('/nix/store');
    assert.is(exec(['--', sh(), '-c', 'touch /nix/store/x 2>/dev/null && echo WROTE; true']).stdout, '');
    assert.is(mountTable(), before);
    assert.is(fs.statSync('/nix/store').mtimeMs, store.mtimeMs);
  });

  jailTest('should bind host paths, change directory, keep named variables and share the network only when asked', () => {
    const dir = caller.cacheDir();
    const data = path.join(dir, 'data dir');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'in.txt'), 'host data\n');
    fs.chmodSync(data, 0o777);
    const script = 'cat /data/in.txt; echo out > /rw/out.txt; pwd; echo "$KEPT-$UNKEPT"; ' +
      'if echo x > /data/nope 2>/dev/null; then echo WROTE-RO; fi; cat /proc/net/dev | tail -n +3 | wc -l';
    const result = exec(['--ro-bind', `${data}:/data`, '--bind', `${data}:/rw`, '--chdir', '/data', '--keep-env', 'KEPT', '--', sh(), '-c', script],
      {env: {...(caller.name.includes('user') ? userEnv() : nixEnv()), KEPT: 'kept', UNKEPT: 'dropped'}});
    assert.is(result.status, 0, result.stderr);
    const [content, cwd, vars, interfaces] = result.stdout.trim().split('\n');
    assert.is(content, 'host data');
    assert.is(cwd, '/data');
    assert.is(vars, 'kept-');
    assert.is(interfaces, '1', 'only the loopback interface without --share-net');
    assert.is(fs.readFileSync(path.join(data, 'out.txt'), 'utf8'), 'out\n');
    const shared = exec(['--share-net', '--', sh(), '-c', 'cat /proc/net/dev | tail -n +3 | wc -l']);
    assert.is(shared.stdout.trim(), String(fs.readFileSync('/proc/net/dev', 'utf8').trim().split('\n').length - 2));
  });

  jailTest('should answer 127, 126 and 125 for a missing command, one outside the store, and a missing bwrap', () => {
    const notFound = exec(['--', 'no-such-command-anywhere']);
    assert.is(notFound.status, 127);
    assert.match(notFound.stderr, /no-such-command-anywhere: command not found/);
    const outside = exec(['--', '/bin/ls']);
    assert.is(outside.status, 126);
    assert.match(outside.stderr, /not in the Nix store.*--closure-file, --graph or --also/);
    // (Runs where bubblewrap mounts put their own first on PATH: see the bubblewrap 0.8 test below.)
    if (!caller.bwrapMounts) {
      const noBwrap = exec(['--', sh(), '-c', 'true'], {env: {PATH: '/nonexistent'}});
      assert.is(noBwrap.status, 125);
      assert.match(noBwrap.stderr, /bwrap not found on PATH: install bubblewrap/);
    }
  });

  jail.run();
}

// ---

const faults = suite('exec when the system is missing something');
const faultTest = when(faults, missing('root', 'nix', 'bwrap'));

faultTest('should say the overlay mount failed, and what to check, when mount refuses', () => {
  const dir = tempDir('fake-mount');
  fs.writeFileSync(path.join(dir, 'mount'), '#!/bin/sh\necho "mount: refused by the test" >&2\nexit 32\n', {mode: 0o755});
  const result = run(['exec', '--cache-dir', tempDir('cache'), '--', path.join(buildFixture().app, 'bin', 'sh'), '-c', 'true'],
    {env: {...nixEnv(), PATH: `${dir}:${process.env['PATH']}`}});
  assert.is(result.status, 125);
  assert.match(result.stderr, /mount: refused by the test\nnix-overlay-jail: cannot mount the overlay \(see above\)/);
  tally('fault', 1);
});

when(faults, missing('root', 'nix', 'bwrap-0.11'))(
  'should refuse bubblewrap 0.8, 0.9 and 0.10 for --mount-with bwrap with one line, and doctor should say why', () => {
    for (const version of ['0.8.0', '0.9.0', '0.10.0']) {
      // A bwrap that says it is VERSION and passes everything else to the real, newer one.
      const dir = tempDir(`bwrap-${version}`);
      fs.writeFileSync(path.join(dir, 'bwrap'), `#!/bin/sh\nif [ "$1" = --version ]; then echo "bubblewrap ${version}"; exit 0; fi\nexec '${NEW_BWRAP_DIR}/bwrap' "$@"\n`, {mode: 0o755});
      const env = {...nixEnv(), PATH: `${dir}:${process.env['PATH']}`};
      const result = run(['exec', '--mount-with', 'bwrap', '--cache-dir', tempDir('cache'), '--', path.join(buildFixture().app, 'bin', 'sh'), '-c', 'true'], {env});
      assert.is(result.status, 125, version);
      assert.is(result.stderr, `nix-overlay-jail: bubblewrap ${version} cannot mount overlays itself: that needs bubblewrap 0.11.0 or later\n`);
      const doctor = run(['doctor'], {env});
      assert.match(doctor.stdout, `bwrap version: bubblewrap ${version}: cannot mount overlays itself (0.11.0 and later can)`);
    }
    // The same wrapper saying 0.11.0 is taken.
    const dir = tempDir('bwrap-0.11.0');
    fs.writeFileSync(path.join(dir, 'bwrap'), `#!/bin/sh\nif [ "$1" = --version ]; then echo "bubblewrap 0.11.0"; exit 0; fi\nexec '${NEW_BWRAP_DIR}/bwrap' "$@"\n`, {mode: 0o755});
    const result = run(['exec', '--mount-with', 'bwrap', '--cache-dir', tempDir('cache'), '--', path.join(buildFixture().app, 'bin', 'sh'), '-c', 'exit 3'],
      {env: {...nixEnv(), PATH: `${dir}:${process.env['PATH']}`}});
    assert.is(result.status, 3, result.stderr);
    tally('input', 3);
  });

faultTest('should answer 126, naming what is missing, for a program whose interpreter is not in the jail', () => {
  const fixture = buildFixture();
  const dir = tempDir('partial-closure');
  const cache = tempDir('cache');
  const exec = (closure: string[], program: string[]): Run =>
    run(['exec', '--cache-dir', cache, '--closure-file', closureFile(dir, closure.map(entry => path.basename(entry))), '--', ...program]);
  // app/bin/show is a script for busybox; app/bin/sh is a symlink to busybox.
  const script = exec([fixture.app], [`${fixture.app}/bin/show`, 'x']);
  assert.is(script.status, 126);
  assert.is(script.stderr, `nix-overlay-jail: ${fixture.app}/bin/show cannot run in the jail: its interpreter ${fixture.busybox}/bin/busybox is not in the closure (add it with --also)\n`);
  const link = exec([fixture.app], [`${fixture.app}/bin/sh`, '-c', 'exit 3']);
  assert.is(link.status, 126);
  assert.match(link.stderr, `leads to ${fixture.busybox}, which is not in the closure`);
  // With the interpreter there, it runs (the program's own entry always joins the closure).
  assert.is(exec([fixture.app, fixture.busybox], [`${fixture.app}/bin/sh`, '-c', 'exit 3']).status, 3);
  assert.is(exec([fixture.busybox], [`${fixture.app}/bin/sh`, '-c', 'exit 3']).status, 3);
  // A store script for a host interpreter that nothing binds into the jail.
  const tree = path.join(tempDir('host-script'), 'noj-host-script');
  fs.mkdirSync(path.join(tree, 'bin'), {recursive: true});
  fs.writeFileSync(path.join(tree, 'bin', 'tool'), '#!/bin/sh\necho from the host shell\n', {mode: 0o755});
  const hostScript = execFileSync('nix-store', ['--add', tree], {encoding: 'utf8', env: nixEnv()}).trim();
  const host = run(['exec', '--cache-dir', cache, '--', `${hostScript}/bin/tool`]);
  assert.is(host.status, 126);
  assert.match(host.stderr, 'its interpreter /bin/sh is outside /nix/store and not bound in');
  // With --bwrap-arg the check cannot see every path, so the exec really fails inside: still
  // 126 (bubblewrap reports no exit status of a program it could not start), not the 1 it
  // exits with.
  const failed = run(['exec', '--cache-dir', cache, '--bwrap-arg=--setenv', '--bwrap-arg=X', '--bwrap-arg=1', '--', `${hostScript}/bin/tool`]);
  assert.is(failed.status, 126, failed.stderr);
  assert.match(failed.stderr, /bwrap: execvp .*\n.*nix-overlay-jail: .*tool could not be started in the jail \(see bubblewrap's message above\)\n$/);
  // A program's own exit 1 stays 1.
  assert.is(run(['exec', '--cache-dir', cache, '--', `${fixture.app}/bin/sh`, '-c', 'exit 1']).status, 1);
  tally('input', 4);
});

faultTest('should add --also paths with their own closures, in closure, build, verify, exec and mount', () => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  // link -> lib -> data: --also link must bring lib and data along.
  const expected = baseNames([...new Set([fixture.busybox, ...fixture.closure.filter(entry => entry !== fixture.app)])]);
  assert.ok(expected.length === 4, expected.join(' '));
  const closure = run(['closure', '--also', fixture.link, fixture.busybox]);
  assert.is(closure.status, 0, closure.stderr);
  assert.equal(baseNames(closure.stdout.trim().split('\n')), expected);
  for (const mode of ['whiteout', 'allowlist']) {
    const built = run(['build', '--json', '--mode', mode, '--cache-dir', cache, '--also', fixture.link, fixture.busybox]);
    assert.is(built.status, 0, built.stderr);
    assert.is(JSON.parse(built.stdout).closureSize, expected.length, mode);
    const verified = run(['verify', '--json', '--mode', mode, '--cache-dir', cache, '--also', fixture.link, fixture.busybox]);
    assert.is(verified.status, 0, verified.stdout);
    assert.is(JSON.parse(verified.stdout).closureSize, expected.length, mode);
    const jailed = run(['exec', '--mode', mode, '--cache-dir', cache, '--also', fixture.link, '--', `${fixture.busybox}/bin/busybox`, 'ls', '/nix/store']);
    assert.is(jailed.status, 0, jailed.stderr);
    assert.equal(jailed.stdout.trim().split('\n').sort(), expected, mode);
    const target = tempDir('also-target');
    const mounted = run(['mount', '--mode', mode, '--cache-dir', cache, '--also', fixture.link, target, fixture.busybox]);
    assert.is(mounted.status, 0, mounted.stderr);
    try {
      assert.equal(fs.readdirSync(target).sort(), expected, mode);
    } finally {
      assert.is(run(['mount', '--umount', target]).status, 0);
    }
  }
});

faults.run();

// ---

const choice = suite('exec\'s choice of mounting for an ordinary user');
const choiceTest = when(choice, missing('test-user', 'nix', 'bwrap-0.11'));

/** The way exec --dry-run says it mounts; the jail must then run, showing the closure alone. */
const mountedBy = (cache: string, env: NodeJS.ProcessEnv, extra: string[] = []): string => {
  const fixture = buildFixture();
  const args = ['exec', '--cache-dir', cache, ...extra, '--', path.join(fixture.app, 'bin', 'sh'), '-c', 'ls -a -1 /nix/store; exit 7'];
  const plan = runAsUser(withOptions(args, '--dry-run'), {env});
  assert.is(plan.status, 0, plan.stderr);
  const way = /, mount (\w+),/.exec(plan.stderr)?.[1] ?? `none in: ${plan.stderr}`;
  const result = runAsUser(args, {env});
  assert.is(result.status, 7, result.stderr);
  assert.equal(result.stdout.trim().split('\n').sort(), ['.', '..', ...baseNames(fixture.closure)].sort());
  return way;
};

choiceTest('should let bubblewrap 0.11+ mount the overlay when it is on PATH, and the user namespace otherwise', () => {
  const cache = tempDir('cache', TEST_USER);
  assert.is(mountedBy(cache, withNewBwrap(userEnv())), 'bwrap');
  // Debian 12's 0.8 cannot.
  assert.is(mountedBy(cache, userEnv()), 'userns');
  // Forced, a way is kept.
  assert.is(mountedBy(cache, withNewBwrap(userEnv()), ['--mount-with', 'userns']), 'userns');
});

choiceTest('should keep the user namespace for a bubblewrap it cannot vouch for, or layers bubblewrap cannot be given', () => {
  // A wrapper script says 0.11 but is no bubblewrap binary: not read as one.
  const dir = tempDir('bwrap-wrapper');
  fs.writeFileSync(path.join(dir, 'bwrap'), `#!/bin/sh\nif [ "$1" = --version ]; then echo "bubblewrap 0.11.0"; exit 0; fi\nexec '${NEW_BWRAP_DIR}/bwrap' "$@"\n`, {mode: 0o755});
  assert.is(mountedBy(tempDir('cache', TEST_USER), {...userEnv(), PATH: `${dir}:${userEnv()['PATH'] ?? ''}`}), 'userns');
  // A cache whose path holds a comma: bubblewrap would have to be given it in --overlay-src.
  const comma = path.join(tempDir('cache', TEST_USER), 'a,b');
  fs.mkdirSync(comma);
  execFileSync('chown', [TEST_USER, comma]);
  assert.is(mountedBy(comma, withNewBwrap(userEnv())), 'userns');
  tally('input', 2);
});

when(choice, missing('root', 'nix', 'bwrap-0.11'))('should keep root\'s own mount for root, with bubblewrap 0.11+ on PATH', () => {
  const args = ['exec', '--dry-run', '--cache-dir', tempDir('cache'), '--', path.join(buildFixture().app, 'bin', 'sh'), '-c', 'true'];
  const result = run(args, {env: withNewBwrap(nixEnv())});
  assert.is(result.status, 0, result.stderr);
  assert.match(result.stderr, /, mount root,/);
});

choice.run();

// ---

const elsewhere = suite('exec with a store kept elsewhere (--store)');
const elsewhereTest = when(elsewhere, missing('root', 'nix', 'bwrap'));

elsewhereTest('should run /nix/store/NAME/... from DIR/NAME/... and show DIR minus the rest', () => {
  const fixture = buildFixture();
  const dir = tempDir('store elsewhere, odd: name');
  const store = path.join(dir, 'store');
  fs.mkdirSync(store);
  for (const entry of fixture.closure) fs.cpSync(entry, path.join(store, path.basename(entry)), {recursive: true, verbatimSymlinks: true});
  fs.mkdirSync(path.join(store, `${'9'.repeat(32)}-not-in-closure`));
  fs.mkdirSync(path.join(store, '.links'));
  fs.writeFileSync(path.join(dir, 'closure'), fixture.closure.join('\n'));
  const result = run(['exec', '--cache-dir', path.join(dir, 'cache, with: odd chars'), '--store', store, '--closure-file', path.join(dir, 'closure'),
    '--', `${fixture.app}/bin/sh`, '-c', 'ls -a -1 /nix/store']);
  assert.is(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim().split('\n').sort(), ['.', '..', ...baseNames(fixture.closure)].sort());
});

elsewhere.run();

// ---

const warm = suite('a warm exec (same command, store unchanged)');

when(warm, missing('root', 'nix', 'bwrap'))('should call nix-store only while the closure is not cached', () => {
  const program = [path.join(buildFixture().app, 'bin', 'sh'), '-c', 'exit 4'];
  const cache = tempDir('warm-cache');
  const cold = run(['exec', '--cache-dir', cache, '--', ...program]);
  assert.is(cold.status, 4, cold.stderr);
  // From now on nix-store fails loudly and leaves a trace.
  const shim = tempDir('failing-nix-store');
  const log = path.join(shim, 'calls');
  fs.writeFileSync(path.join(shim, 'nix-store'), `#!/bin/sh\necho "$@" >> '${log}'\necho 'nix-store: disabled by the test' >&2\nexit 1\n`, {mode: 0o755});
  const env = {...nixEnv(), PATH: `${shim}:${process.env['PATH']}`};
  const again = run(['exec', '--cache-dir', cache, '--', ...program], {env});
  assert.is(again.status, 4, again.stderr);
  assert.not.ok(fs.existsSync(log), 'a warm exec called nix-store');
  // The shim is on the path that counts: a cold cache does call it, and fails.
  const elsewhere = run(['exec', '--cache-dir', tempDir('cold-cache'), '--', ...program], {env});
  assert.is(elsewhere.status, 125, elsewhere.stderr);
  assert.ok(fs.existsSync(log), 'a cold exec calls nix-store');
});

when(warm, missing('test-user', 'bwrap'))('should not list the store directory', () => {
  const dir = tempDir('warm-store');
  fs.chmodSync(dir, 0o755);
  const store = makeStore(path.join(dir, 'store'), 2000);
  const program = addBusybox(store.dir);
  settle(store.dir);
  const list = closureFile(dir, [BUSYBOX_ENTRY, ...store.names.slice(0, 3)]);
  const args = (cache: string): string[] => ['exec', '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', list, '--', program, 'true'];
  const cache = tempDir('warm-user-cache', TEST_USER);
  assert.is(runAsUser(args(cache)).status, 0);
  // An execute-only store directory: the ordinary user can reach entries by name, not list them.
  fs.chmodSync(store.dir, 0o711);
  try {
    const again = runAsUser(args(cache));
    assert.is(again.status, 0, again.stderr);
    // Listing really is refused: a cold cache, which must list the store, fails.
    const cold = runAsUser(args(tempDir('cold-user-cache', TEST_USER)));
    assert.is(cold.status, 125);
    assert.match(cold.stderr, /permission denied/i);
  } finally {
    fs.chmodSync(store.dir, 0o755);
  }
});

warm.run();

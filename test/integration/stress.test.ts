/**
 * Faults, concurrency and soak, as root and as an ordinary user: builds killed at random
 * points, fifty jails started at once, different closures at once, gc running beside jails,
 * and a thousand jails in a row leaving nothing behind; and odd input with a changing store.
 */
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {baseNames, CLI, mergedListing, mountTable, run, runAsync, startCollecting, tempDir, userCommand, userEnv, type Exit} from '../helpers/cli.js';
import {missing, TEST_USER, when} from '../helpers/env.js';
import {buildFixture, nixEnv} from '../helpers/nix.js';
import {addBusybox, BUSYBOX_ENTRY, closureFile, makeStore} from '../helpers/store.js';
import {tally} from '../helpers/tally.js';

const stress = suite('faults, concurrency and soak');
const rootTest = when(stress, missing('root', 'nix', 'bwrap'));

/** Who runs the binary: root, or the ordinary test user (through setpriv, which execs it). */
interface Identity {
  command: (args: readonly string[]) => [string, string[]];
  env: () => NodeJS.ProcessEnv;
  /** Owner of the directories the tool writes to (undefined: root). */
  owner?: string;
}
const ROOT_USER: Identity = {command: args => [process.execPath, [CLI, ...args]], env: nixEnv};
const ORDINARY_USER: Identity = {command: userCommand, env: userEnv, owner: TEST_USER};

/** Start the binary as `who` without waiting. */
const startAs = (who: Identity, args: readonly string[], env: NodeJS.ProcessEnv = who.env()): Promise<Exit> =>
  startCollecting(...who.command(args), env, '/');

/** Cold builds SIGKILLed at random points, twenty times: what was published is whole, and the next build is right. */
const killedBuilds = (who: Identity) => async () => {
  const dir = tempDir('kill');
  fs.chmodSync(dir, 0o755);
  const store = makeStore(path.join(dir, 'store'), 30_000);
  const closure = store.names.slice(0, 3);
  const cache = path.join(tempDir('kill-cache', who.owner), 'cache');
  const args = ['build', '--json', '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', closureFile(dir, closure)];
  const expected = 30_000 - closure.length + 2;
  const [command, argv] = who.command(args);
  for (let round = 0; round < 20; round++) {
    const child = spawn(command, argv, {stdio: 'ignore', env: who.env(), cwd: '/'});
    const closed = new Promise(resolve => child.on('close', resolve));
    await new Promise(resolve => setTimeout(resolve, Math.floor(Math.random() * 400)));
    child.kill('SIGKILL');
    await closed;
    for (const key of fs.existsSync(path.join(cache, 'masks')) ? fs.readdirSync(path.join(cache, 'masks')) : []) {
      // Whatever was published is whole.
      assert.is(fs.readdirSync(path.join(cache, 'masks', key, 'layer')).length, expected, `round ${round}`);
    }
  }
  const final = spawnSync(command, argv, {encoding: 'utf8', env: who.env(), cwd: '/'});
  assert.is(final.status, 0, final.stderr);
  const report = JSON.parse(final.stdout) as {mask: string};
  assert.equal(mergedListing(report.mask, store.dir), ['.', '..', ...closure].sort());
  assert.equal(fs.readdirSync(path.join(cache, 'tmp')), [], 'abandoned staging directories are cleaned up');
  tally('fault', 20);
};

/** 1,000 jails in a row (NOJ_SOAK_RUNS): no mount, temporary file, descriptor or process left, one mask. */
const soak = (who: Identity) => () => {
  const fixture = buildFixture();
  const cache = tempDir('soak', who.owner);
  const before = {
    mounts: mountTable(),
    tmp: fs.readdirSync('/tmp').filter(name => !name.startsWith('noj-')).sort(),
    fds: fs.readdirSync('/proc/self/fd').length,
  };
  const count = Number(process.env['NOJ_SOAK_RUNS'] ?? 1000);
  const [command, argv] = who.command(['exec', '--mode', 'whiteout', '--cache-dir', cache, '--', `${fixture.app}/bin/sh`, '-c', 'exit 3']);
  for (let index = 0; index < count; index++) {
    const result = spawnSync(command, argv, {stdio: 'ignore', env: who.env(), cwd: '/'});
    assert.is(result.status, 3, `run ${index}`);
  }
  assert.is(mountTable(), before.mounts);
  assert.equal(fs.readdirSync('/tmp').filter(name => !name.startsWith('noj-')).sort(), before.tmp);
  assert.is(fs.readdirSync('/proc/self/fd').length, before.fds);
  // bubblewrap's outer process exits once it has the program's status; its sandbox init may
  // still be exiting then and is reaped by the system's init, so zombies do not count.
  const running = spawnSync('ps', ['-C', 'bwrap,unshare', '-o', 'stat=,pid=,args='], {encoding: 'utf8'}).stdout
    .split('\n').filter(line => line.trim() !== '' && !line.trim().startsWith('Z'));
  assert.equal(running, [], 'no bubblewrap or unshare left running');
  const [key, ...others] = fs.readdirSync(path.join(cache, 'masks'));
  assert.equal(others, [], 'one mask');
  assert.equal(fs.readdirSync(path.join(cache, 'tmp')), []);
  assert.equal(fs.readdirSync(path.join(cache, 'locks')), []);
  assert.equal(fs.readdirSync(path.join(cache, 'masks', key!, 'jails')), [], 'every jail deregistered');
  tally('soak', count);
};

rootTest('should never publish or use a partial mask when builds are killed at random points (20 times)', killedBuilds(ROOT_USER));

/** Fifty jails at once on a cold cache: one build (counted through a logging mknod), each sees exactly the closure. */
const fiftyAtOnce = (who: Identity) => async () => {
  const fixture = buildFixture();
  const cache = tempDir('fifty', who.owner);
  // Count builds: each cold whiteout build calls mknod once for its first template.
  const bin = tempDir('mknod-log', who.owner);
  const log = path.join(bin, 'calls');
  const realMknod = spawnSync('sh', ['-c', 'command -v mknod'], {encoding: 'utf8'}).stdout.trim();
  fs.writeFileSync(path.join(bin, 'mknod'), `#!/bin/sh\necho "$$" >> '${log}'\nexec '${realMknod}' "$@"\n`, {mode: 0o755});
  const env = {...who.env(), PATH: `${bin}:${process.env['PATH']}`};
  const exits = await Promise.all(Array.from({length: 50}, () =>
    startAs(who, ['exec', '--mode', 'whiteout', '--cache-dir', cache, '--', `${fixture.app}/bin/sh`, '-c', 'ls -a -1 /nix/store'], env)));
  const expected = ['.', '..', ...baseNames(fixture.closure)].sort();
  for (const exit of exits) {
    assert.is(exit.code, 0, exit.stderr);
    assert.equal(exit.stdout.trim().split('\n').sort(), expected);
  }
  assert.is(fs.readFileSync(log, 'utf8').trim().split('\n').length, 1, 'one build');
  assert.is(fs.readdirSync(path.join(cache, 'masks')).length, 1);
  tally('concurrent', exits.length);
};

/** Ten jails with ten different closures at once, each seeing its own. */
const differentClosures = (who: Identity) => async () => {
  const dir = tempDir('different');
  fs.chmodSync(dir, 0o755);
  const store = makeStore(path.join(dir, 'store'), 200);
  const program = addBusybox(store.dir);
  const cache = path.join(tempDir('different-cache', who.owner), 'cache');
  const closures = Array.from({length: 10}, (_, index) => [BUSYBOX_ENTRY, ...store.names.slice(index * 5, index * 5 + 3 + index)]);
  const exits = await Promise.all(closures.map((names, index) => {
    const list = path.join(dir, `closure-${index}`);
    fs.mkdirSync(list);
    return startAs(who, ['exec', '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', closureFile(list, names),
      '--', program, 'ls', '-a', '-1', '/nix/store']);
  }));
  exits.forEach((exit, index) => {
    assert.is(exit.code, 0, exit.stderr);
    assert.equal(exit.stdout.trim().split('\n').sort(), ['.', '..', ...closures[index]!].sort());
  });
  tally('concurrent', exits.length);
};

/** gc in a loop beside ten running jails never removes their mask. */
const gcBesideJails = (who: Identity) => async () => {
  const fixture = buildFixture();
  const cache = tempDir('gc-beside', who.owner);
  const jails = Array.from({length: 10}, () =>
    startAs(who, ['exec', '--mode', 'whiteout', '--cache-dir', cache, '--', `${fixture.app}/bin/sh`, '-c', 'sleep 2; ls -a -1 /nix/store']));
  let gcRuns = 0;
  let settled = false;
  const all = Promise.all(jails).finally(() => {
    settled = true;
  });
  while (!settled) {
    if (fs.existsSync(path.join(cache, 'CACHEDIR.TAG'))) {
      const gc = await startAs(who, ['gc', '--max-age', '0', '--cache-dir', cache]);
      assert.is(gc.code, 0, gc.stderr);
      gcRuns++;
    }
    await new Promise(resolve => setTimeout(resolve, 20));
  }
  const expected = ['.', '..', ...baseNames(fixture.closure)].sort();
  for (const exit of await all) {
    assert.is(exit.code, 0, exit.stderr);
    assert.equal(exit.stdout.trim().split('\n').sort(), expected);
  }
  assert.ok(gcRuns > 3, `gc ran ${gcRuns} times`);
  tally('concurrent', jails.length + gcRuns);
};

rootTest('should build once when fifty jails start at once on a cold cache, and show each exactly the closure', fiftyAtOnce(ROOT_USER));

rootTest('should run jails with different closures at once, each seeing its own', differentClosures(ROOT_USER));

rootTest('should never let gc remove a mask under a running jail', gcBesideJails(ROOT_USER));

rootTest('should leave no mount, temporary directory, file descriptor or process behind after 1,000 jails in a row', soak(ROOT_USER));

stress.run();

// ---

const odd = suite('odd input and a changing store');
const oddTest = when(odd, missing('root', 'nix', 'bwrap'));

oddTest('should jail exactly a closure whose names hold + = ? . _ - , : and spaces, with a store and cache path that do too', () => {
  const dir = tempDir('odd, dir: with spaces');
  const store = path.join(dir, 'store, odd: path');
  fs.mkdirSync(store);
  const program = addBusybox(store);
  const names = ['0aaa-a+b=c?d.e_f-g', '1bbb-with, comma', '2ccc-with: colon', '3ddd-with space', '4eee-.dotted', '.hidden'];
  for (const name of names) fs.mkdirSync(path.join(store, name));
  const inside = [BUSYBOX_ENTRY, names[0]!, names[1]!, names[2]!];
  const list = path.join(dir, 'closure');
  fs.writeFileSync(list, inside.map(name => `/nix/store/${name}\n`).join(''));
  // An allowlist layer stacks over the store's parent, so its cache must be elsewhere.
  const caches = {whiteout: path.join(dir, 'cache, whiteout: x'), allowlist: path.join(tempDir('odd cache, allowlist: x'), 'cache, y: z')};
  for (const mode of ['whiteout', 'allowlist'] as const) {
    const result = run(['exec', '--mode', mode, '--cache-dir', caches[mode], '--store', store, '--closure-file', list,
      '--', program, 'ls', '-a', '-1', '/nix/store']);
    assert.is(result.status, 0, `${mode}: ${result.stderr}`);
    assert.equal(result.stdout.split('\n').filter(Boolean).sort(), ['.', '..', ...inside].sort(), mode);
  }
  tally('input', 2 * names.length);
});

oddTest('should refuse a cache on a full filesystem with one line, leaving nothing half-written', () => {
  const dir = tempDir('full');
  const store = makeStore(path.join(dir, 'store'), 20_000);
  const list = closureFile(dir, store.names.slice(0, 2));
  const mount = path.join(dir, 'small');
  fs.mkdirSync(mount);
  // A 200 KiB tmpfs in a private mount namespace: too small for the journal of 20,000 names.
  const output = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c',
    'exec 2>&1; mount -t tmpfs -o size=200k tmpfs "$1" && shift && "$@"; echo "status=$?"; echo "left=$(find "$0/cache/masks" "$0/cache/tmp" -mindepth 1 | wc -l)"',
    mount, mount, process.execPath, CLI, 'build', '--mode', 'whiteout', '--cache-dir', path.join(mount, 'cache'), '--store', store.dir, '--closure-file', list],
  {encoding: 'utf8'}).stdout;
  assert.match(output, /status=125/);
  assert.match(output, /nix-overlay-jail: cannot (link a whiteout|build mask|create)[^\n]*no space left on device/i);
  assert.match(output, /left=0/);
  assert.is(output.split('\n').filter(line => line.startsWith('nix-overlay-jail:')).length, 1);
  tally('fault', 1);
});

oddTest('should hide store paths added during a cold build, and survive paths removed after it', async () => {
  const dir = tempDir('changing');
  const store = makeStore(path.join(dir, 'store'), 40_000);
  const closure = store.names.slice(0, 3);
  const args = ['build', '--json', '--mode', 'whiteout', '--cache-dir', path.join(dir, 'cache'), '--store', store.dir, '--closure-file', closureFile(dir, closure)];
  const building = runAsync(args);
  // Add entries while the build scans the store.
  const added: string[] = [];
  for (let index = 0; index < 50; index++) {
    const name = `${'9'.repeat(32)}-during-${index}`;
    fs.writeFileSync(path.join(store.dir, name), '');
    added.push(name);
    await new Promise(resolve => setTimeout(resolve, 5));
  }
  const built = await building;
  assert.is(built.code, 0, built.stderr);
  const mask = (JSON.parse(built.stdout) as {mask: string}).mask;
  // The next use refreshes if the scan missed any: nothing added may show.
  const next = run(args);
  assert.is(next.status, 0, next.stderr);
  assert.equal(mergedListing(mask, store.dir), ['.', '..', ...closure].sort());

  // Garbage collection removes paths outside the closure: their whiteouts stay, harmlessly.
  for (const name of [...added.slice(0, 10), ...store.names.slice(100, 200)]) fs.rmSync(path.join(store.dir, name), {force: true});
  const after = run(args);
  assert.is(after.status, 0, after.stderr);
  assert.equal(mergedListing(mask, store.dir), ['.', '..', ...closure].sort());

  // A closure path that was collected is an error, not a silently smaller jail.
  fs.rmSync(path.join(store.dir, closure[1]!), {recursive: true, force: true});
  const gone = run(args);
  assert.is(gone.status, 125);
  assert.match(gone.stderr, new RegExp(`store entry does not exist: .*${closure[1]}`));
  tally('fault', 3);
});

odd.run();

// ---

const asUser = suite('faults, concurrency and soak as an ordinary user');
const userTest = when(asUser, missing('test-user', 'nix', 'bwrap'));

userTest('should build once when fifty jails of an ordinary user start at once, each seeing exactly the closure', fiftyAtOnce(ORDINARY_USER));

userTest('should run jails of an ordinary user with different closures at once, each seeing its own', differentClosures(ORDINARY_USER));

userTest('should never let gc of an ordinary user remove a mask under a running jail', gcBesideJails(ORDINARY_USER));

userTest('should never publish or use a partial mask when builds of an ordinary user are killed at random points (20 times)', killedBuilds(ORDINARY_USER));

userTest('should leave nothing behind after 1,000 jails of an ordinary user in a row', soak(ORDINARY_USER));

asUser.run();

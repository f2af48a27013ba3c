/**
 * The mask builder on real stores: a real Nix closure (directories, a plain-file store path and
 * a symlink store path) and synthetic stores for sizes, concurrency and crashes. Every check
 * mounts the mask for real (`lowerdir=MASK:STORE`) and compares the merged listing.
 */
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {baseNames, CLI, mergedListing, run, runAsUser, runAsync, tempDir} from '../helpers/cli.js';
import {missing, TEST_USER, when} from '../helpers/env.js';
import {addStorePath, buildFixture, nixEnv} from '../helpers/nix.js';
import {addEntries, closureFile, makeStore} from '../helpers/store.js';
import {tally} from '../helpers/tally.js';

interface BuildReport {
  mask: string;
  status: string;
  whiteouts: number;
  added: number;
  execOnly: boolean;
}

/** These tests are about whiteout masks; allowlist masks have tests of their own. */
const buildJson = (args: string[]): BuildReport => {
  const result = run(['build', '--json', '--mode', 'whiteout', ...args]);
  assert.is(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as BuildReport;
};

// ---

const real = suite('build on a real Nix store');
const realTest = when(real, missing('root', 'nix'));

realTest('should make the merged store show exactly the closure, dot entries included', () => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  const report = buildJson(['--cache-dir', cache, fixture.app]);
  assert.is(report.status, 'built');
  assert.equal(mergedListing(report.mask, '/nix/store'), ['.', '..', ...baseNames(fixture.closure)].sort());
  const kinds = fixture.closure.map(entry => fs.lstatSync(entry));
  assert.ok(kinds.some(stats => stats.isFile()), 'the closure holds a plain-file store path');
  assert.ok(kinds.some(stats => stats.isSymbolicLink()), 'the closure holds a symlink store path');
});

realTest('should print the same closure as nix-store -qR, from Nix, a closure file and a graph', () => {
  const fixture = buildFixture();
  const fromNix = run(['closure', fixture.app]);
  assert.is(fromNix.status, 0, fromNix.stderr);
  assert.equal(fromNix.stdout.trim().split('\n'), fixture.closure);

  const dir = tempDir('closure');
  fs.writeFileSync(path.join(dir, 'store-paths'), `${fixture.closure.join('\n')}\n`);
  assert.equal(run(['closure', '--closure-file', path.join(dir, 'store-paths')]).stdout.trim().split('\n'), fixture.closure);
  assert.equal(run(['closure', '--closure-file', '-'], {input: fixture.closure.join('\n')}).stdout.trim().split('\n'), fixture.closure);

  // The real output of `nix path-info --json --recursive` (the array form of Nix 2.8).
  const graphJson = execFileSync('nix', ['--extra-experimental-features', 'nix-command', 'path-info', '--json', '--recursive', fixture.app], {encoding: 'utf8', env: nixEnv()});
  const graph = run(['closure', '--graph', '-', fixture.app], {input: graphJson});
  assert.is(graph.status, 0, graph.stderr);
  assert.equal(graph.stdout.trim().split('\n'), fixture.closure);
  const whole = run(['closure', '--graph', '-'], {input: graphJson});
  assert.equal(whole.stdout.trim().split('\n'), fixture.closure);
});

realTest('should resolve a symlink into the store and a file inside a store path to the entry', () => {
  const fixture = buildFixture();
  const dir = tempDir('resolve');
  fs.symlinkSync(path.join(fixture.app, 'bin', 'sh'), path.join(dir, 'my-sh'));
  assert.equal(run(['closure', path.join(dir, 'my-sh')]).stdout.trim().split('\n'), fixture.closure);
  assert.equal(run(['closure', path.join(fixture.app, 'ref')]).stdout.trim().split('\n'), fixture.closure);
});

realTest('should hide a store path added after the mask was made once the mask is refreshed', () => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  const first = buildJson(['--cache-dir', cache, fixture.app]);
  const added = addStorePath(`noj-late-${process.pid}-${Date.now()}`);
  assert.ok(mergedListing(first.mask, '/nix/store').includes(path.basename(added)), 'a whiteout mask shows later paths until refreshed');
  const second = buildJson(['--cache-dir', cache, fixture.app]);
  assert.is(second.mask, first.mask);
  assert.is(second.status, 'refreshed');
  assert.ok(second.added >= 1);
  assert.equal(mergedListing(second.mask, '/nix/store'), ['.', '..', ...baseNames(fixture.closure)].sort());
});

real.run();


// ---

const synthetic = suite('build on synthetic stores');
const rootTest = when(synthetic, missing('root'));

rootTest('should white out every entry outside the closure on a store given with --store', () => {
  const dir = tempDir('store');
  const store = makeStore(path.join(dir, 'store'), 200);
  const closure = store.names.slice(0, 5);
  const report = buildJson(['--cache-dir', path.join(dir, 'cache'), '--store', store.dir, '--closure-file', closureFile(dir, closure)]);
  assert.is(report.whiteouts, 200 - 5 + 2, 'every other entry, .links and the lock file');
  assert.equal(mergedListing(report.mask, store.dir), ['.', '..', ...closure].sort());
});

rootTest('should start a new whiteout template when link() says EMLINK (ext4: 65,000 links)', () => {
  // The cache on an ext4 of its own (a loop-mounted image, in a private mount namespace), so
  // the link limit is ext4's wherever the tests run.
  const dir = tempDir('emlink');
  const store = makeStore(path.join(dir, 'store'), 66_500);
  const closure = store.names.slice(0, 3);
  const list = closureFile(dir, closure);
  const image = path.join(dir, 'ext4.img');
  execFileSync('truncate', ['-s', '256M', image]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-N', '4096', image]);
  const ext4 = path.join(dir, 'ext4');
  fs.mkdirSync(ext4);
  const output = execFileSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', `
    set -e
    mount -o loop "$1" "$2"
    [ "$(stat -f -c %T "$2")" = ext2/ext3 ] || { echo "not ext4: $(stat -f -c %T "$2")"; exit 1; }
    "$3" "$4" build --json --mode whiteout --cache-dir "$2/cache" --store "$5" --closure-file "$6" > "$2/report.json"
    mask=$(sed -n 's/^  "mask": "\\(.*\\)",$/\\1/p' "$2/report.json")
    echo "templates=$(ls "$(dirname "$mask")/templates" | wc -l)"
    sed -n 's/^  "whiteouts": \\([0-9]*\\),$/whiteouts=\\1/p' "$2/report.json"
    mkdir "$2/merged"
    mount -t overlay overlay -o "ro,lowerdir=$mask:$5" "$2/merged"
    echo "listing=$(ls -A "$2/merged" | sort | tr '\\n' ' ')"`,
  'sh', image, ext4, process.execPath, CLI, store.dir, list], {encoding: 'utf8', env: nixEnv()});
  assert.match(output, `whiteouts=${66_500 - 3 + 2}\n`);
  const templates = Number(/templates=(\d+)/.exec(output)?.[1]);
  assert.ok(templates >= 2, output);
  assert.match(output, `listing=${[...closure].sort().join(' ')} \n`);
  fs.rmSync(dir, {recursive: true, force: true});
});

rootTest('should make an execute-only root: closure paths resolve, listing fails', () => {
  const dir = tempDir('execonly');
  fs.chmodSync(dir, 0o755);
  const store = makeStore(path.join(dir, 'store'), 50);
  fs.chmodSync(store.dir, 0o755);
  const closure = store.names.slice(0, 2);
  const report = buildJson(['--cache-dir', path.join(dir, 'cache'), '--exec-only', '--store', store.dir, '--closure-file', closureFile(dir, closure)]);
  assert.is(report.execOnly, true);
  assert.is(fs.statSync(report.mask).mode & 0o777, 0o111);
  const target = path.join(dir, 'merged');
  fs.mkdirSync(target, {mode: 0o755});
  // Mount as root, look as nobody: root itself may read any directory.
  const script = 'mount -t overlay -o "$1" overlay "$2" && cd "$2" && ' +
    'setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \'ls "$1"; echo "ls=$?"; cat "$1/$2/bin/tool"\' sh "$2" "$3"';
  const result = childProcess('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh',
    `ro,lowerdir=${report.mask}:${store.dir}`, target, closure[0]!]);
  assert.match(result, /ls=[1-9]/);
  assert.match(result, /tool 0/);
});

rootTest('should add whiteouts for new entries only when the store changed', () => {
  const dir = tempDir('refresh');
  const store = makeStore(path.join(dir, 'store'), 500);
  const closure = store.names.slice(0, 4);
  const args = ['--cache-dir', path.join(dir, 'cache'), '--store', store.dir, '--closure-file', closureFile(dir, closure)];
  const first = buildJson(args);
  assert.is(first.status, 'built');
  assert.is(buildJson(args).status, 'cached');
  const added = addEntries(store, 30);
  const second = buildJson(args);
  assert.is(second.status, 'refreshed');
  assert.is(second.added, 30);
  assert.is(second.mask, first.mask);
  const listing = mergedListing(second.mask, store.dir);
  assert.equal(listing, ['.', '..', ...closure].sort());
  assert.not.ok(listing.includes(added[0]!));
});

rootTest('should not probe for trusted xattrs under --mode whiteout, and clear the file of a killed probe', () => {
  const dir = tempDir('probe');
  const store = makeStore(path.join(dir, 'store'), 10);
  const list = closureFile(dir, store.names.slice(0, 1));
  // Outside the store's parent, where an allowlist could stack.
  const cache = path.join(tempDir('probe-cache'), 'cache');
  buildJson(['--cache-dir', cache, '--store', store.dir, '--closure-file', list]);
  assert.not.ok(fs.existsSync(path.join(cache, 'features.json')), 'a whiteout build asked about trusted xattrs');
  // Leftovers of probes: one of a process that is gone, one of this (running) test process.
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const dead = path.join(cache, 'tmp', 'xattr-probe-999999999-1-0000');
  const alive = path.join(cache, 'tmp', `xattr-probe-${process.pid}-${startTime}-0000`);
  fs.writeFileSync(dead, '');
  fs.writeFileSync(alive, '');
  const auto = run(['build', '--json', '--cache-dir', cache, '--store', store.dir, '--closure-file', list]);
  assert.is(auto.status, 0, auto.stderr);
  assert.ok(fs.existsSync(path.join(cache, 'features.json')), 'auto mode probed');
  assert.not.ok(fs.existsSync(dead), 'the killed probe\'s file is gone');
  assert.ok(fs.existsSync(alive), 'a running probe\'s file is left alone');
  fs.rmSync(alive);
});

rootTest('should build once when two processes ask for the same mask at once', async () => {
  const dir = tempDir('concurrent');
  const store = makeStore(path.join(dir, 'store'), 30_000);
  const closure = store.names.slice(0, 4);
  const args = ['build', '--json', '--mode', 'whiteout', '--cache-dir', path.join(dir, 'cache'), '--store', store.dir, '--closure-file', closureFile(dir, closure)];
  const reports = await Promise.all([runAsync(args), runAsync(args)]);
  const parsed = reports.map(report => {
    assert.is(report.code, 0, report.stderr);
    return JSON.parse(report.stdout) as BuildReport;
  });
  assert.equal(parsed.map(report => report.status).sort(), ['built', 'cached']);
  assert.is(parsed[0]!.mask, parsed[1]!.mask);
  assert.equal(mergedListing(parsed[0]!.mask, store.dir), ['.', '..', ...closure].sort());
  fs.rmSync(dir, {recursive: true, force: true});
});

rootTest('should never publish half a mask when a build is killed, and recover on the next run', async () => {
  const dir = tempDir('killed');
  const store = makeStore(path.join(dir, 'store'), 60_000);
  const closure = store.names.slice(0, 4);
  const cache = path.join(dir, 'cache');
  const args = ['build', '--json', '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', closureFile(dir, closure)];
  const child = spawn(process.execPath, [CLI, ...args], {stdio: 'ignore'});
  // Wait until the build is under way (its staging directory holds whiteouts), then kill it.
  for (let waited = 0; waited < 20_000; waited += 10) {
    const staging = fs.existsSync(path.join(cache, 'tmp')) ? fs.readdirSync(path.join(cache, 'tmp')) : [];
    const layer = staging[0] === undefined ? undefined : path.join(cache, 'tmp', staging[0], 'layer');
    if (layer !== undefined && fs.existsSync(layer) && fs.readdirSync(layer).length > 1000) break;
    await new Promise(resolve => setTimeout(resolve, 10));
  }
  child.kill('SIGKILL');
  await new Promise(resolve => child.on('close', resolve));
  assert.equal(fs.readdirSync(path.join(cache, 'masks')), [], 'nothing was published');
  assert.is(fs.readdirSync(path.join(cache, 'tmp')).length, 1, 'the staging directory is left');

  const report = buildJson(args.slice(4));
  assert.is(report.status, 'built');
  assert.equal(fs.readdirSync(path.join(cache, 'tmp')), [], 'the abandoned build was cleaned up');
  assert.equal(mergedListing(report.mask, store.dir), ['.', '..', ...closure].sort());
  fs.rmSync(dir, {recursive: true, force: true});
  tally('fault', 1);
});

rootTest('should refresh from its journal even when whiteouts were linked but never journalled', () => {
  const dir = tempDir('journal');
  const store = makeStore(path.join(dir, 'store'), 300);
  const closure = store.names.slice(0, 3);
  const args = ['--cache-dir', path.join(dir, 'cache'), '--store', store.dir, '--closure-file', closureFile(dir, closure)];
  const first = buildJson(args);
  // As if a refresh had died between its links and its journal write.
  fs.truncateSync(path.join(path.dirname(first.mask), 'hidden'), 0);
  const added = addEntries(store, 7);
  const second = buildJson(args);
  assert.is(second.status, 'refreshed');
  assert.is(second.added, 7, 'only the new entries count as added; the others answer EEXIST');
  assert.equal(mergedListing(second.mask, store.dir), ['.', '..', ...closure].sort());
  assert.not.ok(mergedListing(second.mask, store.dir).includes(added[0]!));
});

synthetic.run();

// ---

const owner = suite('build as an ordinary user');
const ownerTest = when(owner, missing('test-user'));

ownerTest('should refresh an execute-only mask its owner cannot list', () => {
  const dir = tempDir('user-execonly');
  fs.chmodSync(dir, 0o755);
  const store = makeStore(path.join(dir, 'store'), 100);
  fs.chmodSync(store.dir, 0o755);
  const closure = store.names.slice(0, 2);
  const cache = tempDir('user-cache', TEST_USER);
  const args = ['build', '--json', '--exec-only', '--cache-dir', cache, '--store', store.dir, '--closure-file', closureFile(dir, closure)];
  const first = runAsUser(args);
  assert.is(first.status, 0, first.stderr);
  const mask = (JSON.parse(first.stdout) as BuildReport).mask;
  const added = addEntries(store, 5);
  const second = runAsUser(args);
  assert.is(second.status, 0, second.stderr);
  assert.equal(JSON.parse(second.stdout).added, 5);
  const listing = mergedListing(mask, store.dir);
  assert.equal(listing, ['.', '..', ...closure].sort());
  assert.not.ok(listing.includes(added[4]!));
});

owner.run();

function childProcess(command: string, args: string[]): string {
  return execFileSync(command, args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
}


/**
 * Bad input: one clear line on standard error, a non-zero exit, and nothing left half-written.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {CLI, run, tempDir} from '../helpers/cli.js';
import {missing, when} from '../helpers/env.js';
import {fixture, GLIBC, HELLO} from '../helpers/fixtures.js';
import {makeStore, closureFile} from '../helpers/store.js';
import {tally} from '../helpers/tally.js';

/** One bad input (or an unsafe mask or cache, `kind` 'mask'): one line, exit 125, nothing on stdout. */
const expectFailure = (args: string[], message: RegExp, input?: string, kind: 'input' | 'mask' = 'input'): void => {
  const result = run(args, input === undefined ? {} : {input});
  assert.is(result.status, 125, `exit status for ${args.join(' ')}: ${result.stderr}`);
  assert.is(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.is(lines.length, 1, `one line: ${result.stderr}`);
  assert.match(lines[0]!, /^nix-overlay-jail: /);
  assert.match(lines[0]!, message);
  tally(kind, 1);
};

const bad = suite('bad input');
const smallStore = fixture('stores', 'small');

bad('should refuse a path that is not in the store', () => {
  expectFailure(['closure', '/etc/passwd'], /\/etc\/passwd is not in the store/);
});

bad('should refuse a store entry that does not exist', () => {
  expectFailure(['closure', '--store', smallStore, `/nix/store/${'0'.repeat(32)}-gone`], /store entry does not exist: .*-gone/);
  expectFailure(['closure', '--store', smallStore, '--closure-file', '-'], /store entry does not exist/, `/nix/store/${'1'.repeat(32)}-gone\n`);
});

bad('should refuse an unreadable or malformed closure file or graph', () => {
  expectFailure(['closure', '--store', smallStore, '--closure-file', '/nonexistent/closure'], /cannot read closure file \/nonexistent\/closure: no such file/);
  expectFailure(['closure', '--store', smallStore, '--closure-file', '/'], /cannot read closure file \/: .*EISDIR/);
  expectFailure(['closure', '--store', smallStore, '--closure-file', fixture('closures', 'relative.txt')], /relative\.txt:2: not an absolute store path/);
  expectFailure(['closure', '--store', smallStore, '--graph', fixture('graphs', 'malformed.json')], /malformed\.json: not valid JSON/);
  expectFailure(['closure', '--store', smallStore, '--graph', fixture('graphs', 'dangling.json')], /referenced but not described/);
});

bad('should refuse hostile graphs with one line, writing nothing, and follow a cyclic one', () => {
  const dir = tempDir('graphs');
  const cache = path.join(dir, 'cache');
  const depth = 1_000_000;
  const hello = `/nix/store/${HELLO}`;
  const graphs: Array<[string, string, RegExp]> = [
    ['truncated', `{"${hello}": {"references": [`, /truncated: not valid JSON/],
    ['nested-arrays', `${'['.repeat(depth)}${']'.repeat(depth)}`, /nested-arrays: entry 0: expected an object with a "path" string/],
    ['nested-objects', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`, /nested-objects: a: not an absolute store path/],
    ['nested-references', `{"${hello}": {"references": ${'['.repeat(depth)}${']'.repeat(depth)}}}`, /references.* must be a list of store paths|not an absolute store path/],
    ['outside', `{"${hello}": {"references": ["/etc/passwd"]}}`, /outside: .*not in the store .*\/etc\/passwd/],
    ['dotdot', `{"${hello}": {"references": ["/nix/store/../../etc"]}}`, /'\.\.' is not allowed/],
  ];
  for (const [name, text, message] of graphs) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    expectFailure(['build', '--store', smallStore, '--cache-dir', cache, '--graph', file, hello], message);
  }
  assert.not.ok(fs.existsSync(cache), 'no cache directory was made');

  // A cycle (Nix allows a path to refer to itself): followed once, without looping.
  const cyclic = path.join(dir, 'cyclic.json');
  fs.writeFileSync(cyclic, JSON.stringify({[hello]: {references: [hello, `/nix/store/${GLIBC}`]}, [`/nix/store/${GLIBC}`]: {references: [hello]}}));
  const result = run(['closure', '--store', smallStore, '--graph', cyclic, hello]);
  assert.is(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim().split('\n').sort(), [hello, `/nix/store/${GLIBC}`].sort());
  tally('input', 1);
});

bad('should refuse a store directory that does not exist', () => {
  expectFailure(['closure', '--store', '/nonexistent/store', '--closure-file', '-'], /store directory does not exist: \/nonexistent\/store/, `/nix/store/${HELLO}\n`);
});

bad('should refuse unknown options, missing values and values that look like options', () => {
  expectFailure(['build', '--frobnicate'], /unknown option --frobnicate/);
  expectFailure(['build', '--cache-dir'], /option --cache-dir needs a value/);
  expectFailure(['build', '--cache-dir', '--json', '/nix/store/x'], /needs a value, got "--json"/);
  expectFailure(['nonsense'], /unknown command "nonsense"/);
  // --no- negates a switch only: before an option with a value it is no option at all.
  expectFailure(['exec', '--no-setenv', 'FOO=bar', '--', '/nix/store/x'], /^nix-overlay-jail: unknown option --no-setenv \(see --help\)$/);
  expectFailure(['closure', '--no-store', '/tmp', '/nix/store/x'], /^nix-overlay-jail: unknown option --no-store \(see --help\)$/);
});

bad('should check exec options alone with --parse-only: a typo or a bad value fails, nothing of the host is read', () => {
  // What Nix's wrap runs at build time: a HOME, a bind source or a profile outside the store
  // that does not exist yet is fine; every word that exec itself would refuse is refused.
  const good = run(['exec', '--parse-only', '--net', '--home', '/nonexistent/home', '--ro-bind', '/nonexistent/data:/data',
    '--profile', '/nonexistent/profile.json', '--setenv', 'A=b', '--keep-fd', '5', '--', '/nonexistent/program']);
  assert.is(good.status, 0, good.stderr);
  assert.is(good.stdout + good.stderr, '');
  expectFailure(['exec', '--parse-only', '--nett', '--', 'hello'], /unknown option --nett/);
  expectFailure(['exec', '--parse-only', '--mount-with', 'fusion', '--', 'hello'], /--mount-with must be one of/);
  expectFailure(['exec', '--parse-only', '--setenv', 'A', '--', 'hello'], /--setenv needs NAME=VALUE/);
  expectFailure(['exec', '--parse-only', '--keep-fd', '2', '--', 'hello'], /--keep-fd 2: descriptors 0, 1 and 2/);
  expectFailure(['exec', '--parse-only', '--bind', '/tmp:/nix', '--', 'hello'], /refusing bind onto \/nix/);
  expectFailure(['exec', '--parse-only', '--talk-name', 'not a name', '--', 'hello'], /not a D-Bus name/);
  expectFailure(['exec', '--parse-only', '--net'], /no command given/);
  // A profile in the store is what the launch will read: it is read and checked now.
  expectFailure(['exec', '--parse-only', '--profile', `/nix/store/${'0'.repeat(32)}-gone.json`, '--', 'hello'], /cannot read profile \/nix\/store\/0+-gone\.json/);
  expectFailure(['wrap', '--out', path.join(tempDir('parse-only'), 'launcher'), '--parse-only', 'hello'], /wrap --parse-only/);
});

bad.run();

// ---

const cacheFaults = suite('cache directories that cannot be used');
const rootTest = when(cacheFaults, missing('root'));

rootTest('should refuse a cache directory that cannot be written, writing nothing', () => {
  const dir = tempDir('rocache');
  const store = makeStore(path.join(dir, 'store'), 20);
  const list = closureFile(dir, store.names.slice(0, 2));
  const cache = path.join(dir, 'cache');
  fs.mkdirSync(cache, {mode: 0o700});
  // A read-only bind mount in a private namespace: even root cannot write there.
  const output = privateNamespace(
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && "$@"; echo "status=$?"',
    [cache, process.execPath, CLI, 'build', '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', list],
  );
  assert.match(output, /status=125/);
  assert.match(output, /nix-overlay-jail: cannot write cache directory .*cache: read-only file system/);
  assert.equal(fs.readdirSync(cache), []);
  tally('fault', 1);
});

rootTest('should refuse a filesystem that cannot hold whiteouts (an overlay, as in a container), leaving no mask', () => {
  const dir = tempDir('ovlcache');
  const store = makeStore(path.join(dir, 'store'), 20);
  const list = closureFile(dir, store.names.slice(0, 2));
  for (const sub of ['lower', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(dir, sub));
  const cache = path.join(dir, 'merged', 'cache');
  const output = privateNamespace(
    'mount -t overlay -o "lowerdir=$1/lower,upperdir=$1/upper,workdir=$1/work" overlay "$1/merged" && shift && "$@"; ' +
      'echo "status=$?"; echo "left=$(find "$0/masks" "$0/tmp" -mindepth 1 | wc -l)"',
    [dir, process.execPath, CLI, 'build', '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', list],
    cache,
  );
  assert.match(output, /status=125/);
  assert.match(output, /nix-overlay-jail: cannot create a whiteout at .*: .*Operation not permitted/);
  assert.match(output, /left=0/, 'no mask or staging directory is left');
  tally('fault', 1);
});

rootTest('should refuse a cache directory writable by others or owned by another user', () => {
  const dir = tempDir('unsafe');
  const store = makeStore(path.join(dir, 'store'), 10);
  const list = closureFile(dir, store.names.slice(0, 1));
  const open = path.join(dir, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  for (const command of ['build', 'verify']) {
    expectFailure([command, '--cache-dir', path.join(open, 'cache'), '--store', store.dir, '--closure-file', list], /writable by group or others/, undefined, 'mask');
  }
  assert.equal(fs.readdirSync(open), [], 'nothing was created below the unsafe directory');
  const foreign = path.join(dir, 'foreign');
  fs.mkdirSync(foreign, {mode: 0o700});
  fs.chownSync(foreign, 65534, 65534);
  for (const command of ['build', 'verify']) {
    expectFailure([command, '--cache-dir', foreign, '--store', store.dir, '--closure-file', list], /not owned by uid 0/, undefined, 'mask');
  }
});

rootTest('should refuse the cache, a mask, its layer, its state and its journal once group or others can write them', () => {
  const dir = tempDir('loose');
  const store = makeStore(path.join(dir, 'store'), 10);
  const list = closureFile(dir, store.names.slice(0, 1));
  const cache = path.join(dir, 'cache');
  const args = (command: string): string[] => [command, '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', list];
  const built = run(args('build'));
  assert.is(built.status, 0, built.stderr);
  const mask = path.dirname(built.stdout.trim());
  const targets: Array<[string, RegExp]> = [
    [cache, /refusing cache directory .*: writable by group or others/],
    [mask, /refusing mask .*: writable by group or others/],
    [path.join(mask, 'layer'), /refusing mask .*layer: writable by group or others/],
    [path.join(mask, 'state.json'), /refusing mask state .*state\.json: writable by group or others/],
    [path.join(mask, 'hidden'), /refusing mask journal .*hidden: writable by group or others/],
  ];
  for (const [target, message] of targets) {
    const mode = fs.statSync(target).mode & 0o7777;
    for (const loose of [0o020, 0o002]) {
      fs.chmodSync(target, mode | loose);
      try {
        for (const command of ['build', 'verify']) expectFailure(args(command), message, undefined, 'mask');
      } finally {
        fs.chmodSync(target, mode);
      }
    }
  }
  assert.is(run(args('build')).status, 0, 'usable again once the modes are back');
});

rootTest('should refuse a directory it did not make', () => {
  const dir = tempDir('notmine');
  fs.chmodSync(dir, 0o700);
  fs.writeFileSync(path.join(dir, 'precious'), 'data');
  const store = makeStore(path.join(dir, 'store'), 10);
  expectFailure(['build', '--cache-dir', dir, '--store', store.dir, '--closure-file', closureFile(path.join(dir, 'store', '..'), store.names.slice(0, 1))],
    /refusing cache directory .*: it holds \S+ and was not made by nix-overlay-jail/, undefined, 'mask');
});

cacheFaults.run();

function privateNamespace(script: string, args: string[], zero = 'sh'): string {
  const result = execFileSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', `exec 2>&1; ${script}`, zero, ...args], {encoding: 'utf8'});
  return result;
}

// ---

const planted = suite('masks and caches reached through what another user planted');
const plantedTest = when(planted, missing('root', 'nix'));

plantedTest('should refuse a cache reached through a symlink another user owns, and a mask replaced by a symlink', () => {
  const dir = tempDir('planted');
  const store = makeStore(path.join(dir, 'store'), 10);
  const list = closureFile(dir, store.names.slice(0, 1));
  const elsewhere = path.join(dir, 'elsewhere');
  fs.mkdirSync(elsewhere, {mode: 0o700});
  const link = path.join(dir, 'link');
  fs.symlinkSync(elsewhere, link);
  fs.lchownSync(link, 65534, 65534);
  for (const command of ['build', 'verify']) {
    expectFailure([command, '--mode', 'whiteout', '--cache-dir', path.join(link, 'cache'), '--store', store.dir, '--closure-file', list],
      /refusing cache below .*link: owned by another user/, undefined, 'mask');
  }
  assert.equal(fs.readdirSync(elsewhere), [], 'nothing was made through the link');

  const cache = path.join(dir, 'cache');
  const built = run(['build', '--json', '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', list]);
  assert.is(built.status, 0, built.stderr);
  const maskDir = path.dirname((JSON.parse(built.stdout) as {mask: string}).mask);
  const decoy = path.join(dir, 'decoy');
  fs.renameSync(maskDir, decoy);
  fs.symlinkSync(decoy, maskDir);
  fs.chmodSync(path.join(store.dir, store.names[0]!, 'bin', 'tool'), 0o755);
  for (const command of ['build', 'verify', 'exec']) {
    const program = command === 'exec' ? ['--', `/nix/store/${store.names[0]}/bin/tool`] : [];
    expectFailure([command, '--mode', 'whiteout', '--cache-dir', cache, '--store', store.dir, '--closure-file', list, ...program],
      /refusing mask .*: it is a symbolic link/, undefined, 'mask');
  }
});

plantedTest('should answer a million-line closure file with one line', () => {
  const lines = Array.from({length: 1_000_000}, (_, index) => `/nix/store/${String(index).padStart(32, '0')}-p${index}`).join('\n');
  expectFailure(['closure', '--store', smallStore, '--closure-file', '-'], /store entry does not exist: .*-p0 \(and 999999 more\)/, lines);
});

planted.run();

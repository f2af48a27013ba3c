/**
 * Allowlist masks, verify and mount, as root on the real Nix store.
 */
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {CLI, mountTable, run, runAsUser, tempDir} from '../helpers/cli.js';
import {missing, when} from '../helpers/env.js';
import {addStorePath, buildFixture, nixEnv} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';

const sh = (): string => path.join(buildFixture().app, 'bin', 'sh');

/** Start a jail that lists /nix/store after it is told to, so the store can change meanwhile. */
const listAfterSignal = (cache: string, mode: string): {start: () => Promise<void>; go: (probe: string) => Promise<string>} => {
  const child = spawn(process.execPath, [CLI, 'exec', '--mode', mode, '--cache-dir', cache, '--', sh(), '-c',
    'echo ready; read probe; ls -a -1 /nix/store; if [ -e "$probe" ]; then echo "REACHED $probe"; fi'], {stdio: ['pipe', 'pipe', 'inherit'], env: nixEnv()});
  let stdout = '';
  child.stdout.on('data', chunk => (stdout += chunk));
  return {
    start: () => new Promise<void>(resolve => {
      const check = (): void => (stdout.includes('ready') ? resolve() : void setTimeout(check, 10));
      check();
    }),
    go: probe => new Promise<string>(resolve => {
      child.on('close', () => resolve(stdout));
      child.stdin.end(`${probe}\n`);
    }),
  };
};

const allowlist = suite('allowlist masks');
const rootTest = when(allowlist, missing('root', 'nix', 'bwrap'));

rootTest('should never show a store path added after the mount, where a whiteout mask does (this documents the difference)', async () => {
  const fixture = buildFixture();
  const jails = {
    allowlist: listAfterSignal(tempDir('cache'), 'allowlist'),
    whiteout: listAfterSignal(tempDir('cache'), 'whiteout'),
  };
  await Promise.all([jails.allowlist.start(), jails.whiteout.start()]);
  const later = addStorePath(`noj-later-${process.pid}-${Date.now()}`);
  const [seenByAllowlist, seenByWhiteout] = await Promise.all([jails.allowlist.go(later), jails.whiteout.go(later)]);
  assert.not.match(seenByAllowlist, path.basename(later));
  assert.equal(seenByAllowlist.split('\n').filter(line => line !== '' && line !== 'ready').sort(), ['.', '..', ...fixture.closure.map(entry => path.basename(entry))].sort());
  assert.match(seenByWhiteout, path.basename(later), 'a whiteout mask shows it until the next exec refreshes the mask');
  assert.match(seenByWhiteout, `REACHED ${later}`);
});

rootTest('should show directories, plain files and symlinks of the closure with their real attributes', () => {
  const fixture = buildFixture();
  const entries = fixture.closure;
  const script = 'for p; do if [ -L "$p" ]; then echo "$p link $(readlink "$p")"; else stat -c "%n %s %a %Y %h" "$p"; fi; done; cat "$1/ref" "$(cat "$1/ref")"';
  const result = run(['exec', '--mode', 'allowlist', '--cache-dir', tempDir('cache'), '--', sh(), '-c', script, 'sh', fixture.lib, ...entries]);
  assert.is(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  for (const entry of entries) {
    const stats = fs.lstatSync(entry);
    const expected = stats.isSymbolicLink()
      ? `${entry} link ${fs.readlinkSync(entry)}`
      : `${entry} ${stats.isDirectory() ? fs.statSync(entry).size : stats.size} ${(stats.mode & 0o7777).toString(8)} ${Math.floor(stats.mtimeMs / 1000)} ${stats.nlink}`;
    if (stats.isDirectory()) {
      // A directory's size and link count are its own layer's, not the store's: compare the rest.
      const [, , mode, mtime] = expected.split(' ');
      assert.ok(lines.some(line => line.startsWith(`${entry} `) && line.split(' ')[2] === mode && line.split(' ')[3] === mtime), `${entry}: ${mode} ${mtime}`);
    } else {
      assert.ok(lines.includes(expected), `${expected}\nnot in\n${result.stdout}`);
    }
  }
  const data = fixture.closure.find(entry => entry.endsWith('-data.txt'))!;
  assert.ok(lines.includes(data), 'lib/ref names the plain-file store path');
  assert.ok(lines.includes('data from the closure'), 'the plain-file store path reads its real content');
});

rootTest('should refuse an ordinary user who asks for an allowlist mask', () => {
  if (missing('test-user') !== undefined) return;
  const result = runAsUser(['build', '--mode', 'allowlist', buildFixture().app]);
  assert.is(result.status, 125);
  assert.match(result.stderr, /^nix-overlay-jail: --mode allowlist: allowlist masks need real root/);
});

allowlist.run();

// ---

const verify = suite('verify');
const verifyTest = when(verify, missing('root', 'nix', 'bwrap'));

interface VerifyReport {
  ok: boolean;
  mode: string;
  mask: string;
  missing: string[];
  leaks: string[];
  newerThanMask: string[];
}

const verifyJson = (args: string[]): {status: number; report: VerifyReport; stdout: string} => {
  const result = run(['verify', '--json', ...args]);
  assert.ok(result.status === 0 || result.status === 1, result.stderr);
  return {status: result.status, report: JSON.parse(result.stdout) as VerifyReport, stdout: result.stdout};
};

for (const mode of ['whiteout', 'allowlist']) {
  verifyTest(`should pass on a good ${mode} mask and name the path on a tampered one`, () => {
    const fixture = buildFixture();
    const cache = tempDir('cache');
    const good = verifyJson(['--mode', mode, '--cache-dir', cache, fixture.app]);
    assert.is(good.status, 0, good.stdout);
    assert.ok(good.report.ok);
    const layer = good.report.mask;
    const outsider = path.basename(fixture.outsider);

    if (mode === 'whiteout') {
      fs.unlinkSync(path.join(layer, outsider)); // a whiteout removed
    } else {
      fs.rmSync(path.join(layer, 'store', path.basename(fixture.lib)), {recursive: true}); // an allowed path removed
    }
    const planted = `${'0'.repeat(32)}-planted`;
    fs.mkdirSync(path.join(layer, mode === 'whiteout' ? '' : 'store', planted)); // an entry added

    const bad = verifyJson(['--mode', mode, '--cache-dir', cache, fixture.app]);
    assert.is(bad.status, 1);
    assert.ok(bad.report.leaks.includes(planted), JSON.stringify(bad.report));
    if (mode === 'whiteout') assert.ok(bad.report.leaks.includes(outsider), JSON.stringify(bad.report));
    else assert.equal(bad.report.missing, [path.basename(fixture.lib)]);
    const text = run(['verify', '--mode', mode, '--cache-dir', cache, fixture.app]);
    assert.is(text.status, 1);
    assert.match(text.stdout, new RegExp(`^leak: /nix/store/${planted}$`, 'm'));
    tally('mask', 2);
  });
}

for (const mode of ['whiteout', 'allowlist']) {
  verifyTest(`should refuse to run on a ${mode} mask changed behind its back`, () => {
    const fixture = buildFixture();
    const cache = tempDir('cache');
    const first = run(['exec', '--mode', mode, '--cache-dir', cache, '--', sh(), '-c', 'true']);
    assert.is(first.status, 0, first.stderr);
    const layer = path.join(cache, 'masks', fs.readdirSync(path.join(cache, 'masks'))[0]!, 'layer');
    const planted = path.join(layer, mode === 'whiteout' ? '' : 'store', path.basename(fixture.outsider));
    if (mode === 'whiteout') fs.unlinkSync(planted);
    fs.mkdirSync(planted);
    const second = run(['exec', '--mode', mode, '--cache-dir', cache, '--', sh(), '-c', 'ls /nix/store']);
    assert.is(second.status, 125);
    assert.is(second.stdout, '');
    assert.match(second.stderr, new RegExp(`refusing mask: ${planted.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not (a whiteout|in the closure)`));
    tally('mask', 1);
  });
}

verifyTest('should report store paths newer than a whiteout mask', () => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  assert.is(verifyJson(['--mode', 'whiteout', '--cache-dir', cache, fixture.app]).status, 0);
  const added = addStorePath(`noj-newer-${process.pid}-${Date.now()}`);
  const after = verifyJson(['--mode', 'whiteout', '--cache-dir', cache, fixture.app]);
  assert.is(after.status, 1);
  assert.equal(after.report.newerThanMask, [path.basename(added)]);
  assert.equal(after.report.leaks, []);
  assert.is(verifyJson(['--mode', 'allowlist', '--cache-dir', cache, fixture.app]).status, 0, 'an allowlist mask has no such window');
});

verify.run();

// ---

const mount = suite('mount');
const mountTest = when(mount, missing('root', 'nix'));

for (const mode of ['whiteout', 'allowlist']) {
  mountTest(`should mount the ${mode} view on an empty directory and unmount it, leaving the mount table as it was`, () => {
    const fixture = buildFixture();
    const cache = tempDir('cache');
    const target = path.join(tempDir('target'), 'store');
    fs.mkdirSync(target);
    const before = mountTable();
    const mounted = run(['mount', '--mode', mode, '--cache-dir', cache, target, fixture.app]);
    assert.is(mounted.status, 0, mounted.stderr);
    try {
      assert.equal(fs.readdirSync(target).sort(), fixture.closure.map(entry => path.basename(entry)).sort());
      assert.is(fs.readFileSync(path.join(target, path.basename(fixture.lib), 'lib.txt'), 'utf8'), 'library file\n');
      assert.throws(() => fs.writeFileSync(path.join(target, 'x'), ''), /EROFS|read-only/);
      const gc = run(['gc', '--json', '--max-age', '0', '--cache-dir', cache]);
      assert.equal(JSON.parse(gc.stdout).removed, [], 'a mounted mask is in use');
    } finally {
      const unmounted = run(['mount', '--umount', '--cache-dir', cache, target]);
      assert.is(unmounted.status, 0, unmounted.stderr);
    }
    assert.is(mountTable(), before);
    assert.equal(fs.readdirSync(target), []);
  });
}

mountTest('should refuse a target that is not an empty directory, and to unmount what it did not mount', () => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  const full = tempDir('full');
  fs.writeFileSync(path.join(full, 'file'), '');
  const refused = run(['mount', '--cache-dir', cache, full, fixture.app]);
  assert.is(refused.status, 125);
  assert.match(refused.stderr, /refusing .*: not an empty directory/);
  assert.match(run(['mount', '--cache-dir', cache, path.join(full, 'file'), fixture.app]).stderr, /not a directory/);
  run(['build', '--cache-dir', cache, fixture.app]);
  const foreign = run(['mount', '--umount', '--cache-dir', cache, '/proc']);
  assert.is(foreign.status, 125);
  assert.match(foreign.stderr, /refusing to unmount \/proc: it is not a store mounted by nix-overlay-jail/);
});

mount.run();

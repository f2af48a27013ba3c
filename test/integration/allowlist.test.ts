/**
 * Allowlist masks, verify and mount, as root on the real Nix store.
 */
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {baseNames, CLI, mountTable, run, runAsUser, runAsync, tempDir} from '../helpers/cli.js';
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

const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A mask that exec has used once, with what `plant` makes put where the outsider's whiteout
 * (or, in an allowlist layer, nothing) was; then exec must refuse it, naming the path.
 */
const assertPlantedRefused = (mode: string, plant: (at: string) => void): {cache: string; planted: string} => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  const first = run(['exec', '--mode', mode, '--cache-dir', cache, '--', sh(), '-c', 'true']);
  assert.is(first.status, 0, first.stderr);
  const layer = path.join(cache, 'masks', fs.readdirSync(path.join(cache, 'masks'))[0]!, 'layer');
  const planted = path.join(layer, mode === 'whiteout' ? '' : 'store', path.basename(fixture.outsider));
  if (mode === 'whiteout') fs.unlinkSync(planted);
  plant(planted);
  const refused = run(['exec', '--mode', mode, '--cache-dir', cache, '--', sh(), '-c', 'ls /nix/store']);
  assert.is(refused.status, 125, refused.stderr);
  assert.is(refused.stdout, '');
  assert.match(refused.stderr, new RegExp(`refusing mask: ${escaped(planted)} is not (a whiteout|in the closure)`));
  tally('mask', 1);
  return {cache, planted};
};

for (const mode of ['whiteout', 'allowlist']) {
  verifyTest(`should refuse a device that is not a whiteout, a symlink and a FIFO planted in a ${mode} layer`, () => {
    const fixture = buildFixture();
    for (const kind of ['device 1:3', 'symlink', 'fifo']) {
      const {cache} = assertPlantedRefused(mode, planted => {
        const made = kind === 'symlink'
          ? spawnSync('ln', ['-s', fixture.outsider, planted])
          : spawnSync('mknod', kind === 'fifo' ? [planted, 'p'] : [planted, 'c', '1', '3']);
        assert.is(made.status, 0, made.stderr?.toString());
      });
      const checked = run(['verify', '--mode', mode, '--cache-dir', cache, fixture.app]);
      assert.is(checked.status, 1, `${kind}: ${checked.stdout}${checked.stderr}`);
      assert.match(checked.stdout, new RegExp(`^leak: /nix/store/${escaped(path.basename(fixture.outsider))}$`, 'm'), kind);
      tally('mask', 1);
    }
  });

  verifyTest(`should refuse to run on a ${mode} mask changed behind its back`, () => {
    assertPlantedRefused(mode, planted => fs.mkdirSync(planted));
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

mountTest('should say how to mount what build made: the --json options show exactly the closure, for both mask kinds', () => {
  const fixture = buildFixture();
  for (const mode of ['whiteout', 'allowlist']) {
    const cache = tempDir('cache');
    const built = run(['build', '--json', '--mode', mode, '--cache-dir', cache, fixture.app]);
    assert.is(built.status, 0, built.stderr);
    const report = JSON.parse(built.stdout) as {mountOptions: string; storeSubdir: string; mask: string};
    assert.is(report.storeSubdir, mode === 'whiteout' ? '' : 'store');
    // Mounted exactly as the report says, in a private mount namespace.
    const target = tempDir('target');
    const listing = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c',
      'mount -t overlay overlay -o "$1" "$2" && ls -a -1 "$2/$3"', 'sh', report.mountOptions, target, report.storeSubdir], {encoding: 'utf8'});
    assert.is(listing.status, 0, listing.stderr);
    assert.equal(listing.stdout.trim().split('\n').filter(name => name !== '.' && name !== '..').sort(), baseNames(fixture.closure), mode);
    // On a terminal, build prints that command.
    const quoted = [process.execPath, CLI, 'build', '--mode', mode, '--cache-dir', cache, fixture.app].map(word => `'${word}'`).join(' ');
    const atTerminal = spawnSync('script', ['-qec', quoted, '/dev/null'], {encoding: 'utf8', env: nixEnv()});
    assert.ok(atTerminal.stdout.includes(report.mask), atTerminal.stdout);
    assert.match(atTerminal.stdout.replace(/\r/g, ''), `mount it with: mount -t overlay overlay -o '${report.mountOptions}' TARGET${mode === 'whiteout' ? '\n' : '   (the store is then TARGET/store)'}`);
  }
});

mountTest('should mount through a symlinked parent, keep the mask from gc, and unmount by either spelling without --cache-dir', () => {
  const fixture = buildFixture();
  const real = tempDir('real-parent');
  const link = path.join(tempDir('link-parent'), 'via-link');
  fs.symlinkSync(real, link);
  for (const mode of ['whiteout', 'allowlist']) {
    // One cache per mode, so that gc has only the mounted mask to consider.
    const cache = tempDir('cache');
    for (const spelling of ['link', 'real']) {
      fs.mkdirSync(path.join(real, 'store'));
      const before = mountTable();
      const mounted = run(['mount', '--mode', mode, '--cache-dir', cache, path.join(link, 'store'), fixture.app]);
      assert.is(mounted.status, 0, mounted.stderr);
      assert.match(mounted.stdout, `on ${path.join(real, 'store')}\n`);
      try {
        const gc = run(['gc', '--json', '--max-age', '0', '--cache-dir', cache]);
        assert.is(gc.status, 0, gc.stderr);
        assert.equal(JSON.parse(gc.stdout).removed, [], 'a mask mounted through a symlink is in use');
        assert.equal(fs.readdirSync(path.join(real, 'store')).sort(), baseNames(fixture.closure), 'the mount still shows the closure');
      } finally {
        const unmounted = run(['mount', '--umount', path.join(spelling === 'link' ? link : real, 'store')]);
        assert.is(unmounted.status, 0, unmounted.stderr);
      }
      assert.is(mountTable(), before, `${mode}, unmounted through the ${spelling} path`);
      fs.rmdirSync(path.join(real, 'store'));
    }
    // The record is gone with the mount: gc now takes the mask.
    assert.is(JSON.parse(run(['gc', '--json', '--max-age', '0', '--cache-dir', cache]).stdout).removed.length, 1);
  }
});

mountTest('should refuse to unmount a mount it did not make, even of one of its masks', () => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  const layer = run(['build', '--mode', 'whiteout', '--cache-dir', cache, fixture.app]).stdout.trim();
  const target = tempDir('by-hand');
  // A mount of the tool's own mask, made by hand: no record, so not the tool's to remove.
  const byHand = spawnSync('mount', ['-t', 'overlay', '-o', `ro,lowerdir=${layer}:/nix/store`, 'overlay', target], {encoding: 'utf8'});
  assert.is(byHand.status, 0, byHand.stderr);
  try {
    const refused = run(['mount', '--umount', target]);
    assert.is(refused.status, 125);
    assert.match(refused.stderr, new RegExp(`^nix-overlay-jail: refusing to unmount ${target}: ${cache}\\S* holds no record of mounting it\n$`));
    const elsewhere = run(['mount', '--umount', '--cache-dir', tempDir('other-cache'), target]);
    assert.match(elsewhere.stderr, /it was mounted from the cache .*, not /);
  } finally {
    spawnSync('umount', [target]);
  }
  assert.match(run(['mount', '--umount', target]).stderr, /refusing to unmount .*: nothing is mounted there/);
  tally('input', 3);
});

mountTest('should leave no mount and no record when a step after the mount fails', () => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  const target = path.join(tempDir('target'), 'store');
  fs.mkdirSync(target);
  // mount(8) that fails when asked to make the bound store read-only: the allowlist's last step.
  const shim = tempDir('failing-remount');
  fs.writeFileSync(path.join(shim, 'mount'), `#!/bin/sh\ncase "$*" in *remount*) echo "mount: remount refused by the test" >&2; exit 32;; esac\nexec ${spawnSync('sh', ['-c', 'command -v mount'], {encoding: 'utf8'}).stdout.trim()} "$@"\n`, {mode: 0o755});
  const before = mountTable();
  const failed = run(['mount', '--mode', 'allowlist', '--cache-dir', cache, target, fixture.app], {env: {...nixEnv(), PATH: `${shim}:${process.env['PATH']}`}});
  assert.is(failed.status, 125);
  assert.is(failed.stderr, `nix-overlay-jail: cannot make ${target} read-only: mount: remount refused by the test\n`);
  assert.is(mountTable(), before);
  const masks = fs.readdirSync(path.join(cache, 'masks'));
  for (const key of masks) assert.equal(fs.readdirSync(path.join(cache, 'masks', key, 'jails')), [], 'no record left');
  assert.equal(fs.readdirSync(path.join(cache, 'tmp')).filter(name => name.startsWith('mount-')), [], 'no scratch directory left');
  tally('fault', 1);
});

mountTest('should keep every mounted mask while gc runs in a loop beside repeated mounts', async () => {
  const fixture = buildFixture();
  const cache = tempDir('cache');
  run(['build', '--cache-dir', cache, fixture.app]);
  const stop = path.join(tempDir('gc-loop'), 'stop');
  const loop = spawn('sh', ['-c', `while [ ! -e "$1" ]; do "$2" "$3" gc --max-age 0 --cache-dir "$4" >/dev/null 2>&1; done`, 'sh', stop, process.execPath, CLI, cache], {stdio: 'ignore'});
  const closed = new Promise(resolve => loop.on('close', resolve));
  try {
    for (let round = 0; round < 10; round++) {
      const target = path.join(tempDir('target'), 'store');
      fs.mkdirSync(target);
      const mode = round % 2 === 0 ? 'allowlist' : 'whiteout';
      const mounted = await runAsync(['mount', '--mode', mode, '--cache-dir', cache, target, fixture.app]);
      assert.is(mounted.code, 0, mounted.stderr);
      await new Promise(resolve => setTimeout(resolve, 50));
      assert.equal(fs.readdirSync(target).sort(), baseNames(fixture.closure), `round ${round}: the mount lost its mask`);
      const unmounted = await runAsync(['mount', '--umount', target]);
      assert.is(unmounted.code, 0, unmounted.stderr);
    }
  } finally {
    fs.writeFileSync(stop, '');
    await closed;
  }
  tally('concurrent', 10);
});

mount.run();

/**
 * doctor, gc and wrap on this machine, for real.
 */
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {CLI, run, runAsUser, tempDir, userEnv} from '../helpers/cli.js';
import {missing, when, withNewBwrap} from '../helpers/env.js';
import {buildFixture, busyboxStorePath, nixEnv, NO_SUBSTITUTES, ROOT} from '../helpers/nix.js';
import {closureFile, makeStore} from '../helpers/store.js';
import {tally} from '../helpers/tally.js';
import {cgroupFacts, cgroupUnavailable} from '../../src/jail/cgroup.js';
import {findOnPath} from '../../src/mount/capabilities.js';

interface DoctorReport {
  checks: Array<{name: string; status: string; detail: string}>;
  hostOptions: Array<{option: string; brings: string[]; missing: string[]}>;
  canExec: boolean;
  strategy: string;
}

const doctorJson = (result: {stdout: string}): DoctorReport => JSON.parse(result.stdout) as DoctorReport;

// ---

const doctor = suite('doctor');
const rootTest = when(doctor, missing('root', 'nix', 'bwrap'));

rootTest('should find everything ok as root on this machine', () => {
  const result = run(['doctor', '--json', '--cache-dir', tempDir('doctor-cache')]);
  assert.is(result.status, 0, result.stdout + result.stderr);
  const report = doctorJson(result);
  // Everything but the cgroup limits, which this host may not offer (these machines: cgroups of version 1).
  assert.equal(report.checks.filter(check => check.status !== 'ok' && check.name !== 'cgroup limits' && check.name !== 'apparmor'), []);
  const enforced = fs.existsSync('/sys/module/apparmor/parameters/enabled') && fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  assert.is(report.checks.find(check => check.name === 'apparmor')!.status, enforced ? 'ok' : 'warning');
  const cgroupWhy = cgroupUnavailable({memoryBytes: 1, cpus: 1, pids: 1}, cgroupFacts(process.env, findOnPath('systemd-run')));
  assert.equal(report.checks.find(check => check.name === 'cgroup limits'),
    {name: 'cgroup limits', status: cgroupWhy === undefined ? 'ok' : 'warning', detail: cgroupWhy ?? '--memory, --cpus, --pids: a systemd scope of the jail\'s own, with the memory, cpu and pids controllers'});
  assert.match(report.checks.find(check => check.name === 'resource limits')!.detail, /^--limit: as, fsize, core, nofile, cpu \(nproc: not for root\), set by \//);
  assert.is(report.strategy, 'root');
  for (const name of ['overlay in a user namespace', 'overlay as root', 'whiteouts in the cache', 'trusted xattrs', 'bwrap version', 'code cache']) {
    assert.ok(report.checks.some(check => check.name === name), name);
  }  // What each host option brings here, from what this host really has.
  assert.equal(report.hostOptions.map(host => host.option), ['--net', '--gpu', '--locale', '--fonts', '--wayland', '--x11', '--audio', '--talk-name', '--system-talk-name']);
  const net = report.hostOptions[0]!;
  assert.is(net.brings.includes('/etc/resolv.conf'), fs.existsSync('/etc/resolv.conf'));
  assert.is(net.missing.includes('/etc/resolv.conf'), !fs.existsSync('/etc/resolv.conf'));
  const gpu = report.hostOptions[1]!;
  assert.is(gpu.missing.includes('/dev/dri'), !fs.existsSync('/dev/dri'));
  const text = run(['doctor', '--cache-dir', tempDir('doctor-cache')]);
  assert.match(text.stdout, /^host options \(.*\):\n {2}--net {14}(.*\/etc\/resolv\.conf|nothing)/m);
  assert.match(text.stdout, /^ {2}--fonts {12}/m);
  // No display in the test's environment: each display option says what it lacks, in its words.
  const x11 = report.hostOptions[5]!;
  if (process.env['DISPLAY'] === undefined) assert.equal(x11, {option: '--x11', brings: [], missing: ['no X display (DISPLAY is not set)']});
});

rootTest('should fail clearly without bwrap or unshare on PATH', () => {
  for (const tool of ['bwrap', 'unshare']) {
    const bin = tempDir(`no-${tool}`);
    for (const name of ['mknod', 'mount', 'sh', 'ls', 'setfattr', 'nix-store', 'bwrap', 'unshare'].filter(name => name !== tool)) {
      const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map(dir => path.join(dir, name)).find(file => fs.existsSync(file));
      if (found) fs.symlinkSync(found, path.join(bin, name));
    }
    const result = run(['doctor', '--cache-dir', tempDir('doctor-cache')], {env: {...nixEnv(), PATH: bin}});
    assert.is(result.status, 1, result.stdout);
    assert.match(result.stdout, new RegExp(`^failure  ${tool}: ${tool} not found on PATH: install `, 'm'));
    assert.match(result.stdout, /exec cannot work here/);
  }
});

rootTest('should run as before from a code cache V8 rejects, and say so', () => {
  // A copy of the binary inside dist/, so execa and meow are still found in node_modules.
  const bin = fs.mkdtempSync(path.join(path.dirname(path.dirname(CLI)), 'bin-rejected-'));
  try {
    fs.cpSync(path.dirname(CLI), bin, {recursive: true});
    const cache = path.join(bin, 'cli.cjs.cache');
    const bytes = fs.readFileSync(cache);
    bytes.fill(0x5a, 0, 64); // V8 checks a header of version, source and flag hashes, and a checksum
    fs.writeFileSync(cache, bytes);
    const launcher = path.join(bin, path.basename(CLI));
    const jailed = spawnSync(process.execPath, [launcher, 'exec', '--cache-dir', tempDir('rejected-cache'), '--',
      path.join(buildFixture().app, 'bin', 'sh'), '-c', 'exit 7'], {encoding: 'utf8', env: nixEnv()});
    assert.is(jailed.status, 7, jailed.stderr);
    const report = doctorJson(spawnSync(process.execPath, [launcher, 'doctor', '--json', '--cache-dir', tempDir('doctor-cache')], {encoding: 'utf8', env: nixEnv()}));
    const check = report.checks.find(entry => entry.name === 'code cache');
    assert.is(check?.status, 'warning');
    assert.match(check?.detail ?? '', /rejected by node v\d+/);
  } finally {
    fs.rmSync(bin, {recursive: true, force: true});
  }
});

when(doctor, missing('test-user', 'bwrap'))('should find a user namespace path for an ordinary user', () => {
  const result = runAsUser(['doctor', '--json']);
  assert.is(result.status, 0, result.stdout + result.stderr);
  const report = doctorJson(result);
  assert.is(report.strategy, 'userns');
  assert.is(report.checks.find(check => check.name === 'overlay in a user namespace')?.status, 'ok');
  assert.is(report.checks.find(check => check.name === 'trusted xattrs')?.status, 'warning');
});

when(doctor, missing('test-user', 'bwrap-0.11'))('should say an ordinary user\'s bubblewrap 0.11+ mounts, as exec chooses', () => {
  const result = runAsUser(['doctor', '--json'], {env: withNewBwrap(userEnv())});
  assert.is(result.status, 0, result.stdout + result.stderr);
  assert.is(doctorJson(result).strategy, 'bwrap');
});

doctor.run();

// ---

const gc = suite('gc');
const gcTest = when(gc, missing('root', 'nix', 'bwrap'));

interface GcReport {
  removed: Array<{key: string; reason: string}>;
  inUse: string[];
}

gcTest('should remove unused masks, keep one a running jail uses, and remove nothing on --dry-run', async () => {
  const dir = tempDir('gc');
  const cache = path.join(dir, 'cache');
  const store = makeStore(path.join(dir, 'store'), 40);
  const idle = JSON.parse(run(['build', '--json', '--cache-dir', cache, '--store', store.dir, '--closure-file', closureFile(dir, store.names.slice(0, 2))]).stdout).key as string;
  const fixture = buildFixture();
  const jail = spawn(process.execPath, [CLI, 'exec', '--cache-dir', cache, '--', `${fixture.app}/bin/sh`, '-c', 'echo ready; sleep 30'], {stdio: ['ignore', 'pipe', 'inherit'], env: nixEnv()});
  await new Promise<void>(resolve => jail.stdout!.on('data', () => resolve()));
  const masks = fs.readdirSync(path.join(cache, 'masks'));
  assert.is(masks.length, 2);
  const busy = masks.find(key => key !== idle)!;

  const dry = JSON.parse(run(['gc', '--json', '--dry-run', '--max-age', '0', '--cache-dir', cache]).stdout) as GcReport;
  assert.equal(dry.removed.map(entry => entry.key), [idle]);
  assert.equal(dry.inUse, [busy]);
  assert.equal(fs.readdirSync(path.join(cache, 'masks')).sort(), masks.sort(), '--dry-run removed nothing');

  const real = JSON.parse(run(['gc', '--json', '--max-age', '0', '--cache-dir', cache]).stdout) as GcReport;
  assert.equal(real.removed.map(entry => entry.key), [idle]);
  assert.equal(fs.readdirSync(path.join(cache, 'masks')), [busy], 'the mask in use survives');
  jail.kill('SIGTERM');
  await new Promise(resolve => jail.on('close', resolve));

  const after = JSON.parse(run(['gc', '--json', '--max-age', '0', '--cache-dir', cache]).stdout) as GcReport;
  assert.equal(after.removed.map(entry => entry.key), [busy], 'once the jail ended its mask can go');
  assert.equal(fs.readdirSync(path.join(cache, 'masks')), []);
});

gcTest('should keep recently used masks under --max-age and trim the oldest beyond --max-size', () => {
  const dir = tempDir('gc-size');
  const cache = path.join(dir, 'cache');
  const store = makeStore(path.join(dir, 'store'), 3000);
  const keys = [0, 1, 2].map(index => {
    const list = path.join(dir, `c${index}`);
    fs.mkdirSync(list);
    return JSON.parse(run(['build', '--json', '--cache-dir', cache, '--store', store.dir, '--closure-file', closureFile(list, [store.names[index]!])]).stdout).key as string;
  });
  // Make the first the least recently used.
  const past = new Date(Date.now() - 3600_000);
  fs.utimesSync(path.join(cache, 'masks', keys[0]!, 'used'), past, past);
  assert.equal((JSON.parse(run(['gc', '--json', '--cache-dir', cache]).stdout) as GcReport).removed, [], 'all used within 30 days');
  const trimmed = JSON.parse(run(['gc', '--json', '--max-size', '1', '--cache-dir', cache]).stdout) as GcReport;
  assert.equal(trimmed.removed.map(entry => entry.key), keys, 'least recently used first, down to the limit');
  assert.equal(trimmed.removed.map(entry => entry.reason), ['beyond --max-size', 'beyond --max-size', 'beyond --max-size']);
});

gcTest('should refuse a directory it did not make', () => {
  const dir = tempDir('gc-foreign');
  fs.chmodSync(dir, 0o700);
  fs.writeFileSync(path.join(dir, 'precious'), 'keep me');
  const result = run(['gc', '--max-age', '0', '--cache-dir', dir]);
  assert.is(result.status, 125);
  assert.match(result.stderr, /refusing .*: it is not a cache directory made by nix-overlay-jail/);
  assert.is(fs.readFileSync(path.join(dir, 'precious'), 'utf8'), 'keep me');
});

gc.run();

// ---

const wrap = suite('wrap');
const wrapTest = when(wrap, missing('root', 'nix', 'bwrap'));

wrapTest('should write a launcher that runs the program jailed, passing arguments and status through', () => {
  const fixture = buildFixture();
  const dir = tempDir('wrap');
  const profileLink = path.join(dir, 'sh');
  fs.symlinkSync(`${fixture.app}/bin/sh`, profileLink);
  const launcher = path.join(dir, 'jailed-sh');
  const written = run(['wrap', '--out', launcher, '--cache-dir', path.join(dir, 'cache'), '--setenv', 'FROM_WRAP=yes', profileLink, '-c']);
  assert.is(written.status, 0, written.stderr);
  assert.is(written.stdout.trim(), launcher);
  assert.ok((fs.statSync(launcher).mode & 0o111) !== 0, 'executable');
  assert.match(fs.readFileSync(launcher, 'utf8'), new RegExp(`'${fixture.app}/bin/sh'`), 'the command is pinned to its store path');

  const script = 'printf "<%s>" "$FROM_WRAP" "$@"; ls /nix/store | wc -l; exit 9';
  const result = spawnText(launcher, [script, 'sh', 'a b', "'q'", '$(x)']);
  assert.is(result.status, 9);
  assert.is(result.stdout, `<yes><a b><'q'><$(x)>${fixture.closure.length}\n`);

  assert.is(run(['wrap', '--out', launcher, profileLink]).status, 125, 'an existing file needs --force');
  assert.is(run(['wrap', '--force', '--out', launcher, profileLink]).status, 0);
});

wrapTest('should bind what was named relative to where the launcher was written, wherever it runs', () => {
  const fixture = buildFixture();
  const made = tempDir('wrap-here');
  const elsewhere = tempDir('wrap-elsewhere');
  for (const [dir, text] of [[made, 'the data it was written with'], [elsewhere, 'another directory\'s data']] as const) {
    fs.mkdirSync(path.join(dir, 'data'));
    fs.writeFileSync(path.join(dir, 'data', 'file'), `${text}\n`);
  }
  const launcher = path.join(made, 'jailed');
  const written = run(['wrap', '--out', 'jailed', '--cache-dir', 'cache', '--bind', 'data:/data', `${fixture.app}/bin/sh`, '-c'], {cwd: made});
  assert.is(written.status, 0, written.stderr);
  const result = spawnText(launcher, ['cat /data/file; echo changed > /data/file'], elsewhere);
  assert.is(result.status, 0);
  assert.is(result.stdout, 'the data it was written with\n');
  assert.is(fs.readFileSync(path.join(elsewhere, 'data', 'file'), 'utf8'), 'another directory\'s data\n', 'the other directory was not made writable');
  assert.ok(fs.existsSync(path.join(made, 'cache', 'masks')), 'the cache is where it was named');
  const stdin = run(['wrap', '--out', path.join(made, 'stdin'), '--closure-file', '-', `${fixture.app}/bin/sh`], {cwd: made, input: `${fixture.app}\n`});
  assert.is(stdin.status, 125);
  assert.match(stdin.stderr, /--closure-file - reads standard input/);
  assert.not.ok(fs.existsSync(path.join(made, 'stdin')));
  tally('input', 2);
});

wrap.run();

// ---

const quiet = suite('a first run');

when(quiet, missing('root', 'nix'))('should build the demo closure without warnings about binary caches', () => {
  // The demo builds with the options the tests use; a fresh tag makes Nix really build.
  assert.match(fs.readFileSync(path.join(ROOT, 'scripts/demo.sh'), 'utf8'), `nix-build fixtures/nix/closure.nix --no-out-link ${NO_SUBSTITUTES.slice(0, 2).join(' ')} ''`);
  const busybox = busyboxStorePath();
  const build = spawnSync('nix-build', [path.join(ROOT, 'fixtures/nix/closure.nix'), '--no-out-link', ...NO_SUBSTITUTES, '-A', 'app',
    '--argstr', 'busybox', busybox, '--argstr', 'tag', `quiet-${process.pid}-${Date.now()}`], {encoding: 'utf8', env: nixEnv()});
  assert.is(build.status, 0, build.stderr);
  assert.match(build.stderr, /will be built/, 'it really built');
  assert.not.match(build.stderr, /warning/i);
});

quiet.run();

function spawnText(command: string, args: string[], cwd?: string): {status: number | null; stdout: string} {
  const result = spawnSync(command, args, {encoding: 'utf8', env: nixEnv(), cwd});
  return {status: result.status, stdout: result.stdout};
}

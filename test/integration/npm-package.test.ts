/**
 * The npm package as someone without this repository gets it: `npm pack`, then
 * `npm install -g --prefix` of the tarball into a fresh directory (its dependencies from the
 * registry npm is configured with), `doctor` and a jail from there, as root and as the test
 * user, and `npx`. And nix/lock-resolved.mjs, which gives Nix's fetcher the addresses npm
 * itself fetched the lockfile's packages from.
 */
import {execFileSync, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {collect, collectAsUser, settledStore, tempDir} from '../helpers/cli.js';
import {missing, when} from '../helpers/env.js';
import {buildFixture, nixEnv, ROOT} from '../helpers/nix.js';

const npmPackage = suite('npm package');
const test = when(npmPackage, missing('root', 'nix', 'test-user'));

const MANIFEST = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string; files: string[]};
const npm = (args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string => {
  const result = spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {cwd, env, encoding: 'utf8'});
  if (result.status !== 0) throw new Error(`npm ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
};

let installed: {prefix: string; tarball: string} | undefined;

/** Pack the built tree (the test command built it: no prepack here) and install it globally into a fresh prefix. */
const install = (): {prefix: string; tarball: string} => {
  if (installed !== undefined) return installed;
  const dir = tempDir('npm-package');
  fs.chmodSync(dir, 0o755);
  const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)) as Array<{filename: string}>;
  const tarball = path.join(dir, packed[0]!.filename);
  const prefix = path.join(dir, 'prefix');
  // Installed from /: no project around it, as on a machine without this repository.
  npm(['install', '--global', '--prefix', prefix, '--prefer-offline', tarball], '/');
  installed = {prefix, tarball};
  return installed;
};

test('should pack only what runs: the bundle, its code cache and launcher, package.json and the README', () => {
  const {tarball} = install();
  const files = execFileSync('tar', ['-tzf', tarball], {encoding: 'utf8'}).trim().split('\n').sort();
  assert.equal(files, ['package/README.md', 'package/dist/bin/cli.cjs', 'package/dist/bin/cli.cjs.cache', 'package/dist/bin/nix-overlay-jail', 'package/dist/bin/nix-overlay-jail.cjs', 'package/dist/bin/profiles/agent.json', 'package/dist/bin/profiles/ci.json', 'package/package.json']);
  assert.equal(MANIFEST.files, ['dist/bin']);
});

test('should run doctor and a jail from a global install, from its code cache, as root and as the test user, warm the second time', async () => {
  const {prefix} = install();
  const binary = path.join(prefix, 'bin/nix-overlay-jail');
  assert.ok(fs.lstatSync(binary).isSymbolicLink(), 'npm links the bin');
  const fixture = buildFixture();
  const sh = path.join(fixture.app, 'bin/sh');
  // A whiteout mask made within 2 s of a store change gets no plan (launch.test.ts).
  await settledStore();
  for (const [who, start] of [
    ['root', (args: string[], env: NodeJS.ProcessEnv = {}) => collect(binary, args, {...nixEnv(), ...env})],
    ['test user', (args: string[], env: NodeJS.ProcessEnv = {}) => collectAsUser(binary, args, env)],
  ] as const) {
    const version = start(['--version']);
    assert.is(version.stdout.trim(), MANIFEST.version, `${who}: ${version.stderr}`);
    const doctor = start(['doctor']);
    assert.match(doctor.stdout, /ok +code cache: this binary started from the V8 code cache its build made/, who);
    assert.match(doctor.stdout, /exec can work here/, `${who}: ${doctor.stdout}${doctor.stderr}`);
    const jail = start(['exec', '--', sh, '-c', 'echo "$0"', 'from the installed package']);
    assert.is(jail.status, 0, `${who}: ${jail.stderr}`);
    assert.is(jail.stdout, 'from the installed package\n', who);
    const listing = start(['exec', '--', sh, '-c', 'ls -a /nix/store']);
    assert.equal(listing.stdout.trim().split('\n').sort(), ['.', '..', ...fixture.closure.map(entry => path.basename(entry))].sort(), who);
    // The installed command is the front: the same exec again starts from the plan the first recorded.
    const warm = start(['exec', '--', sh, '-c', 'ls -a /nix/store'], {NIX_OVERLAY_JAIL_REQUIRE_PLAN: '1'});
    assert.is(warm.status, 0, `${who}: ${warm.stderr}`);
    assert.is(warm.stdout, listing.stdout, who);
  }
});

test('should run with npx from the packed tarball', () => {
  const {tarball} = install();
  // A cache of its own: npx installs the package there, and leaves the user's as it was.
  const home = tempDir('npx-home');
  const result = spawnSync('npx', ['--yes', '--package', tarball, '--', 'nix-overlay-jail', '--version'],
    {cwd: home, env: {...process.env, npm_config_loglevel: 'error', npm_config_cache: path.join(home, 'cache')}, encoding: 'utf8'});
  assert.is(result.status, 0, result.stderr);
  assert.is(result.stdout.trim(), MANIFEST.version);
});

test('should give every registry package of the lockfile the address npm itself fetched it from (nix/lock-resolved.mjs)', () => {
  const dir = tempDir('lock-resolved');
  const lockfile = path.join(dir, 'package-lock.json');
  fs.copyFileSync(path.join(ROOT, 'package-lock.json'), lockfile);
  const registry = npm(['config', 'get', 'registry'], ROOT);
  execFileSync(process.execPath, [path.join(ROOT, 'nix/lock-resolved.mjs'), registry, lockfile]);
  const lock = JSON.parse(fs.readFileSync(lockfile, 'utf8')) as {packages: Record<string, {resolved?: string; link?: boolean}>};
  // The cache npm ci filled: its index keys are the addresses npm fetched.
  const index = path.join(npm(['config', 'get', 'cache'], ROOT), '_cacache/index-v5');
  const fetched = new Set<string>();
  for (const file of fs.readdirSync(index, {recursive: true, withFileTypes: true})) {
    if (!file.isFile()) continue;
    for (const line of fs.readFileSync(path.join(file.parentPath ?? file.path, file.name), 'utf8').split('\n')) {
      const at = line.indexOf('\t');
      if (at !== -1) fetched.add((JSON.parse(line.slice(at + 1)) as {key: string}).key);
    }
  }
  let checked = 0;
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '') {
      assert.is(entry.resolved, undefined, 'the project itself has no address');
      continue;
    }
    assert.ok(entry.resolved?.startsWith(registry), `${key}: ${entry.resolved}`);
    // Packages for other platforms (esbuild's) were not installed here, so not fetched.
    if (!fs.existsSync(path.join(ROOT, key))) continue;
    assert.ok(fetched.has(`make-fetch-happen:request-cache:${entry.resolved}`), `${key}: npm did not fetch ${entry.resolved}`);
    checked += 1;
  }
  assert.ok(checked > 100, `${checked} packages checked`);
  // A scoped package, an alias, a nested copy, a link and one already resolved, by construction.
  const crafted = path.join(dir, 'crafted.json');
  fs.writeFileSync(crafted, JSON.stringify({lockfileVersion: 3, packages: {
    '': {name: 'x'},
    'node_modules/@scope/pkg': {version: '1.2.3', integrity: 'sha512-a'},
    'node_modules/alias': {name: 'real', version: '2.0.0', integrity: 'sha512-b'},
    'node_modules/a/node_modules/b': {version: '3.0.0', integrity: 'sha512-c'},
    'node_modules/linked': {resolved: 'packages/linked', link: true},
    'node_modules/given': {version: '1.0.0', resolved: 'https://elsewhere.invalid/given.tgz', integrity: 'sha512-d'},
  }}));
  execFileSync(process.execPath, [path.join(ROOT, 'nix/lock-resolved.mjs'), 'https://registry.invalid/npm', crafted]);
  const resolved = Object.fromEntries(Object.entries((JSON.parse(fs.readFileSync(crafted, 'utf8')) as typeof lock).packages).map(([key, entry]) => [key, entry.resolved]));
  assert.equal(resolved, {
    '': undefined,
    'node_modules/@scope/pkg': 'https://registry.invalid/npm/@scope/pkg/-/pkg-1.2.3.tgz',
    'node_modules/alias': 'https://registry.invalid/npm/real/-/real-2.0.0.tgz',
    'node_modules/a/node_modules/b': 'https://registry.invalid/npm/b/-/b-3.0.0.tgz',
    'node_modules/linked': 'packages/linked',
    'node_modules/given': 'https://elsewhere.invalid/given.tgz',
  });
});

npmPackage.run();

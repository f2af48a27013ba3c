/**
 * Host resources, for real: links from the host into the store resolve in the jail with the
 * store paths they need and nothing more; --net reaches a local HTTPS server through the CA
 * bundle the host trusts (and only with --net, and only with that CA); a NixOS-shaped /etc,
 * made in a private mount namespace, serves the CA bundle, the time zone and the fonts
 * through /etc/static. For each mounting way, as root and as an ordinary user.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {collect, run, tempDir, type Collected, type Run} from '../helpers/cli.js';
import {mountingWays, type Caller} from '../helpers/callers.js';
import {missing, TEST_USER, when} from '../helpers/env.js';
import {buildFixture, closureOf, debianPrograms, nixEnv, nixosEtc, type NixosEtc} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';
import {makeTestCa, startHttpsServer, type HttpsServer, type TestCa} from '../helpers/tls.js';

const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

interface World {
  ca: TestCa;
  server: HttpsServer;
  nixos: NixosEtc;
  /** The system's bundle with the test CA, and without it; readable by the test user. */
  trusting: string;
  distrusting: string;
}

let world: World | undefined;
const setUp = async (): Promise<World> => {
  if (world !== undefined) return world;
  const dir = tempDir('tls');
  fs.chmodSync(dir, 0o755);
  const ca = makeTestCa(dir);
  const system = fs.readFileSync(SYSTEM_BUNDLE, 'utf8');
  const trusting = path.join(dir, 'trusting.pem');
  const distrusting = path.join(dir, 'distrusting.pem');
  fs.writeFileSync(trusting, `${system}\n${ca.caPem}`, {mode: 0o644});
  fs.writeFileSync(distrusting, system, {mode: 0o644});
  world = {ca, server: await startHttpsServer(ca), nixos: nixosEtc(ca.caPem), trusting, distrusting};
  return world;
};
process.on('exit', () => world?.server.stop());

/** A host tree shaped like NixOS's /etc, in a directory of the caller's: links through `static` into the store. */
const nixosShapedTree = (caller: Caller, nixos: NixosEtc): string => {
  const tree = path.join(tempDir('nixos-tree', caller.user ? TEST_USER : undefined), 'etc');
  fs.mkdirSync(path.join(tree, 'ssl', 'certs'), {recursive: true});
  fs.symlinkSync(`${nixos.etc}/etc`, path.join(tree, 'static'));
  fs.symlinkSync(path.join(tree, 'static/ssl/certs/ca-certificates.crt'), path.join(tree, 'ssl/certs/ca-certificates.crt'));
  fs.symlinkSync(path.join(tree, 'zoneinfo/Europe/Berlin'), path.join(tree, 'localtime'));
  fs.symlinkSync('static/zoneinfo', path.join(tree, 'zoneinfo'));
  fs.symlinkSync(path.join(tree, 'static/fonts'), path.join(tree, 'fonts'));
  return tree;
};

/** What the jail's store must hold: the program's closure, …-etc alone, the closures of what the chains end in. */
const expectedStore = (program: string, nixos: NixosEtc): string[] =>
  [...new Set(['.', '..', ...closureOf(program), path.basename(nixos.etc), ...closureOf(nixos.cacert, nixos.tzdata, nixos.fontsConf)])].sort();

for (const caller of mountingWays) {
  const host = suite(`host resources, as ${caller.name}`);
  const hostTest = when(host, caller.needs);
  let cache = '';
  host.before(() => {
    if (caller.needs === undefined) cache = caller.cache();
  });
  const exec = (args: string[], env: NodeJS.ProcessEnv = caller.env()): Collected => {
    const [command, argv] = caller.command(['exec', '--cache-dir', cache, ...args]);
    return collect(command, argv, env);
  };

  hostTest('--net: curl reaches a local HTTPS server through the CA bundle the host trusts; without --net it cannot connect; without the CA it fails verification', async () => {
    const {server, trusting, distrusting} = await setUp();
    const {programs} = debianPrograms(['curl', 'date']);
    const curl = ['--', `${programs}/bin/curl`, '-sS', '--max-time', '20', `https://localhost:${server.port}/`];
    const env = (bundle: string): NodeJS.ProcessEnv => ({...caller.env(), NIX_SSL_CERT_FILE: bundle});
    const reached = exec(['--net', ...curl], env(trusting));
    assert.is(reached.status, 0, reached.stderr);
    assert.is(reached.stdout, 'hello from the host\n');
    const isolated = exec(curl, env(trusting));
    assert.is(isolated.status, 7, `curl: couldn't connect (${isolated.stderr})`);
    const distrusted = exec(['--net', ...curl], env(distrusting));
    assert.is(distrusted.status, 60, `curl: the peer's certificate cannot be verified (${distrusted.stderr})`);
    tally('escape', 1);
  });

  hostTest('links from a bound host path into the store resolve in the jail, with the entries they pass through and the closures they end in only', async () => {
    const {nixos} = await setUp();
    const tree = nixosShapedTree(caller, nixos);
    const app = buildFixture().app;
    const binds = ['--ro-bind', path.join(tree, 'ssl'), '--ro-bind', path.join(tree, 'localtime'), '--ro-bind', path.join(tree, 'fonts')];
    const script = `ls -a /nix/store; echo ==; readlink ${tree}/localtime; cat ${tree}/ssl/certs/ca-certificates.crt | head -1; cat ${tree}/fonts/fonts.conf; ls ${nixos.fontFiles}/share/fonts; cat ${nixos.unrelated}/secret.txt 2>&1; cmp ${tree}/localtime /usr/share/zoneinfo/Europe/Berlin 2>&1; true`;
    const result = exec([...binds, '--', `${app}/bin/sh`, '-c', script]);
    assert.is(result.status, 0, result.stderr);
    const [listing, rest] = result.stdout.split('==\n') as [string, string];
    assert.equal(listing.trim().split('\n').sort(), expectedStore(app, nixos));
    assert.not.ok(listing.includes(path.basename(nixos.unrelated)), '…-etc\'s closure does not come along');
    const lines = rest.split('\n');
    assert.is(lines[0], `${tree}/zoneinfo/Europe/Berlin`, 'the link itself, as on the host');
    assert.is(lines[1], '-----BEGIN CERTIFICATE-----');
    assert.is(lines[2], `<fontconfig><dir>${nixos.fontFiles}/share/fonts</dir></fontconfig>`);
    assert.is(lines[3], 'noj.pcf');
    assert.match(lines[4]!, /No such file or directory/);
    // The jail has no /usr: cmp fails to open it, having opened the time zone through the chain.
    assert.match(lines[5]!, /\/usr\/share\/zoneinfo\/Europe\/Berlin: No such file/);
    tally('escape', 1);

    // --dry-run names each added store path and what brought it.
    const dry = exec(['--dry-run', ...binds, '--', `${app}/bin/sh`, '-c', 'true']);
    assert.is(dry.status, 0, dry.stderr);
    const adds = dry.stderr.split('\n').filter(line => line.includes(': adds '));
    assert.equal(adds.map(line => line.replace(/^nix-overlay-jail: adds /, '')).sort(), [
      `${nixos.cacert}, with its closure, for --ro-bind (through ${tree}/ssl/certs/ca-certificates.crt)`,
      `${nixos.etc}, alone, for --ro-bind (through ${tree}/localtime)`,
      `${nixos.fontsConf}, with its closure, for --ro-bind (through ${tree}/fonts)`,
      `${nixos.tzdata}, with its closure, for --ro-bind (through ${tree}/localtime)`,
    ].sort());

    // Warm: the closures of the added paths are cached; nix-store is never called again.
    const shim = tempDir('failing-nix-store');
    fs.chmodSync(shim, 0o755);
    const log = path.join(shim, 'calls');
    fs.writeFileSync(path.join(shim, 'nix-store'), `#!/bin/sh\necho "$@" >> '${log}'\nexit 1\n`, {mode: 0o755});
    const env = caller.env();
    const warm = exec([...binds, '--', `${app}/bin/sh`, '-c', 'ls /nix/store | wc -l'], {...env, PATH: `${shim}:${env['PATH']}`});
    assert.is(warm.status, 0, warm.stderr);
    assert.is(Number(warm.stdout), expectedStore(app, nixos).length - 2);
    assert.not.ok(fs.existsSync(log), 'a warm exec with host resources called nix-store');
  });

  if (!caller.user) hostTest('a NixOS-shaped /etc (in a private mount namespace): --net --locale --fonts serve the CA bundle, the time zone and the fonts through /etc/static', async () => {
    const {server, nixos, ca} = await setUp();
    // A copy of /etc with NixOS's links, mounted over /etc in a mount namespace of the test's own.
    const etc = path.join(tempDir('nixos-etc'), 'etc');
    execFileSync('cp', ['-a', '/etc', etc]);
    for (const name of ['static', 'ssl/certs/ca-certificates.crt', 'localtime', 'zoneinfo', 'fonts']) fs.rmSync(path.join(etc, name), {recursive: true, force: true});
    fs.symlinkSync(`${nixos.etc}/etc`, path.join(etc, 'static'));
    fs.symlinkSync('/etc/static/ssl/certs/ca-certificates.crt', path.join(etc, 'ssl/certs/ca-certificates.crt'));
    fs.symlinkSync('/etc/zoneinfo/Europe/Berlin', path.join(etc, 'localtime'));
    fs.symlinkSync('/etc/static/zoneinfo', path.join(etc, 'zoneinfo'));
    fs.symlinkSync('/etc/static/fonts', path.join(etc, 'fonts'));
    // And a /run holding /run/opengl-driver, a link into the store as NixOS makes it.
    const runDir = tempDir('nixos-run');
    fs.symlinkSync(nixos.drivers, path.join(runDir, 'opengl-driver'));
    const inNixosNamespace = (args: string[], env: NodeJS.ProcessEnv = caller.env()): Collected => {
      const [command, argv] = caller.command(['exec', '--cache-dir', cache, '--net', '--locale', '--fonts', ...args]);
      return collect('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc && mount --bind "$1" /run && shift && exec "$@"', etc, runDir, command, ...argv], env);
    };
    const app = buildFixture().app;
    const script = 'ls -a /nix/store; echo ==; for link in /etc/localtime /etc/zoneinfo /etc/static; do readlink $link; done; head -2 /etc/ssl/certs/ca-certificates.crt | tail -1; cat /etc/fonts/fonts.conf; echo "$SSL_CERT_FILE $NIX_SSL_CERT_FILE"';
    const viewed = inNixosNamespace(['--', `${app}/bin/sh`, '-c', script]);
    assert.is(viewed.status, 0, viewed.stderr);
    const [listing, rest] = viewed.stdout.split('==\n') as [string, string];
    assert.equal(listing.trim().split('\n').sort(), expectedStore(app, nixos));
    assert.not.ok(listing.includes(path.basename(nixos.drivers)), 'no driver without --gpu');
    assert.equal(rest.trim().split('\n'), [
      '/etc/zoneinfo/Europe/Berlin', '/etc/static/zoneinfo', `${nixos.etc}/etc`,
      ca.caPem.split('\n')[1], // the test CA's, from the bundle in the store
      `<fontconfig><dir>${nixos.fontFiles}/share/fonts</dir></fontconfig>`,
      '/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt',
    ]);

    // --gpu: /run/opengl-driver is the same link in the jail, with the drivers' closure.
    const gpu = inNixosNamespace(['--gpu', '--', `${app}/bin/sh`, '-c', 'ls -a /nix/store; echo ==; readlink /run/opengl-driver; cat /run/opengl-driver/lib/dri/noj_dri.so']);
    assert.is(gpu.status, 0, gpu.stderr);
    const [gpuListing, gpuRest] = gpu.stdout.split('==\n') as [string, string];
    assert.equal(gpuListing.trim().split('\n').sort(), [...new Set([...expectedStore(app, nixos), ...closureOf(nixos.drivers)])].sort());
    assert.is(gpuRest, `${nixos.drivers}\na driver\n`);
    if (!fs.existsSync('/dev/dri')) assert.match(gpu.stderr, /^nix-overlay-jail: --gpu: this host has no \/dev\/dri; going on without$/m);

    // Real programs through the chains: curl trusts the test CA from the NixOS bundle (no
    // variable names it), date reads the zone from /etc/localtime (TZ unset).
    const {programs} = debianPrograms(['curl', 'date']);
    const env = {...caller.env()};
    delete env['NIX_SSL_CERT_FILE'];
    delete env['SSL_CERT_FILE'];
    delete env['TZ'];
    const reached = inNixosNamespace(['--', `${programs}/bin/curl`, '-sS', '--max-time', '20', `https://localhost:${server.port}/`], env);
    assert.is(reached.status, 0, reached.stderr);
    assert.is(reached.stdout, 'hello from the host\n');
    const zone = inNixosNamespace(['--', `${programs}/bin/date`, '-d', '2026-01-15 12:00 UTC', '+%Z %H'], env);
    assert.is(zone.status, 0, zone.stderr);
    assert.is(zone.stdout, 'CET 13\n', 'Berlin\'s winter time, from the zone file in the store');
    tally('escape', 1);
  });

  host.run();
}

// ---

const profiles = suite('--profile');

when(profiles, missing('root', 'nix', 'bwrap'))('should give the same jail as the same options on the command line, which add to it or win', () => {
  const app = buildFixture().app;
  const dir = tempDir('profiles');
  fs.mkdirSync(path.join(dir, 'data'));
  const cache = tempDir('profile-cache');
  const browser = path.join(dir, 'browser.json');
  fs.writeFileSync(browser, JSON.stringify({'net': true, 'locale': true, 'ro-bind': ['data:/data'], 'setenv': ['A=1'], 'mode': 'whiteout'}));
  const extra = path.join(dir, 'extra.json');
  fs.writeFileSync(extra, JSON.stringify({fonts: true, setenv: 'B=2'}));
  const dryRun = (options: string[]): Run => run(['exec', '--cache-dir', cache, '--dry-run', ...options, '--', `${app}/bin/sh`, '-c', 'true']);
  const fromProfiles = dryRun(['--profile', browser, '--profile', extra]);
  assert.is(fromProfiles.status, 0, fromProfiles.stderr);
  const fromFlags = dryRun(['--net', '--locale', '--ro-bind', `${dir}/data:/data`, '--setenv', 'A=1', '--mode', 'whiteout', '--fonts', '--setenv', 'B=2']);
  assert.is(fromFlags.status, 0, fromFlags.stderr);
  assert.is(fromProfiles.stdout, fromFlags.stdout);
  assert.is(fromProfiles.stderr, fromFlags.stderr);
  // The command line comes after: --mode wins, --setenv adds, --no-net turns the profile's off.
  const overridden = dryRun(['--profile', browser, '--mode', 'allowlist', '--setenv', 'C=3', '--no-net']);
  const same = dryRun(['--locale', '--ro-bind', `${dir}/data:/data`, '--setenv', 'A=1', '--mode', 'allowlist', '--setenv', 'C=3']);
  assert.is(overridden.status, 0, overridden.stderr);
  assert.is(overridden.stdout, same.stdout);
});

when(profiles, missing('root', 'nix', 'bwrap'))('should say in one line what a host option lacks and go on, or with --strict fail with 125', () => {
  const app = buildFixture().app;
  const cache = tempDir('strict-cache');
  const env = {...nixEnv(), NIX_SSL_CERT_FILE: '/nonexistent/ca.pem'};
  const lenient = run(['exec', '--cache-dir', cache, '--net', '--', `${app}/bin/sh`, '-c', 'echo started; ls /etc/ssl 2>&1; true'], {env});
  assert.is(lenient.status, 0, lenient.stderr);
  // (A host without netbase lacks /etc/services and /etc/protocols too: named in the same line.)
  assert.match(lenient.stderr, /^nix-overlay-jail: --net: this host has no (\S+, )*\/nonexistent\/ca\.pem; going on without\n$/);
  assert.match(lenient.stdout, /^started\n.*No such file or directory/);
  const strict = run(['exec', '--cache-dir', cache, '--net', '--strict', '--', `${app}/bin/sh`, '-c', 'echo started'], {env});
  assert.is(strict.status, 125);
  assert.is(strict.stdout, '');
  assert.match(strict.stderr, /^nix-overlay-jail: --net: this host has no (\S+, )*\/nonexistent\/ca\.pem \(--strict\)\n$/);
  tally('input', 1);
});

when(profiles, missing('root', 'nix', 'bwrap'))('should refuse every bad profile in one line, with 125, having started nothing', () => {
  const app = buildFixture().app;
  const dir = tempDir('bad-profiles');
  const cases: Array<[string, string | undefined, RegExp]> = [
    ['missing.json', undefined, /^cannot read profile .*missing\.json: /],
    ['not-json.json', '{"net": true,', /^profile .*not-json\.json: not JSON \(/],
    ['array.json', '["--net"]', /^profile .*array\.json: not a JSON object of options$/],
    ['unknown.json', '{"network": true}', /^profile .*unknown\.json: unknown option "network"$/],
    ['type.json', '{"net": "yes"}', /^profile .*type\.json: "net" must be true or false$/],
    ['store.json', '{"bind": "/tmp:/nix/store/x"}', /^profile .*store\.json: refusing bind onto \/nix\/store\/x/],
  ];
  for (const [name, text, message] of cases) {
    const file = path.join(dir, name);
    if (text !== undefined) fs.writeFileSync(file, text);
    const result = run(['exec', '--cache-dir', path.join(dir, 'cache'), '--profile', file, '--', `${app}/bin/sh`, '-c', 'echo started']);
    assert.is(result.status, 125, name);
    assert.is(result.stdout, '', name);
    const lines = result.stderr.trimEnd().split('\n');
    assert.is(lines.length, 1, result.stderr);
    assert.match(lines[0]!.replace(/^nix-overlay-jail: /, ''), message);
    tally('input', 1);
  }
  assert.not.ok(fs.existsSync(path.join(dir, 'cache')), 'nothing written');
});

profiles.run();

// ---

const verifying = suite('verify with host resources');

when(verifying, missing('root', 'nix', 'bwrap'))('should check the store paths host resources add, naming each and what brought it', async () => {
  const {nixos} = await setUp();
  const app = buildFixture().app;
  const tree = nixosShapedTree(mountingWays[0]!, nixos);
  const cache = tempDir('verify-host-cache');
  for (const mode of ['allowlist', 'whiteout']) {
    const result = run(['verify', '--mode', mode, '--cache-dir', cache, '--ro-bind', path.join(tree, 'localtime'), '--ro-bind', path.join(tree, 'fonts'), app]);
    assert.is(result.status, 0, result.stdout + result.stderr);
    assert.equal(result.stdout.split('\n').filter(line => line.startsWith('added: ')).sort(), [
      `added: ${nixos.etc}, alone, for --ro-bind (through ${tree}/localtime)`,
      `added: ${nixos.fontsConf}, with its closure, for --ro-bind (through ${tree}/fonts)`,
      `added: ${nixos.tzdata}, with its closure, for --ro-bind (through ${tree}/localtime)`,
    ].sort());
    const size = new Set([...closureOf(app), path.basename(nixos.etc), ...closureOf(nixos.tzdata, nixos.fontsConf)]).size;
    assert.match(result.stdout, new RegExp(`^ok: the jail sees exactly the closure \\(${size} paths, ${mode} mask`, 'm'));
  }
});

verifying.run();

/**
 * Where Nix users are: flake.nix, default.nix, nix/package.nix, lib.wrap and the NixOS module,
 * evaluated and built with this machine's Nix (Debian's 2.8) against the stand-in nixpkgs in
 * fixtures/nixpkgs: there is no nixpkgs, binary cache or network here. The project's flake is
 * used as a user's checkout gives it (its tracked files, no node_modules or dist), through
 * path: references, `--override-input nixpkgs` and a consumer flake that follows it.
 *
 * What a wrapper does is checked for real: its jail's `ls -a /nix/store` is the package's
 * closure, as root and as the test user, with a nix-store on PATH that fails and records being
 * called; its desktop entries start it; a bad option fails its build.
 */
import {execFileSync, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {collect, collectAsUser, tempDir} from '../helpers/cli.js';
import {missing, when} from '../helpers/env.js';
import {NO_SUBSTITUTES, nixEnv, ROOT} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';

const packaging = suite('Nix packaging');
const test = when(packaging, missing('root', 'nix', 'test-user'));

const FLAKES = ['--extra-experimental-features', 'nix-command', '--extra-experimental-features', 'flakes'];
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}).version;

interface Places {
  /** The project as a checkout gives it: the files git tracks (and new ones it does not ignore). */
  checkout: string;
  /** The stand-in nixpkgs with busybox and host.nix added. */
  standin: string;
  /** A world-writable directory: the failing nix-store's record of its calls. */
  shared: string;
}

let places: Places | undefined;

const nixOut = (args: readonly string[]): string => {
  const result = spawnSync(args[0]!, args.slice(1), {env: nixEnv(), encoding: 'utf8', maxBuffer: 64 << 20});
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed (${result.status}):\n${result.stderr.slice(-4000)}`);
  return result.stdout.trim();
};

/** `nix build INSTALLABLE … --json`: its out path. (With several installables, --json lists them in no set order.) */
const flakeBuild = (installable: string, ...args: string[]): string => {
  const built = JSON.parse(nixOut(['nix', ...FLAKES, 'build', '--no-link', '--json', '--no-write-lock-file', ...NO_SUBSTITUTES, installable, ...args])) as Array<{outputs: {out: string}}>;
  assert.is(built.length, 1);
  return built[0]!.outputs.out;
};

const nixBuild = (file: string, ...args: string[]): string => nixOut(['nix-build', file, '--no-out-link', ...NO_SUBSTITUTES, ...args]);

/** The node_modules a stand-in build copies: the checkout's, or a copy a build user can read. */
const readableNodeModules = (dir: string): string => {
  const modules = path.join(ROOT, 'node_modules');
  const readable = spawnSync('setpriv', ['--reuid=nixbld1', '--regid=nixbld', '--clear-groups', '--', 'test', '-r', path.join(modules, 'typescript/package.json')], {stdio: 'ignore'}).status === 0;
  if (readable) return modules;
  const copy = path.join(dir, 'node_modules');
  fs.cpSync(modules, copy, {recursive: true, verbatimSymlinks: true});
  return copy;
};

const setUp = (): Places => {
  if (places !== undefined) return places;
  const dir = tempDir('nix-packaging');
  fs.chmodSync(dir, 0o755);
  const checkout = path.join(dir, 'checkout');
  fs.mkdirSync(checkout);
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {cwd: ROOT});
  execFileSync('sh', ['-c', `tar --null -T - -cf - | tar -xf - -C '${checkout}'`], {cwd: ROOT, input: files});
  const standin = path.join(dir, 'nixpkgs');
  fs.cpSync(path.join(ROOT, 'fixtures/nixpkgs'), standin, {recursive: true});
  fs.mkdirSync(path.join(standin, 'busybox/bin'), {recursive: true});
  fs.copyFileSync(fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox', path.join(standin, 'busybox/bin/busybox'));
  fs.chmodSync(path.join(standin, 'busybox/bin/busybox'), 0o555);
  const npm = fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], {encoding: 'utf8'}).trim());
  fs.writeFileSync(path.join(standin, 'host.nix'),
    `{ node = ${JSON.stringify(process.execPath)}; npm = ${JSON.stringify(npm)}; nodeModules = ${JSON.stringify(readableNodeModules(dir))}; }\n`);
  const shared = path.join(dir, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o1777);
  places = {checkout, standin, shared};
  return places;
};

/** A file of Nix in the test's directory: the stand-in, the checkout and a package to jail, named. */
const expression = (name: string, body: string): string => {
  const {checkout, standin, shared} = setUp();
  const file = path.join(path.dirname(checkout), `${name}.nix`);
  fs.writeFileSync(file, `let
  pkgs = import ${standin} { };
  checkout = ${checkout};
  lister = import ${path.join(checkout, 'fixtures/nix/jailed-package.nix')} pkgs;
  # nix-store that records its calls and fails: a launch must need none.
  failingNix = pkgs.runCommand "nix" { } ''
    mkdir -p $out/bin
    printf '#!%s\\necho "$0 $*" >> ${shared}/nix-store-calls\\nexit 1\\n' \${pkgs.runtimeShell} > $out/bin/nix-store
    chmod 0555 $out/bin/nix-store
  '';
in
${body}
`);
  return file;
};

/** A Nix string holding `text` exactly. */
const nixString = (text: string): string =>
  `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$\{/g, '\\${').replace(/\n/g, '\\n')}"`;
const nixList = (words: readonly string[]): string => `[ ${words.map(nixString).join(' ')} ]`;

/** The lister jailed by nix/wrap.nix, with a CLI whose nix-store fails and records its calls. */
const jailedLister = (options: string[]): {jailed: string; lister: string; man: string} => {
  const file = expression('jailed', `let
  cli = pkgs.callPackage (checkout + "/nix/package.nix") { nix = failingNix; };
in {
  inherit lister;
  jailed = (pkgs.callPackage (checkout + "/nix/wrap.nix") { nix-overlay-jail = cli; }) { package = lister; options = ${nixList(options)}; };
}`);
  const [lister, man, jailed] = nixBuild(file, '-A', 'lister', '-A', 'lister.man', '-A', 'jailed').split('\n') as [string, string, string];
  return {jailed, lister, man};
};

const closureNames = (root: string): string[] =>
  ['.', '..', ...nixOut(['nix-store', '-qR', root]).split('\n').map(entry => path.basename(entry))].sort();

test('should parse every .nix file of the project', () => {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.nix'], {cwd: ROOT, encoding: 'utf8'}).trim().split('\n');
  for (const name of ['flake.nix', 'default.nix', 'nix/package.nix', 'nix/wrap.nix', 'nix/module.nix']) assert.ok(files.includes(name), name);
  for (const file of files) nixOut(['nix-instantiate', '--parse', path.join(ROOT, file)]);
});

test('should build the flake\'s package from a checkout, run it with nix run, and put bubblewrap and the rest on its PATH', () => {
  const {checkout, standin} = setUp();
  const cli = flakeBuild(`path:${checkout}#default`, '--override-input', 'nixpkgs', `path:${standin}`);
  const version = nixOut(['nix', ...FLAKES, 'run', '--no-write-lock-file', ...NO_SUBSTITUTES, `path:${checkout}#`,
    '--override-input', 'nixpkgs', `path:${standin}`, '--', '--version']);
  assert.is(version, VERSION);
  // The wrapper's PATH: the tools exec starts, ahead of the caller's.
  const wrapper = fs.readFileSync(path.join(cli, 'bin/nix-overlay-jail'), 'utf8');
  for (const tool of ['bubblewrap', 'util-linux', 'coreutils', 'attr', 'nix', 'xdg-dbus-proxy', 'fuse-overlayfs']) assert.match(wrapper, new RegExp(`/nix/store/[a-z0-9]{32}-${tool}/bin[:"$]`), tool);
  // Its unit tests ran in the build, and it starts from the code cache the build made.
  const log = nixOut(['nix', ...FLAKES, 'log', cli]);
  assert.match(log, /Passed: +\d{3}/);
  const doctor = collect(path.join(cli, 'bin/nix-overlay-jail'), ['doctor'], nixEnv());
  assert.match(doctor.stdout, /ok +code cache: this binary started from the V8 code cache its build made/);
  // default.nix builds the same package (from the same sources).
  assert.is(nixBuild(path.join(checkout, 'default.nix'), '--arg', 'pkgs', `import ${standin} { }`), cli);
});

test('should jail a wrapped package with exactly its build-time closure, as root and as the test user, running no nix-store', () => {
  const {shared} = setUp();
  const {jailed, lister} = jailedLister(['--setenv', 'GREETING=$GREETING_FROM_HOST', '--setenv', 'ODD=a b `id` $(id) ${ODD_SUFFIX-} \\ " \'']);
  const secret = path.join(path.dirname(shared), 'outsider');
  fs.mkdirSync(secret, {recursive: true});
  fs.writeFileSync(path.join(secret, 'secret'), 'outside the closure\n');
  const outsider = nixOut(['nix-store', '--add', secret]);
  const program = path.join(jailed, 'bin/lister');
  const runners: Array<[string, (args: string[], env?: NodeJS.ProcessEnv) => ReturnType<typeof collect>]> = [
    ['root', (args, env = {}) => collect(program, args, {...nixEnv(), ...env})],
    ['test user', (args, env = {}) => collectAsUser(program, args, env)],
  ];
  assert.is(collect('cat', [path.join(outsider, 'secret')], nixEnv()).stdout, 'outside the closure\n');
  for (const [who, jail] of runners) {
    const listing = jail(['ls']);
    assert.is(listing.status, 0, `${who}: ${listing.stderr}`);
    assert.equal(listing.stdout.trim().split('\n').sort(), closureNames(lister), who);
    assert.is(jail(['exit', '7']).status, 7, who);
    const reach = jail(['cat', path.join(outsider, 'secret')]);
    assert.is.not(reach.status, 0, who);
    assert.match(reach.stderr, /No such file or directory/, who);
    // $NAME expands at launch; nothing else in an option does.
    assert.is(jail(['env', 'GREETING'], {GREETING_FROM_HOST: 'hello from the host'}).stdout, 'hello from the host\n', who);
    assert.is(jail(['env', 'ODD'], {ODD_SUFFIX: 'and more'}).stdout, `a b \`id\` $(id) and more \\ " '\n`, who);
    tally('escape', 1);
  }
  assert.not.ok(fs.existsSync(path.join(shared, 'nix-store-calls')), 'nix-store ran at launch');
  // The failing nix-store is the one on the CLI's PATH: asked for a closure, exec does call it.
  const cli = fs.readFileSync(program, 'utf8').match(/exec (\S+\/bin\/nix-overlay-jail) /)![1]!;
  assert.is.not(collect(cli, ['exec', '--', lister + '/bin/lister', 'ls'], nixEnv()).status, 0);
  assert.ok(fs.existsSync(path.join(shared, 'nix-store-calls')), 'the shim is what exec would have run');
  fs.rmSync(path.join(shared, 'nix-store-calls'));
});

test('should carry the package\'s share/, man pages from its man output, and rewrite its desktop entries to start the wrapper', () => {
  const {jailed, lister, man} = jailedLister([]);
  const wrapper = path.join(jailed, 'bin/lister');
  assert.is(fs.realpathSync(path.join(jailed, 'share/man')), path.join(man, 'share/man'));
  assert.is(fs.realpathSync(path.join(jailed, 'share/icons')), path.join(lister, 'share/icons'));
  const byName = fs.readFileSync(path.join(jailed, 'share/applications/lister.desktop'), 'utf8');
  assert.match(byName, new RegExp(`^Exec=${wrapper} %U$`, 'm'));
  assert.match(byName, new RegExp(`^TryExec=${wrapper}$`, 'm'));
  const byPath = fs.readFileSync(path.join(jailed, 'share/applications/lister-path.desktop'), 'utf8');
  assert.match(byPath, new RegExp(`^Exec=${wrapper} ls$`, 'm'));
  assert.match(byPath, /^Icon=lister$/m);
  if (spawnSync('sh', ['-c', 'command -v desktop-file-validate'], {stdio: 'ignore'}).status === 0) {
    for (const entry of ['lister.desktop', 'lister-path.desktop']) {
      const check = spawnSync('desktop-file-validate', [path.join(jailed, 'share/applications', entry)], {encoding: 'utf8'});
      assert.is(check.status, 0, check.stdout + check.stderr);
    }
  }
});

test('should fail the build of a wrapper whose options exec would refuse', () => {
  for (const [options, message] of [
    [['--nett'], /unknown option --nett/],
    [['--setenv', 'NOT A NAME=1'], /--setenv needs NAME=VALUE/],
    [['--mount-with', 'fusion'], /--mount-with must be one of/],
  ] as Array<[string[], RegExp]>) {
    const file = expression('bad-option', `(import checkout { inherit pkgs; }).wrap { package = lister; options = ${nixList(options)}; }`);
    const result = spawnSync('nix-build', [file, '--no-out-link', ...NO_SUBSTITUTES], {env: nixEnv(), encoding: 'utf8'});
    assert.is.not(result.status, 0, options.join(' '));
    assert.match(result.stderr, message);
    tally('input', 1);
  }
});

test('should give lib.wrap, the overlay and the NixOS module through the flake, to a flake that follows its nixpkgs', () => {
  const {checkout, standin} = setUp();
  const consumer = path.join(path.dirname(checkout), 'consumer');
  fs.mkdirSync(consumer, {recursive: true});
  fs.copyFileSync(path.join(checkout, 'fixtures/nix/jailed-package.nix'), path.join(consumer, 'jailed-package.nix'));
  fs.writeFileSync(path.join(consumer, 'flake.nix'), `{
  inputs.nixpkgs.url = "path:${standin}";
  inputs.jail.url = "path:${checkout}";
  inputs.jail.inputs.nixpkgs.follows = "nixpkgs";
  outputs = { nixpkgs, jail, ... }:
    let
      pkgs = nixpkgs.legacyPackages.x86_64-linux;
      overlaid = import nixpkgs { system = "x86_64-linux"; overlays = [ jail.overlays.default ]; };
      lister = import ./jailed-package.nix pkgs;
      module = jail.nixosModules.default { inherit (pkgs) lib; inherit pkgs; };
    in {
      packages.x86_64-linux = {
        wrapped = jail.lib.wrap { package = lister; options = [ "--setenv" "VIA=lib.wrap" ]; };
        overlaid = overlaid.nix-overlay-jail-wrap { package = lister; options = [ "--setenv" "VIA=overlay" ]; };
        cli = jail.packages.x86_64-linux.default;
        moduleDefault = module.programs.nix-overlay-jail.package.content;
      };
      moduleImports = map toString module.imports;
    };
}
`);
  const [wrapped, overlaid, cli, moduleDefault] = ['wrapped', 'overlaid', 'cli', 'moduleDefault'].map(name => flakeBuild(`path:${consumer}#${name}`));
  assert.is(moduleDefault, cli, 'the flake\'s module defaults to the flake\'s package');
  const imports = JSON.parse(nixOut(['nix', ...FLAKES, 'eval', '--json', '--no-write-lock-file', `path:${consumer}#moduleImports`])) as string[];
  assert.equal(imports.map(file => path.basename(file)), ['module.nix']);
  for (const [wrapper, via] of [[wrapped!, 'lib.wrap'], [overlaid!, 'overlay']] as const) {
    const script = fs.readFileSync(path.join(wrapper, 'bin/lister'), 'utf8');
    assert.ok(script.includes(`exec ${cli}/bin/nix-overlay-jail exec --closure-file `), script);
    const run = collect(path.join(wrapper, 'bin/lister'), ['env', 'VIA'], nixEnv());
    assert.is(run.stdout, `${via}\n`, run.stderr);
  }
});

test('should install the command and one wrapper per jail from the NixOS module, given a configuration (stand-in lib: no module system here)', () => {
  const file = expression('module', `let
  cli = pkgs.callPackage (checkout + "/nix/package.nix") { };
  module = enable: import (checkout + "/nix/module.nix") {
    inherit pkgs;
    inherit (pkgs) lib;
    config.programs.nix-overlay-jail = {
      inherit enable;
      package = cli;
      jails.listing = { package = lister; program = "lister"; name = "listing"; options = [ "--setenv" "VIA=module" ]; };
      jails.plain = { package = lister; program = null; name = "plain"; options = [ ]; };
    };
  };
  on = module true;
  jailOptions = (on.options.programs.nix-overlay-jail.jails.type.of.module { name = "some-jail"; }).options;
in {
  inherit cli;
  installed = on.config.content.environment.systemPackages;
  summary = [
    on.config.condition
    (module false).config.condition
    (builtins.attrNames on.options.programs.nix-overlay-jail)
    (builtins.attrNames jailOptions)
    jailOptions.name.default
  ];
}`);
  const summary = JSON.parse(nixOut(['nix-instantiate', '--eval', '--strict', '--json', file, '-A', 'summary'])) as unknown;
  assert.equal(summary, [true, false, ['enable', 'jails', 'package'], ['name', 'options', 'package', 'program'], 'some-jail']);
  const [cli, first, second, third] = nixBuild(file, '-A', 'cli', '-A', 'installed').split('\n');
  assert.is(first, cli, 'the command itself is installed');
  const wrappers = new Map([second!, third!].map(out => [fs.readdirSync(path.join(out, 'bin'))[0]!, out]));
  assert.equal([...wrappers.keys()].sort(), ['listing', 'plain']);
  const listing = collect(path.join(wrappers.get('listing')!, 'bin/listing'), ['env', 'VIA'], nixEnv());
  assert.is(listing.stdout, 'module\n', listing.stderr);
  assert.is(collect(path.join(wrappers.get('plain')!, 'bin/plain'), ['exit', '3'], nixEnv()).status, 3);
});

packaging.run();

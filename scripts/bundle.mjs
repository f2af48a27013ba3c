// Build the installed binary, in three files under dist/bin:
//
//   cli.cjs                  the CLI bundled into one CommonJS file. Measured on `exec -- true`
//                            with a 1,000-path closure: tsc's ~30 ES modules 114 ms, an
//                            ES-module bundle 105 ms, one CommonJS file 97 ms (Node's ES-module
//                            loader resolves and links each module asynchronously; require() of
//                            one file does not). Commands are initialised lazily inside it;
//                            execa and meow stay in node_modules and are imported dynamically.
//   cli.cjs.cache            V8's code cache for it, with every function compiled: a start
//                            then compiles nothing (~5 ms of each `exec`).
//   nix-overlay-jail.cjs     the launcher (src/launcher.cts) that runs cli.cjs from the cache.
//   profiles/NAME.json       the shipped profiles (src/profiles/), for --profile ci and agent.
//   nix-overlay-jail         the front (src/launch/front.ts), the installed command: a shell
//                            script that starts an exec it has seen before from its launch
//                            plan, and runs nix-overlay-jail.cjs (beside its real path, with
//                            the node on PATH) for everything else.
import fs from 'node:fs';
import Module from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';
import {build} from 'esbuild';

/**
 * esbuild turns every default import of a Node built-in into a copy of all its properties,
 * once per importing module (`__toESM(require("node:fs"))`: 25 modules import fs; ~4 ms of
 * each start). Built-ins are only default-imported here, and this plugin hands them over as
 * they are; a named import of a built-in fails the build ("No matching export").
 */
const builtinsAsIs = {
  name: 'builtins-as-is',
  setup(plugin) {
    plugin.onResolve({filter: /^node:/}, args =>
      args.kind === 'import-statement' ? {path: args.path, namespace: 'builtin'} : undefined);
    plugin.onLoad({filter: /.*/, namespace: 'builtin'}, args =>
      ({contents: `export default require(${JSON.stringify(args.path)});`, loader: 'js'}));
  },
};

const BIN = 'dist/bin';
const CLI = `${BIN}/cli.cjs`;
fs.rmSync(BIN, {recursive: true, force: true});
await build({
  entryPoints: ['dist/src/cli.js'],
  outfile: CLI,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['execa', 'meow'],
  plugins: [builtinsAsIs],
  logLevel: 'warning',
});
// The launcher wraps the bundle in a function, where a #! line is a syntax error.
const source = fs.readFileSync(CLI, 'utf8').replace(/^#!.*/, '');
fs.writeFileSync(CLI, source);

// Compile every function now (not lazily, as V8 would at run time) and keep the code. The
// cache carries a hash of V8's flags: put --lazy back before writing it, or V8 rejects it.
const compile = cachedData => new vm.Script(Module.wrap(source), {filename: CLI, cachedData});
v8.setFlagsFromString('--no-lazy');
const eager = compile(undefined);
v8.setFlagsFromString('--lazy');
const cache = eager.createCachedData();
if (compile(cache).cachedDataRejected) {
  console.warn('bundle: V8 rejects the code cache it just made; the binary will compile at each start');
} else {
  fs.writeFileSync(`${CLI}.cache`, cache);
}

fs.copyFileSync('dist/src/launcher.cjs', `${BIN}/nix-overlay-jail.cjs`);
fs.chmodSync(`${BIN}/nix-overlay-jail.cjs`, 0o755);

const {frontScript} = await import('../dist/src/launch/front.js');
fs.writeFileSync(`${BIN}/nix-overlay-jail`, frontScript({node: 'node', cli: ''}), {mode: 0o755});

fs.mkdirSync(`${BIN}/profiles`);
for (const name of fs.readdirSync('src/profiles').filter(file => file.endsWith('.json'))) fs.copyFileSync(`src/profiles/${name}`, `${BIN}/profiles/${name}`);

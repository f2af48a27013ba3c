// Bundle the CLI into one CommonJS file. Measured on `exec -- true` with a 1,000-path closure:
// tsc's ~30 ES modules 114 ms, an ES-module bundle 105 ms, this 97 ms (Node's ES-module loader
// resolves and links each module asynchronously; require() of one file does not). Commands are
// initialised lazily inside the bundle; execa and meow stay in node_modules and are
// imported dynamically, only by the commands that need them.
import fs from 'node:fs';
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

fs.rmSync('dist/bin', {recursive: true, force: true});
await build({
  entryPoints: ['dist/src/cli.js'],
  outfile: 'dist/bin/nix-overlay-jail.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['execa', 'meow'],
  plugins: [builtinsAsIs],
  logLevel: 'warning',
});

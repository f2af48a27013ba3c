// Bundle the CLI: loading a few modules instead of ~30 saves ~10 ms of every jail's start-up.
// Code splitting keeps each command's module (and what it imports, such as execa) in a chunk
// of its own that is loaded only when that command runs; execa, meow and fs-extra stay in
// node_modules.
import {build} from 'esbuild';

await build({
  entryPoints: {'nix-overlay-jail': 'dist/src/cli.js'},
  outdir: 'dist/bin',
  outExtension: {'.js': '.mjs'},
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['execa', 'meow', 'fs-extra'],
  logLevel: 'warning',
});

// The unit tests alone, fast: esbuild transpiles src/ and the unit tests into dist/ (the tree
// tsc would write, one file each, no type check) and uvu runs them. For `npm run test:unit`
// and for the mutation run (scripts/stryker.config.mjs), which runs this once per mutant in
// a sandbox copy of the project; `npm test` still builds with tsc and runs everything.
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sources = (dir) => fs.readdirSync(path.join(root, dir), {recursive: true, withFileTypes: true})
  .filter(entry => entry.isFile() && entry.name.endsWith(".ts"))
  .map(entry => path.join(entry.parentPath ?? entry.path, entry.name))
  .filter(file => !file.includes(`${path.sep}integration${path.sep}`));

await build({
  entryPoints: [...sources('src'), ...sources('test')],
  outdir: path.join(root, 'dist'),
  outbase: root,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'error',
});
const result = spawnSync(process.execPath, [path.join(root, 'node_modules/uvu/bin.js'), path.join(root, 'dist/test'), '^(?!integration/).*\\.test\\.js$', '--bail'],
  {stdio: 'inherit', cwd: root});
process.exit(result.status ?? 1);

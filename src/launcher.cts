#!/usr/bin/env node
/**
 * The installed binary: runs the bundled CLI (cli.cjs beside this file) from the V8 code
 * cache the build made for it (cli.cjs.cache), so a start compiles none of its functions.
 *
 * V8 checks the cache against the source and its own version and flags, and rejects one that
 * does not match (another Node.js, an edited bundle): the CLI then compiles as usual. Nothing
 * is written here; the cache is made once, by `npm run build`.
 */
import fs = require('node:fs');
import Module = require('node:module');
import path = require('node:path');
import vm = require('node:vm');

const file = path.join(__dirname, 'cli.cjs');
let cachedData: Buffer | undefined;
try {
  cachedData = fs.readFileSync(`${file}.cache`);
} catch {
  // no cache: compile as usual
}
const lend = globalThis as Record<symbol, unknown>;
// Code from a cache has no loader behind its import(): lend this module's (src/launcher-globals.ts).
lend[Symbol.for('nix-overlay-jail.import-package')] = (specifier: string) => import(specifier);

const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), {filename: file, cachedData});
// For doctor: a rejected cache (Node.js changed since the build) means slower starts.
lend[Symbol.for('nix-overlay-jail.code-cache')] = cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'used';
const cli = new Module(file, module);
cli.filename = file;
(script.runInThisContext() as (...args: unknown[]) => void)
  .call(cli.exports, cli.exports, Module.createRequire(file), cli, file, __dirname);

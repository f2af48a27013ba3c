/**
 * Closures from the local Nix: `nix-store -qR`, through the daemon or the local store as the
 * user's Nix is set up (NIX_REMOTE and friends are passed through untouched).
 */
import {JailError} from '../errors.js';
import {loadExeca} from '../process.js';
import {entryOfListedPath, JAIL_STORE, type StoreEntryName} from '../store.js';

export const nixClosure = async (
  roots: readonly StoreEntryName[],
  prefixes: readonly string[],
): Promise<Set<StoreEntryName>> => {
  if (roots.length === 0) return new Set();
  const paths = roots.map(name => `${JAIL_STORE}/${name}`);
  const execa = await loadExeca();
  const result = await execa('nix-store', ['--query', '--requisites', '--', ...paths], {
    reject: false,
    stdin: 'ignore',
    maxBuffer: 512 * 1024 * 1024,
  });
  if (result.failed) {
    if ((result as {code?: string}).code === 'ENOENT') {
      throw new JailError('nix', 'nix-store not found on PATH: install Nix, or pass the closure with --closure-file or --graph');
    }
    const detail = result.stderr.trim().split('\n').filter(Boolean).pop() ?? `exit ${result.exitCode}`;
    throw new JailError('nix', `nix-store -qR ${paths.join(' ')} failed: ${detail} (pass the closure with --closure-file or --graph)`);
  }
  const names = new Set<StoreEntryName>();
  for (const line of result.stdout.split('\n')) {
    if (line !== '') names.add(entryOfListedPath(line, prefixes, 'nix-store -qR'));
  }
  return names;
};

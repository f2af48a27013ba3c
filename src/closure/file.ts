/**
 * Closure files: one store path per line, as nixpkgs' `closureInfo` writes `store-paths`.
 * Parsing is pure; reading is the only I/O here.
 */
import fs from 'node:fs';
import {JailError, reason} from '../errors.js';
import {entryOfListedPath, type StoreEntryName} from '../store.js';

/**
 * The entry names a closure file lists. CRLF line ends, blank lines and duplicates are
 * tolerated (editors and `sort` produce them); a relative path, a `..` or a path outside
 * the store is an error naming the line.
 */
export const parseClosureFile = (
  text: string,
  prefixes: readonly string[],
  source: string,
): Set<StoreEntryName> => {
  const names = new Set<StoreEntryName>();
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const rawLine = lines[index]!;
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line.trim() === '') continue;
    names.add(entryOfListedPath(line, prefixes, source, index + 1));
  }
  return names;
};

/** Read a closure file, or standard input for `-`. */
export const readClosureFile = (file: string): string => {
  try {
    // Stryker disable next-line all: standard input is read in the integration tests.
    const source = file === '-' ? 0 : file;
    return fs.readFileSync(source, 'utf8');
  } catch (error) {
    throw new JailError('bad-closure', `cannot read closure file ${file}: ${reason(error)}`);
  }
};

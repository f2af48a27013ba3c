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
  lines: for (let index = 0; index < lines.length; index++) {
    const rawLine = lines[index]!;
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    // Fast path for the usual line, PREFIX/NAME: a start-up reads thousands of them.
    for (const prefix of prefixes) {
      if (line.startsWith(prefix) && line.charCodeAt(prefix.length) === SLASH) {
        const name = line.slice(prefix.length + 1);
        if (PLAIN_ENTRY_NAME.test(name)) {
          names.add(name);
          continue lines;
        }
      }
    }
    if (line.trim() === '') continue;
    names.add(entryOfListedPath(line, prefixes, `${source}:${index + 1}`));
  }
  return names;
};

const SLASH = 0x2f;
/** An entry name that needs no further checks: no slash, no leading dot, nothing a line cannot hold. */
const PLAIN_ENTRY_NAME = /^[^/.\0\r\n][^/\0\r\n]*$/;

/** Read a closure file, or standard input for `-`. */
export const readClosureFile = (file: string): string => {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new JailError('bad-closure', `cannot read closure file ${file}: ${reason(error)}`);
  }
};

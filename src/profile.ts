/**
 * --profile FILE: options from a JSON object, as a pure function from the parsed JSON to the
 * option words the command line would give (`{"net": true, "ro-bind": ["/a"]}` →
 * `--net --ro-bind=/a`). Keys are the long options as typed; a switch takes true or false, an
 * option with a value a string, a repeatable one a string or an array of strings. Relative
 * host paths are taken from the profile's directory, so a profile means the same from
 * anywhere.
 */
import path from 'node:path';
import type {FlagSpec} from './argv.js';
import {absoluteOptions} from './commands/wrap.js';
import {JailError} from './errors.js';

/**
 * Options a profile cannot hold: they are about this one run (or launcher), not about the jail,
 * or are a launcher's own (--launch-plan, --launch-words).
 */
export const NOT_IN_PROFILES = new Set(['profile', 'dry-run', 'parse-only', 'out', 'force', 'desktop-file', 'desktop-name', 'launch-plan', 'launch-words']);

const camel = (kebab: string): string => kebab.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

export const profileOptions = (value: unknown, file: string, specs: Readonly<Record<string, FlagSpec>>): string[] => {
  const wrong = (message: string): JailError => new JailError('usage', `profile ${file}: ${message}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw wrong('not a JSON object of options');
  const words: string[] = [];
  for (const [key, given] of Object.entries(value as Record<string, unknown>)) {
    // Only the table's own names: `constructor` or `to-string` are no options, whatever objects inherit.
    const spec = /^[a-z][a-z0-9-]*$/.test(key) && !NOT_IN_PROFILES.has(key) && Object.hasOwn(specs, camel(key)) ? specs[camel(key)] : undefined;
    if (spec === undefined) throw wrong(`unknown option ${JSON.stringify(key)}`);
    if (spec.type === 'boolean') {
      if (typeof given !== 'boolean') throw wrong(`${JSON.stringify(key)} must be true or false`);
      words.push(given ? `--${key}` : `--no-${key}`);
      continue;
    }
    const values = spec.isMultiple && Array.isArray(given) ? given : [given];
    if (!values.every(item => typeof item === 'string')) {
      throw wrong(`${JSON.stringify(key)} must be a string${spec.isMultiple ? ' or an array of strings' : ''}`);
    }
    for (const item of values as string[]) {
      if (spec.choices && !spec.choices.includes(item)) throw wrong(`${JSON.stringify(key)} must be one of ${spec.choices.join(', ')}`);
      words.push(`--${key}=${item}`);
    }
  }
  try {
    return absoluteOptions(words, path.dirname(path.resolve(file)));
  } catch (error) {
    throw error instanceof JailError ? wrong(error.message) : error;
  }
};

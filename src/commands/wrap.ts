/**
 * `wrap`: write a small launcher that runs a command through `nix-overlay-jail exec` with fixed
 * options, so a jailed program can go on PATH or into a desktop file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {JailError, reason} from '../errors.js';
import {parseBind, splitBind} from '../jail/args.js';

/** Quote one word for sh: single quotes, with each ' written as '\''. */
export const shellQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * The launcher's text, pure. Every word is quoted, so what the launcher runs is exactly the
 * words given here followed by the launcher's own arguments ("$@").
 */
export const launcherScript = (node: string, cli: string, execOptions: readonly string[], command: readonly string[]): string => {
  if ([node, cli, ...execOptions, ...command].some(word => word.includes('\0'))) {
    throw new JailError('usage', 'a launcher cannot carry a NUL byte');
  }
  const words = [node, cli, 'exec', ...execOptions, '--', ...command].map(shellQuote).join(' \\\n  ');
  return `#!/bin/sh\n# Written by nix-overlay-jail wrap: runs the command below in a jail whose /nix/store\n# holds only its closure.\nexec ${words} \\\n  "$@"\n`;
};

/** Options whose values are host paths (a bind's source, for the binds). */
const PATH_OPTIONS = new Set(['cache-dir', 'store', 'closure-file', 'graph', 'also', 'home', 'profile']);
const BIND_OPTIONS = new Set(['bind', 'ro-bind']);

/**
 * The launcher's options with every host path made absolute against `cwd`, as a pure
 * function: a launcher runs from anywhere, and a relative path would be taken from wherever
 * that is (`--bind data:/data` would bind another directory's data, writable). A closure
 * file read from standard input would read the program's input instead: refused.
 */
export const absoluteOptions = (options: readonly string[], cwd: string): string[] =>
  options.map(option => {
    const match = /^--([a-z-]+)=([\s\S]*)$/.exec(option);
    if (match === null) return option;
    const [, name, value] = match as unknown as [string, string, string];
    if ((name === 'closure-file' || name === 'graph') && value === '-') {
      throw new JailError('usage', `--${name} - reads standard input, which a launcher's program uses: give a file`);
    }
    if (PATH_OPTIONS.has(name)) return `--${name}=${path.resolve(cwd, value)}`;
    if (BIND_OPTIONS.has(name)) {
      const {dest} = parseBind(value, name === 'ro-bind');
      return `--${name}=${path.resolve(cwd, splitBind(value)[0])}:${dest}`;
    }
    return option;
  });

export interface WrapOptions {
  out: string;
  force: boolean;
  execOptions: string[];
  command: string[];
  node: string;
  cli: string;
}

/** Write the launcher atomically, executable, refusing to replace a file without --force. */
export const wrapCommand = (options: WrapOptions): string => {
  if (options.command.length === 0) throw new JailError('usage', 'no command given (usage: nix-overlay-jail wrap --out FILE [options] COMMAND [ARG...])');
  const out = path.resolve(options.out);
  if (!options.force && fs.existsSync(out)) throw new JailError('usage', `${out} exists: pass --force to replace it`);
  const script = launcherScript(options.node, options.cli, options.execOptions, options.command);
  const temporary = path.join(path.dirname(out), `.${path.basename(out)}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(temporary, script, {mode: 0o755, flag: 'wx'});
    fs.renameSync(temporary, out);
  } catch (error) {
    fs.rmSync(temporary, {force: true});
    throw new JailError('usage', `cannot write launcher ${out}: ${reason(error)}`);
  }
  return out;
};

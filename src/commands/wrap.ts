/**
 * `wrap`: write a small launcher that runs a command through `nix-overlay-jail exec` with fixed
 * options, so a jailed program can go on PATH or into a desktop file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {JailError, reason} from '../errors.js';
import {parseBind, splitBind} from '../jail/args.js';
import {launcherScript, type LauncherPlan} from '../launch/launcher.js';
import {BUILT_IN_PROFILES} from '../profiles/builtin.js';

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
    // A shipped profile is named, not a path: the binary finds it wherever it is installed.
    if (name === 'profile' && (BUILT_IN_PROFILES as readonly string[]).includes(value)) return option;
    if (PATH_OPTIONS.has(name)) return `--${name}=${path.resolve(cwd, value)}`;
    if (BIND_OPTIONS.has(name)) {
      const {dest} = parseBind(value, name === 'ro-bind');
      return `--${name}=${path.resolve(cwd, splitBind(value)[0])}:${dest}`;
    }
    return option;
  });

/**
 * One argument of a desktop entry's Exec key, quoted as the Desktop Entry Specification asks:
 * in double quotes when it holds a reserved character, with `"`, `` ` ``, `$` and `\` escaped
 * by a backslash; `%` doubled (a field code otherwise); then, since Exec is a string value,
 * every backslash doubled again.
 */
export const desktopExecWord = (word: string): string => {
  if (/[\x00-\x1f\x7f]/.test(word)) throw new JailError('usage', `a desktop entry cannot run ${JSON.stringify(word)}: it holds a control character`);
  const quoted = /[\s"'\\><~|&;$*?#()`]/.test(word) || word === '' ? `"${word.replace(/["`$\\]/g, character => `\\${character}`)}"` : word;
  return quoted.replace(/%/g, '%%').replace(/\\/g, '\\\\');
};

/** A desktop entry that starts `launcher`, pure. `name` is what menus show. */
export const desktopEntry = (name: string, launcher: string): string => {
  if (name.trim() === '' || /[\x00-\x1f\x7f]/.test(name)) throw new JailError('usage', `--desktop-name ${JSON.stringify(name)}: a desktop entry's name is one line of text`);
  const text = name.replace(/\\/g, '\\\\');
  return [
    '[Desktop Entry]',
    'Type=Application',
    `Name=${text}`,
    `Comment=${text}, jailed by nix-overlay-jail: its /nix/store holds only its closure`,
    `Exec=${desktopExecWord(launcher)}`,
    `TryExec=${launcher.replace(/\\/g, '\\\\')}`,
    'Terminal=false',
    '',
  ].join('\n');
};

export interface WrapOptions {
  out: string;
  force: boolean;
  execOptions: string[];
  command: string[];
  node: string;
  cli: string;
  /** Where the launcher's exec records its launch plan, and what the launcher checks of it. */
  plan?: LauncherPlan | undefined;
  /** Also write a desktop entry that runs the launcher, named `desktopName`. */
  desktopFile?: string | undefined;
  desktopName?: string | undefined;
}

/** Write `text` to `file` atomically with `mode`: a temporary file beside it, then a rename. */
const writeAtomically = (file: string, text: string, mode: number, what: string): void => {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  try {
    fs.writeFileSync(temporary, text, {mode, flag: 'wx'});
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, {force: true});
    throw new JailError('usage', `cannot write ${what} ${file}: ${reason(error)}`);
  }
};

/**
 * Write the launcher (and the desktop entry) atomically, refusing to replace a file without
 * --force. Everything is checked before anything is written, and a launcher written for an
 * entry that then cannot be written is taken back.
 */
export const wrapCommand = (options: WrapOptions): string => {
  if (options.command.length === 0) throw new JailError('usage', 'no command given (usage: nix-overlay-jail wrap --out FILE [options] COMMAND [ARG...])');
  const out = path.resolve(options.out);
  const entryFile = options.desktopFile === undefined ? undefined : path.resolve(options.desktopFile);
  if (entryFile === out) throw new JailError('usage', `--desktop-file and --out are the same file ${out}`);
  for (const file of [out, entryFile]) {
    if (file !== undefined && !options.force && fs.existsSync(file)) throw new JailError('usage', `${file} exists: pass --force to replace it`);
  }
  if ([options.node, options.cli, ...options.execOptions, ...options.command].some(word => word.includes('\0'))) {
    throw new JailError('usage', 'a launcher cannot carry a NUL byte');
  }
  const script = launcherScript({node: options.node, cli: options.cli, execOptions: options.execOptions, command: options.command, plan: options.plan});
  const entry = entryFile === undefined ? undefined : desktopEntry(options.desktopName ?? path.basename(options.command[0]!), out);
  const existed = fs.existsSync(out);
  writeAtomically(out, script, 0o755, 'launcher');
  if (entryFile !== undefined && entry !== undefined) {
    try {
      writeAtomically(entryFile, entry, 0o644, 'desktop entry');
    } catch (error) {
      if (!existed) fs.rmSync(out, {force: true});
      throw error;
    }
  }
  return out;
};

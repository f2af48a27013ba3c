/**
 * Setting trusted.* extended attributes, which Node cannot do: every attribute of a build goes
 * into one dump in getfattr's format and one `setfattr --restore` call, so a closure of
 * thousands of paths costs one process, not one per path.
 */
import childProcess from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {JailError} from '../errors.js';

export interface XattrAssignment {
  file: string;
  name: string;
  value: string;
}

/** Escape a path for a `# file:` line: octal for every byte outside a safe set. */
const escapePath = (file: string): string =>
  [...Buffer.from(file, 'utf8')].map(byte => {
    const char = String.fromCharCode(byte);
    return /[A-Za-z0-9/._+=@-]/.test(char) ? char : `\\${byte.toString(8).padStart(3, '0')}`;
  }).join('');

/** The dump setfattr --restore reads, as a pure function; values are written in hex. */
export const xattrDump = (assignments: readonly XattrAssignment[]): string => {
  const byFile = new Map<string, XattrAssignment[]>();
  for (const assignment of assignments) byFile.set(assignment.file, [...(byFile.get(assignment.file) ?? []), assignment]);
  return [...byFile].map(([file, list]) =>
    `# file: ${escapePath(file)}\n${list.map(({name, value}) => `${name}=0x${Buffer.from(value, 'utf8').toString('hex')}`).join('\n')}\n`,
  ).join('\n');
};

export const setXattrs = (assignments: readonly XattrAssignment[]): void => {
  if (assignments.length === 0) return;
  const dump = path.join(os.tmpdir(), `nix-overlay-jail-xattrs-${crypto.randomBytes(6).toString('hex')}`);
  fs.writeFileSync(dump, xattrDump(assignments), {mode: 0o600, flag: 'wx'});
  try {
    const result = childProcess.spawnSync('setfattr', [`--restore=${dump}`], {stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'});
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new JailError('missing-tool', 'setfattr not found on PATH: install attr (allowlist masks need it)');
    }
    if (result.status !== 0) {
      const detail = result.stderr.trim().split('\n').pop() ?? `exit ${result.status}`;
      throw new JailError('whiteout', `cannot set trusted.overlay attributes: ${detail} (allowlist masks need real root and a filesystem with trusted xattrs)`);
    }
  } finally {
    fs.rmSync(dump, {force: true});
  }
};

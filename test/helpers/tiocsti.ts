/**
 * A program that tries to push a byte into its terminal with TIOCSTI, compiled statically
 * with the machine's C compiler and added to the store, so that it can run in a jail.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {nixEnv} from './nix.js';

const SOURCE = `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
int main(void) {
  char c = '#';
  int r = ioctl(0, TIOCSTI, &c);
  printf("TIOCSTI %s\\n", r == 0 ? "SUCCEEDED" : strerror(errno));
  return r == 0;
}
`;

let built: string | undefined;

export const tiocstiProgram = (): string => {
  if (built) return built;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-tiocsti-'));
  try {
    fs.writeFileSync(path.join(dir, 'tiocsti.c'), SOURCE);
    const tree = path.join(dir, 'noj-tiocsti');
    fs.mkdirSync(path.join(tree, 'bin'), {recursive: true});
    execFileSync('cc', ['-static', '-O2', '-o', path.join(tree, 'bin', 'tiocsti'), path.join(dir, 'tiocsti.c')]);
    built = `${execFileSync('nix-store', ['--add', tree], {encoding: 'utf8', env: nixEnv()}).trim()}/bin/tiocsti`;
    return built;
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
};

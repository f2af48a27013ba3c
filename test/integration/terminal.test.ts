/**
 * A jailed program at a real terminal (tmux), for each mounting way, as root and as a user:
 * Ctrl-C, Ctrl-\ and a hang-up reach the program's own handler and its exit status comes
 * back; a program without a handler dies of Ctrl-C (130); Ctrl-Z stops the jail and fg
 * continues it; /dev/tty opens inside the jail.
 *
 * The program reports through files in a directory bound at /out; the job runs under a small
 * wrapper that records its exit status (and ignores the terminal's signals itself, so that it
 * lives to record it).
 */
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {shellQuote} from '../../src/launch/shell.js';
import {mountingWays, type Caller} from '../helpers/callers.js';
import {when} from '../helpers/env.js';
import {buildFixture} from '../helpers/nix.js';
import {fileLine, hasTmux, Terminal, waitFor} from '../helpers/terminal.js';
import {tally} from '../helpers/tally.js';

interface Session {
  terminal: Terminal;
  out: string;
  /** Start the jailed `script` (busybox sh) as the terminal's foreground job. */
  start: (script: string) => void;
  /** The job's exit status, once the wrapper has written it. */
  status: () => Promise<number>;
  /** What the program wrote to /out/NAME. */
  wrote: (name: string) => Promise<string>;
}

const session = (caller: Caller): Session => {
  const env = caller.env();
  const terminal = new Terminal(caller.user, {PATH: env['PATH'], HOME: env['HOME'], NIX_REMOTE: env['NIX_REMOTE'] ?? 'local'});
  const out = path.join(terminal.dir, 'out');
  fs.mkdirSync(out, {mode: 0o777});
  fs.chmodSync(out, 0o777);
  const cache = caller.cache();
  return {
    terminal,
    out,
    start: script => {
      const jail = caller.inShell(['exec', '--cache-dir', cache, '--bind', `${out}:/out`, '--', path.join(buildFixture().app, 'bin', 'sh'), '-c', script]);
      const wrapper = `trap "" INT QUIT HUP; ${jail.map(shellQuote).join(' ')}; echo $? > ${shellQuote(path.join(terminal.dir, 'status'))}`;
      terminal.line(`sh -c ${shellQuote(wrapper)}`);
    },
    status: async () => Number(await waitFor('the exit status', () => fileLine(path.join(terminal.dir, 'status')))),
    wrote: name => waitFor(`/out/${name}`, () => fileLine(path.join(out, name))),
  };
};

/** Each test gets a terminal of its own, closed afterwards whatever happened. */
const withTerminal = (caller: Caller, body: (s: Session) => Promise<void>) => async (): Promise<void> => {
  const s = session(caller);
  try {
    await body(s);
  } finally {
    s.terminal.hangUp();
  }
};

const LOOP = 'while :; do sleep 1; done';

for (const caller of mountingWays) {
  const tty = suite(`a jail at a terminal, as ${caller.name}`);
  const ttyTest = when(tty, caller.needs ?? (hasTmux() ? undefined : 'needs tmux'));

  ttyTest('should let the program handle Ctrl-C and pass its exit status back', withTerminal(caller, async s => {
    s.start(`trap "echo got-INT > /out/int; exit 7" INT; echo ready > /out/ready; ${LOOP}`);
    await s.wrote('ready');
    s.terminal.key('C-c');
    assert.is(await s.status(), 7);
    assert.is(await s.wrote('int'), 'got-INT');
  }));

  ttyTest('should end a program that does not handle Ctrl-C, with status 130', withTerminal(caller, async s => {
    s.start(`echo ready > /out/ready; ${LOOP}`);
    await s.wrote('ready');
    s.terminal.key('C-c');
    assert.is(await s.status(), 130);
  }));

  ttyTest('should let the program handle Ctrl-\\ and a hang-up', withTerminal(caller, async s => {
    s.start(`trap "echo got-QUIT > /out/quit; exit 9" QUIT; echo ready > /out/ready; ${LOOP}`);
    await s.wrote('ready');
    s.terminal.key('C-\\');
    assert.is(await s.status(), 9);
    assert.is(await s.wrote('quit'), 'got-QUIT');

    fs.rmSync(path.join(s.terminal.dir, 'status'));
    s.start(`trap "echo got-HUP > /out/hup; exit 5" HUP; echo ready > /out/ready2; ${LOOP}`);
    await s.wrote('ready2');
    s.terminal.hangUp();
    assert.is(await s.status(), 5);
    assert.is(await s.wrote('hup'), 'got-HUP');
  }));

  ttyTest('should stop the jail on Ctrl-Z and continue it on fg', withTerminal(caller, async s => {
    s.start('i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo $i > /out/count.new; mv /out/count.new /out/count; sleep 0.05; done; exit 4');
    await waitFor('a few counts', () => (Number(fileLine(path.join(s.out, 'count')) ?? 0) >= 3 ? true : undefined));
    s.terminal.key('C-z');
    await s.terminal.shows(/Stopped/);
    const stopped = fileLine(path.join(s.out, 'count'));
    await new Promise(resolve => setTimeout(resolve, 700));
    assert.is(fileLine(path.join(s.out, 'count')), stopped, 'the jail went on counting while stopped');
    assert.not.ok(fs.existsSync(path.join(s.terminal.dir, 'status')), 'the job ended instead of stopping');
    s.terminal.line('fg');
    assert.is(await s.status(), 4);
    assert.is(fileLine(path.join(s.out, 'count')), '40');
  }));

  ttyTest('should open /dev/tty inside the jail, as the caller\'s terminal', withTerminal(caller, async s => {
    s.start('echo "type here:" > /dev/tty && read -r line < /dev/tty && echo "$line" > /out/line');
    await s.terminal.shows(/type here:/);
    s.terminal.line('an answer typed at the terminal');
    assert.is(await s.wrote('line'), 'an answer typed at the terminal');
    assert.is(await s.status(), 0);
    tally('input', 1);
  }));

  tty.run();
}

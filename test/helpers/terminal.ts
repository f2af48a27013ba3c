/**
 * A real terminal for tests: an interactive bash in a tmux pseudo-terminal, as root or as the
 * test user (who then owns the terminal, as after a login). Keys are typed with send-keys and
 * the screen read with capture-pane; a hang-up is the terminal going away.
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {sleep, tempDir} from './cli.js';
import {TEST_USER} from './env.js';
import {shellQuote} from '../../src/launch/shell.js';

export const hasTmux = (): boolean => spawnSync('sh', ['-c', 'command -v tmux'], {stdio: 'ignore'}).status === 0;

/** Wait until `check` returns something other than undefined; fail after `ms` with `what`. */
export const waitFor = async <T>(what: string, check: () => T | undefined, ms = 20_000): Promise<T> => {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
};

/** A file's content once it exists and ends with a newline (written whole). */
export const fileLine = (file: string): string | undefined => {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.endsWith('\n') ? text.trim() : undefined;
  } catch {
    return undefined;
  }
};

export class Terminal {
  readonly dir: string;
  private readonly socket: string;
  private readonly prefix: string[];

  /** @param env the shell's whole environment */
  constructor(asUser: boolean, env: Record<string, string | undefined>) {
    this.dir = tempDir('tty', asUser ? TEST_USER : undefined);
    fs.chmodSync(this.dir, 0o755);
    this.socket = path.join(this.dir, 'tmux.sock');
    this.prefix = asUser ? ['setpriv', `--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, '--init-groups', '--'] : [];
    const vars = Object.entries({...env, TERM: 'screen'}).filter(([, value]) => value !== undefined).map(([name, value]) => `${name}=${value}`);
    this.tmux(['new-session', '-d', '-x', '200', '-y', '50', 'env', '-i', ...vars, 'bash', '--norc', '--noprofile', '-i']);
  }

  private tmux(args: string[]): string {
    const [command, ...rest] = [...this.prefix, 'tmux', '-S', this.socket, ...args];
    return execFileSync(command!, rest, {encoding: 'utf8', cwd: '/', stdio: ['ignore', 'pipe', 'pipe']});
  }

  /** Type a line and press Enter. */
  line(text: string): void {
    this.tmux(['send-keys', '-t', '0', '-l', text]);
    this.tmux(['send-keys', '-t', '0', 'Enter']);
  }

  /** Press a key as tmux names it (C-c, C-z, 'C-\\'). */
  key(name: string): void {
    this.tmux(['send-keys', '-t', '0', name]);
  }

  screen(): string {
    return this.tmux(['capture-pane', '-p', '-t', '0']);
  }

  /** Wait until the screen matches. */
  async shows(pattern: RegExp): Promise<void> {
    await waitFor(`the screen to show ${pattern}:\n${this.screen()}`, () => (pattern.test(this.screen()) ? true : undefined));
  }

  /** Close the terminal: its shell and the foreground job get a hang-up. */
  hangUp(): void {
    try {
      this.tmux(['kill-server']);
    } catch {
      // already gone
    }
  }
}

/**
 * Ctrl-C at a real terminal: script(1) runs the command on a pseudo-terminal of its own and
 * passes our bytes to it, once it printed `ready`; the terminal turns ^C into SIGINT for its
 * foreground process group. Its shell execs the command, or it would be in that group too (and
 * dash dies of a SIGINT it waited through). The command's status and everything it printed.
 */
export const interruptAtTerminal = async (command: string, argv: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{code: number | null; output: string}> => {
  const child = spawn('script', ['-qec', `exec ${[command, ...argv].map(shellQuote).join(' ')}`, '/dev/null'], {env, cwd, stdio: ['pipe', 'pipe', 'pipe']});
  let output = '';
  const ready = new Promise<void>(resolve => child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (output.includes('ready')) resolve();
  }));
  const ended = new Promise<number | null>(resolve => child.on('close', code => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await ready;
  child.stdin.write('\x03');
  const code = await ended;
  clearTimeout(timer);
  return {code, output};
};

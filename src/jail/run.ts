/**
 * Running the jail: spawn the launch command with the terminal passed through, forward
 * signals to the jailed program, and turn the outcome into an exit status.
 *
 * bubblewrap does not forward signals: a SIGTERM to it kills it, and --die-with-parent then
 * SIGKILLs the program. So signals sent to this tool go straight to the program instead,
 * found as the child of the sandbox's init, whose pid bubblewrap reports on --json-status-fd.
 *
 * node:child_process rather than execa here: importing execa costs ~100 ms, more than the
 * whole jail start-up this path is measured by.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import {EXIT_TOOL_FAILURE, JailError} from '../errors.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/** Processes whose parent is `pid` (the program, and orphans the sandbox's init adopted). */
const childrenOf = (pid: number): number[] => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

export interface JailOutcome {
  exitCode: number;
  /** Whether the program started (bubblewrap reported its pid). */
  started: boolean;
}

/**
 * @param statusFd where bubblewrap writes its JSON status
 * @param inputs data for bubblewrap to read on other descriptors (the seccomp filter)
 */
export const runJail = (argv: readonly string[], statusFd: number, inputs: ReadonlyMap<number, Buffer> = new Map()): Promise<JailOutcome> =>
  new Promise((resolve, reject) => {
    const stdio: Array<'inherit' | 'pipe' | 'ignore'> = ['inherit', 'inherit', 'inherit'];
    const highest = Math.max(statusFd, ...inputs.keys());
    for (let fd = 3; fd <= highest; fd++) stdio.push(fd === statusFd || inputs.has(fd) ? 'pipe' : 'ignore');
    const child = childProcess.spawn(argv[0]!, argv.slice(1), {stdio});
    for (const [fd, data] of inputs) {
      const stream = child.stdio[fd] as NodeJS.WritableStream | null;
      // Ignore EPIPE: if the chain fails before bubblewrap reads, the failure is reported below.
      (stream as unknown as NodeJS.EventEmitter | null)?.on('error', () => undefined);
      stream?.end(data);
    }
    let sandboxPid: number | undefined;
    let bwrapExit: number | undefined;
    let status = '';
    const statusStream = child.stdio[statusFd] as NodeJS.ReadableStream | null;
    statusStream?.setEncoding('utf8');
    statusStream?.on('data', (chunk: string) => {
      status += chunk;
      // bwrap writes one JSON document per line: {"child-pid": N, ...}, later {"exit-code": N}.
      for (const match of status.matchAll(/"child-pid":\s*(\d+)/g)) sandboxPid = Number(match[1]);
      for (const match of status.matchAll(/"exit-code":\s*(\d+)/g)) bwrapExit = Number(match[1]);
    });

    const forward = (signal: NodeJS.Signals): void => {
      const program = sandboxPid === undefined ? [] : childrenOf(sandboxPid);
      const targets = program.length > 0 ? program : child.pid === undefined ? [] : [child.pid];
      for (const pid of targets) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
    };
    for (const signal of FORWARDED) process.on(signal, forward);
    const cleanup = (): void => {
      for (const signal of FORWARDED) process.off(signal, forward);
    };

    child.on('error', error => {
      cleanup();
      reject(new JailError('missing-tool', `cannot start ${argv[0]}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      cleanup();
      const started = sandboxPid !== undefined;
      if (signal !== null) {
        resolve({exitCode: 128 + (os.constants.signals[signal] ?? 0), started});
        return;
      }
      resolve({exitCode: bwrapExit ?? code ?? EXIT_TOOL_FAILURE, started});
    });
  });

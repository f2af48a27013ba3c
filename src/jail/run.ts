/**
 * Running the jail: spawn the launch command, relay signals to the jailed program, and turn
 * the outcome into an exit status.
 *
 * Signals and the terminal. bubblewrap does not forward signals, and its monitor process dies
 * of SIGINT; with --die-with-parent the program is then SIGKILLed (bubblewrap issue 369). So
 * no bubblewrap process may be in the terminal's foreground process group. The launch command
 * starts in a session of its own (setsid: no controlling terminal), and bubblewrap puts the
 * sandbox in a further session (--new-session), so the jail's processes form one process group
 * without the monitor in it. The terminal's signals reach only this process, which relays each
 * one to that group, the way a terminal would: Ctrl-C (SIGINT), Ctrl-\ (SIGQUIT), a hang-up,
 * SIGTERM, SIGUSR1/2 and window size changes. Ctrl-Z stops the jail with SIGSTOP (its process
 * group is orphaned, so the kernel would drop a SIGTSTP) and then this process, so the shell
 * sees the job stop; `fg` continues this process, which continues the jail. The terminal stays
 * usable through the inherited descriptors, and /dev/tty in the jail is the caller's terminal
 * device (see args.ts), so programs that open it still can.
 *
 * node:child_process rather than execa here: importing execa costs ~100 ms, more than the
 * whole jail start-up this path is measured by.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import {EXIT_TIMED_OUT, EXIT_TOOL_FAILURE, JailError} from '../errors.js';
import {closeInheritedDescriptors} from './descriptors.js';
import {releaseHungUpTerminal} from './terminal.js';

const RELAYED = ['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT'] as const;

export interface JailOutcome {
  exitCode: number;
  /** Whether the sandbox started (bubblewrap reported its pid). */
  started: boolean;
  /**
   * Whether bubblewrap reported the program's exit status. It does not when the sandbox's
   * set-up or its execvp of the program failed (bubblewrap then exits 1 after its message).
   */
  reported: boolean;
  /** Whether the time given ran out and the jail was ended (exit 124, as timeout(1)). */
  timedOut: boolean;
}

/** --timeout: after `ms`, SIGTERM to every process of the jail, SIGKILL `killAfterMs` later. */
export interface JailTimeout {
  ms: number;
  killAfterMs: number;
}

/**
 * Every process in the pid namespace `init` leads (the jail's): its daemons and double-forked
 * children too, whatever session or group they made. Read from /proc; processes of others,
 * which cannot be in the caller's jail, cannot be read and are left out.
 */
export const jailMembers = (init: number): number[] => {
  let namespace: string;
  try {
    namespace = fs.readlinkSync(`/proc/${init}/ns/pid`);
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readlinkSync(`/proc/${name}/ns/pid`) === namespace) members.push(Number(name));
    } catch {
      // gone, or another user's
    }
  }
  return members;
};

const signalEach = (pids: readonly number[], signal: NodeJS.Signals): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  }
};

export interface JailDescriptors {
  /** Where bubblewrap writes its JSON status. */
  statusFd: number;
  /** Data for bubblewrap to read on other descriptors (the seccomp filter). */
  inputs: ReadonlyMap<number, Buffer>;
  /** Descriptors of this process passed to the program at the same number (--keep-fd). */
  keep: readonly number[];
}

/** The spawn stdio table: 0–2 shared, then pipes, kept descriptors, and nothing in between. */
export const stdioTable = ({statusFd, inputs, keep}: JailDescriptors): Array<'inherit' | 'pipe' | 'ignore' | number> => {
  const stdio: Array<'inherit' | 'pipe' | 'ignore' | number> = ['inherit', 'inherit', 'inherit'];
  const highest = Math.max(statusFd, ...inputs.keys(), ...keep);
  const kept = new Set(keep);
  for (let fd = 3; fd <= highest; fd++) stdio.push(fd === statusFd || inputs.has(fd) ? 'pipe' : kept.has(fd) ? fd : 'ignore');
  return stdio;
};

/** Signal a process group; false when there is no such group (gone, or not formed yet). */
const signalGroup = (pgid: number, signal: NodeJS.Signals): boolean => {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
};

/**
 * Work to do once the sandbox exists and before its program runs: bubblewrap waits on
 * `--block-fd FD` (a pipe of this process) until `before(pid)` resolves with the sandbox's
 * first process; a failure ends the jail and is the outcome.
 */
export interface BeforeProgram {
  fd: number;
  /** With the sandbox's first process and the launch command's (bubblewrap's monitor, by then). */
  before: (pid: number, launcher: number) => Promise<void>;
}

export const runJail = (argv: readonly string[], descriptors: JailDescriptors, timeout?: JailTimeout, beforeProgram?: BeforeProgram): Promise<JailOutcome> =>
  new Promise((resolve, reject) => {
    const {statusFd, inputs} = descriptors;
    // The program gets 0-2 and the kept descriptors only: every other one this process
    // inherited would pass through the launch command into the jail.
    closeInheritedDescriptors(descriptors.keep);
    // detached: setsid() before exec, so no bubblewrap process receives the terminal's signals.
    const stdio = stdioTable(descriptors);
    if (beforeProgram !== undefined) {
      while (stdio.length <= beforeProgram.fd) stdio.push('ignore');
      stdio[beforeProgram.fd] = 'pipe';
    }
    const child = childProcess.spawn(argv[0]!, argv.slice(1), {stdio, detached: true});
    for (const [fd, data] of inputs) {
      const stream = child.stdio[fd] as NodeJS.WritableStream | null;
      // Ignore EPIPE: if the chain fails before bubblewrap reads, the failure is reported below.
      (stream as unknown as NodeJS.EventEmitter | null)?.on('error', () => undefined);
      stream?.end(data);
    }
    /** The sandbox's first process: it leads the jail's session and process group. */
    let jailGroup: number | undefined;
    let bwrapExit: number | undefined;
    let status = '';
    let released = false;
    let failure: unknown;
    const statusStream = child.stdio[statusFd] as NodeJS.ReadableStream | null;
    statusStream?.setEncoding('utf8');
    statusStream?.on('data', (chunk: string) => {
      status += chunk;
      // bwrap writes one JSON document per line: {"child-pid": N, ...}, later {"exit-code": N}.
      for (const match of status.matchAll(/"child-pid":\s*(\d+)/g)) jailGroup ??= Number(match[1]);
      if (jailGroup !== undefined && beforeProgram !== undefined && !released) {
        released = true;
        const gate = child.stdio[beforeProgram.fd] as NodeJS.WritableStream | null;
        (gate as unknown as NodeJS.EventEmitter | null)?.on('error', () => undefined);
        beforeProgram.before(jailGroup, child.pid!).then(() => gate?.end('\n'), (error: unknown) => {
          failure = error;
          if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
        });
      }
      for (const match of status.matchAll(/"exit-code":\s*(\d+)/g)) bwrapExit = Number(match[1]);
    });
    /** Relay only while the jail runs: once its exit is known, its ids may be reused. */
    const running = (): number | undefined => (bwrapExit === undefined ? jailGroup : undefined);

    const relay = (signal: NodeJS.Signals): void => {
      const group = running();
      if (group !== undefined && signalGroup(group, signal)) return;
      // The sandbox has not made its session yet: the program has not started, so a signal
      // that ends it ends the launch command (and, through --die-with-parent, the sandbox).
      if (bwrapExit === undefined && signal !== 'SIGWINCH' && signal !== 'SIGCONT' && child.pid !== undefined) signalGroup(child.pid, signal);
    };
    const suspend = (): void => {
      const group = running();
      if (group !== undefined) signalGroup(group, 'SIGSTOP');
      // Stop this process too, by the terminal's own signal, so the shell sees the job stop as
      // usual; with no listener Node restores its default action, and kill() returns on SIGCONT.
      process.off('SIGTSTP', suspend);
      process.kill(process.pid, 'SIGTSTP');
      process.on('SIGTSTP', suspend);
      const resumed = running();
      if (resumed !== undefined) signalGroup(resumed, 'SIGCONT');
    };
    for (const signal of RELAYED) process.on(signal, relay);
    process.on('SIGTSTP', suspend);

    // The time given: SIGTERM to every process in the jail (its pid namespace), then SIGKILL to
    // its first process, which ends the namespace and all in it. Before the sandbox exists,
    // the launch command's group gets them.
    let timedOut = false;
    const end = (signal: 'SIGTERM' | 'SIGKILL'): void => {
      const init = running();
      if (init !== undefined) {
        signalEach(signal === 'SIGKILL' ? [init, ...jailMembers(init)] : jailMembers(init), signal);
      } else if (bwrapExit === undefined && child.pid !== undefined) {
        signalGroup(child.pid, signal);
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const timer = timeout === undefined || timeout.ms === 0 ? undefined : setTimeout(() => {
      timedOut = true;
      end('SIGTERM');
      killTimer = setTimeout(() => end('SIGKILL'), timeout.killAfterMs);
    }, timeout.ms);

    const cleanup = (): void => {
      for (const signal of RELAYED) process.off(signal, relay);
      process.off('SIGTSTP', suspend);
      clearTimeout(timer);
      clearTimeout(killTimer);
    };

    child.on('error', error => {
      cleanup();
      reject(new JailError('missing-tool', `cannot start ${argv[0]}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      cleanup();
      releaseHungUpTerminal();
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      const started = jailGroup !== undefined;
      const reported = bwrapExit !== undefined;
      if (timedOut) {
        resolve({exitCode: EXIT_TIMED_OUT, started, reported, timedOut});
        return;
      }
      if (signal !== null) {
        resolve({exitCode: 128 + (os.constants.signals[signal] ?? 0), started, reported, timedOut});
        return;
      }
      resolve({exitCode: bwrapExit ?? code ?? EXIT_TOOL_FAILURE, started, reported, timedOut});
    });
  });

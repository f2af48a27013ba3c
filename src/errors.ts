/**
 * Typed errors. Every failure the user can cause or meet becomes a JailError with a one-line
 * message that names the operation and the path; only cli.ts prints it and exits.
 *
 * Exit codes follow env(1) and container runtimes: 125 for the tool's own failures, 126 for
 * a command that cannot run, 127 for a command that is not found. Everything else is the
 * jailed program's own status.
 */
export const EXIT_TOOL_FAILURE = 125;
export const EXIT_CANNOT_RUN = 126;
export const EXIT_NOT_FOUND = 127;
/** The time --timeout gave ran out, as timeout(1) reports it. */
export const EXIT_TIMED_OUT = 124;

export type ErrorKind =
  | 'usage'
  | 'not-in-store'
  | 'no-such-entry'
  | 'bad-closure'
  | 'bad-store'
  | 'cache'
  | 'unsafe'
  | 'whiteout'
  | 'mount'
  | 'missing-tool'
  | 'nix'
  | 'command-not-found'
  | 'cannot-run';

export class JailError extends Error {
  override readonly name = 'JailError';
  readonly kind: ErrorKind;
  readonly exitCode: number;

  constructor(kind: ErrorKind, message: string, exitCode = EXIT_TOOL_FAILURE) {
    super(message);
    this.kind = kind;
    this.exitCode = exitCode;
  }
}

export const isErrno = (error: unknown, code?: string): error is NodeJS.ErrnoException =>
  error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' &&
  (code === undefined || (error as NodeJS.ErrnoException).code === code);

/** The short reason of a system error (`EACCES: permission denied`), without Node's path noise. */
export const reason = (error: unknown): string => {
  if (isErrno(error)) {
    // Node writes "ENOENT: no such file or directory, lstat '/x'"; the path is named by the caller.
    const description = error.message.startsWith(`${error.code}: `)
      ? error.message.slice(error.code!.length + 2).split(',')[0]
      : error.message;
    return `${description} (${error.code})`;
  }
  return error instanceof Error ? error.message : String(error);
};

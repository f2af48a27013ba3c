/**
 * Preconditions of the tests. A test that needs root, a kernel feature or a tool skips with a
 * printed reason when run locally without it; in CI (CI=true) a missing precondition is a
 * failure, so a skip can never hide a test that did not run.
 */
import {spawnSync} from 'node:child_process';
import {test as uvuTest, type Test} from 'uvu';
import * as assert from 'uvu/assert';

export const IN_CI = process.env['CI'] === 'true';
export const IS_ROOT = process.getuid?.() === 0;
export const TEST_USER = process.env['NOJ_TEST_USER'] ?? 'noj-test';

const has = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`], {stdio: 'ignore'}).status === 0;

export const userExists = (name: string): boolean => spawnSync('id', [name], {stdio: 'ignore'}).status === 0;

/**
 * Where bubblewrap 0.11 or later is (scripts/build-new-bwrap.sh builds it there), for the
 * runs where bubblewrap mounts the overlay itself: put first on PATH for those runs only.
 */
export const NEW_BWRAP_DIR = process.env['NOJ_NEW_BWRAP_DIR'] ?? '/usr/local/libexec/nix-overlay-jail-tests/bubblewrap-new';

/** The environment of a run where bubblewrap mounts the overlay: its newer build first on PATH. */
export const withNewBwrap = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({...env, PATH: `${NEW_BWRAP_DIR}:${env['PATH'] ?? ''}`});

const hasNewBwrap = (): boolean => {
  const version = spawnSync(`${NEW_BWRAP_DIR}/bwrap`, ['--version'], {encoding: 'utf8'}).stdout ?? '';
  const [major = 0, minor = 0] = (/bubblewrap (\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  return major > 0 || minor >= 11;
};

/** The reason a precondition is missing, or undefined when everything is there. */
export const missing = (...needs: Array<'root' | 'nix' | 'bwrap' | 'bwrap-0.11' | 'test-user'>): string | undefined => {
  for (const need of needs) {
    if (need === 'bwrap-0.11' && !hasNewBwrap()) return `needs bubblewrap 0.11 or later in ${NEW_BWRAP_DIR} (scripts/build-new-bwrap.sh)`;
    if (need === 'root' && !IS_ROOT) return 'needs root';
    if (need === 'nix' && !has('nix-build')) return 'needs Nix (nix-bin)';
    if (need === 'bwrap' && !has('bwrap')) return 'needs bubblewrap';
    if (need === 'test-user' && !(IS_ROOT && userExists(TEST_USER))) return `needs root and the test user ${TEST_USER} (scripts/setup-test-env.sh)`;
  }
  return undefined;
};

type Suite = Test | typeof uvuTest;

/**
 * Register a test that runs only when its preconditions hold. Locally a missing one is a
 * printed skip; in CI it is a failing test naming what is missing.
 */
export const when = (suite: Suite, reasonMissing: string | undefined) =>
  (name: string, body: () => void | Promise<void>): void => {
    if (reasonMissing === undefined) {
      suite(name, body);
    } else if (IN_CI) {
      suite(name, () => assert.unreachable(`precondition missing in CI: ${reasonMissing}`));
    } else {
      console.log(`  skip: ${name} (${reasonMissing})`);
      suite.skip(name, body);
    }
  };

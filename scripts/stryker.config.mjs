// The mutation run (npm run mutate): StrykerJS puts small bugs into the pure core, one at a
// time, and runs the unit tests (scripts/unit-tests.mjs) against each; a mutant the tests do
// not notice "survives". Not part of CI: it takes minutes. Survivors that cannot be told from
// the original by any test are listed, with the reason, in scripts/mutation-equivalents.md.
export default {
  testRunner: 'command',
  // A tenth of the generated cases and stress sizes per mutant (test/helpers/tally.ts scaled).
  commandRunner: {command: 'NOJ_TEST_SCALE=0.1 node scripts/unit-tests.mjs'},
  mutate: [
    'src/mask/plan.ts',
    'src/argv.ts',
    'src/mount/options.ts',
    'src/mount/strategy.ts',
    'src/jail/args.ts',
    'src/jail/seccomp.ts',
    // Its pure part; the rest reads /proc and closes descriptors (test/integration/descriptors).
    'src/jail/descriptors.ts:1-55',
    'src/closure/graph.ts',
    'src/closure/file.ts',
    'src/store.ts',
    'src/host/chain.ts',
    'src/host/resources.ts',
    'src/host/integration.ts',
    'src/host/desktop.ts',
    'src/host/xauth.ts',
    'src/launch/plan.ts',
    'src/profile.ts',
    'src/duration.ts',
    'src/jail/limits.ts',
    'src/jail/cgroup.ts:1-88',
    'src/apparmor/profile.ts',
    'src/launch/front.ts:1-50',
  ],
  coverageAnalysis: 'off',
  concurrency: 2,
  timeoutMS: 30_000,
  reporters: ['clear-text', 'progress'],
  clearTextReporter: {allowColor: false, logTests: false},
  // Stryker cannot copy a symlink to a directory into its sandbox; no unit test reads this one.
  ignorePatterns: ['dist', 'bench', '.ci', 'node_modules', 'fixtures/stores/small/*-glibc-link'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: {high: 90, low: 85, break: null},
};

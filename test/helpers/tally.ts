/**
 * The security figures: how many attempts of each kind this run made. A test adds its count
 * once its assertions have passed, so a figure is never larger than what was tried and held;
 * the run prints them after uvu's summary, for the README's security section.
 */
const KINDS = {
  escape: 'escape attempts from inside a jail',
  mask: 'masks and caches that are not what they should be',
  input: 'odd and hostile inputs',
  fault: 'faults injected (killed builds, unusable caches, a changing store)',
  concurrent: 'jails and builds started at once (and gc runs beside them)',
  soak: 'jails run one after another',
  property: 'generated cases of property tests',
} as const;

const counts = new Map<keyof typeof KINDS, number>();

export const tally = (kind: keyof typeof KINDS, attempts: number): void => {
  counts.set(kind, (counts.get(kind) ?? 0) + attempts);
};

process.on('exit', () => {
  if (counts.size === 0) return;
  const lines = Object.entries(KINDS).map(([kind, label]) => `  ${String(counts.get(kind as keyof typeof KINDS) ?? 0).padStart(7)}  ${label}`);
  process.stdout.write(`\nSecurity figures (attempts that ran and held):\n${lines.join('\n')}\n`);
});

/**
 * How large a generated input is (property cases, a stress input's length): `size`, scaled by
 * NOJ_TEST_SCALE, never below `least`. The mutation run sets 0.1, as it runs the unit tests
 * once per mutant; `least` keeps what the test is about (a chain deeper than the stack).
 */
export const scaled = (size: number, least = 20): number => Math.max(least, Math.round(size * Number(process.env['NOJ_TEST_SCALE'] ?? 1)));

export const propertyRuns = (runs: number): number => scaled(runs);

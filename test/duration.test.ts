import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {formatDuration, parseDuration} from '../src/duration.js';
import {JailError} from '../src/errors.js';

test('parseDuration: seconds without a unit, ms, s, m, h and d, fractions, 0', () => {
  assert.is(parseDuration('90', '--timeout'), 90_000);
  assert.is(parseDuration('90s', '--timeout'), 90_000);
  assert.is(parseDuration('250ms', '--timeout'), 250);
  assert.is(parseDuration('1.5s', '--timeout'), 1500);
  assert.is(parseDuration('1.25s', '--timeout'), 1250);
  assert.is(parseDuration('2147483647ms', '--timeout'), 2 ** 31 - 1);
  assert.is(parseDuration('10m', '--timeout'), 600_000);
  assert.is(parseDuration('1.5h', '--timeout'), 5_400_000);
  assert.is(parseDuration('24d', '--timeout'), 2_073_600_000);
  assert.is(parseDuration('0', '--timeout'), 0);
});

test('parseDuration: anything else is one line naming the option', () => {
  for (const text of ['2147483648ms', '', 's', '-1', '1 s', '1sec', '1e3', '0x10', '25d', '1.s', '.5s', '1S']) {
    assert.throws(() => parseDuration(text, '--kill-after'), (error: unknown) =>
      error instanceof JailError && error.kind === 'usage' && error.message.startsWith('--kill-after must be a duration') && error.message.includes(JSON.stringify(text)), text);
  }
});

test('formatDuration: as a user would write it', () => {
  assert.is(formatDuration(1000), '1s');
  assert.is(formatDuration(1500), '1.5s');
  assert.is(formatDuration(250), '250ms');
  assert.is(formatDuration(999), '999ms');
  assert.is(formatDuration(0), '0ms');
  assert.is(formatDuration(600_000), '10m');
  assert.is(formatDuration(5_400_000), '90m');
  assert.is(formatDuration(7_200_000), '2h');
  assert.is(formatDuration(86_400_000), '1d');
  assert.is(formatDuration(90_000), '90s');
});

test.run();

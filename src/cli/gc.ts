/** `gc`: remove old cached masks. */
import process from 'node:process';
import type {Command} from './command.js';

export const gcCli: Command = {
  summary: 'remove cached masks that are old or over a size limit (never one in use)',
  usage: 'nix-overlay-jail gc [options]',
  body: `
    --max-age AGE            remove masks, and exec's plans for the front, not used for
                             AGE (default 30d; s, m, h, d, w)
    --max-size SIZE          then remove the least recently used of both until the cache
                             is under SIZE (such as 500M or 2G)
    --cache-dir DIR          the cache directory (default as for build); gc refuses a
                             directory nix-overlay-jail did not make
    --dry-run                list what would be removed, remove nothing
    --json                   print a JSON report`,
  flags: {
    maxAge: {type: 'string', default: '30d'},
    maxSize: {type: 'string'},
    cacheDir: {type: 'string'},
    dryRun: {type: 'boolean', default: false},
    json: {type: 'boolean', default: false},
  },
  run: async flags => {
    const {gcCommand, parseGcLimits} = await import('../commands/gc.js');
    const report = await gcCommand({
      cacheDir: flags['cacheDir'] as string | undefined,
      ...parseGcLimits(String(flags['maxAge']), flags['maxSize'] as string | undefined),
      dryRun: Boolean(flags['dryRun']),
    });
    if (flags['json']) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const verb = report.dryRun ? 'would remove' : 'removed';
      for (const entry of report.removed) process.stdout.write(`${verb} ${entry.key} (${entry.reason}, last used ${entry.lastUsed}, ${entry.bytes} bytes)\n`);
      for (const key of report.inUse) process.stdout.write(`kept ${key}: in use by a running jail\n`);
      process.stdout.write(`${verb} ${report.removed.length} mask(s), ${report.freedBytes} bytes; ${report.kept} kept\n`);
      const plans = report.execPlans;
      if (plans.removed + plans.kept > 0) process.stdout.write(`${verb} ${plans.removed} exec plan(s), ${plans.freedBytes} bytes; ${plans.kept} kept${plans.inUse > 0 ? ` (${plans.inUse} in use)` : ''}\n`);
    }
    return 0;
  },
};

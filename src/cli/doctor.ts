/** `doctor`: what exec depends on, checked. */
import process from 'node:process';
import type {Command} from './command.js';

export const doctorCli: Command = {
  summary: 'check everything exec depends on, and say what to do about what is missing',
  usage: 'nix-overlay-jail doctor [options]',
  body: `
  One line per check: ok, warning or failure, and what to do; then what each host option
  (--net, --gpu, --locale, --fonts, --wayland, --x11, --audio, the
  buses) brings on this host and what it lacks. Overlay mounts, user
  namespaces and whiteouts are tried for real in throw-away directories and namespaces.
  Exits 0 when exec can work here for this user.

    --cache-dir DIR          the cache directory to check (default as for build)
    --store DIR              the store to check (default /nix/store)
    --json                   print a JSON report`,
  flags: {cacheDir: {type: 'string'}, store: {type: 'string', default: '/nix/store'}, json: {type: 'boolean', default: false}},
  run: async flags => {
    const {doctor} = await import('../commands/doctor.js');
    const report = await doctor({cacheDir: flags['cacheDir'] as string | undefined, storeDir: String(flags['store'])});
    if (flags['json']) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const check of report.checks) process.stdout.write(`${check.status.padEnd(8)} ${check.name}: ${check.detail}\n`);
      process.stdout.write('host options (what each brings here; a jail starts without what is missing, or fails with --strict):\n');
      for (const host of report.hostOptions) {
        process.stdout.write(`  ${host.option.padEnd(18)} ${host.brings.length === 0 ? 'nothing' : host.brings.join(', ')}${host.missing.length === 0 ? '' : `; missing: ${host.missing.join(', ')}`}\n`);
      }
      process.stdout.write(report.canExec ? `exec can work here (mounting: ${report.strategy})\n` : 'exec cannot work here: see the failures above\n');
    }
    return report.canExec ? 0 : 1;
  },
};

/** `wrap`: write a launcher. */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import {JailError} from '../errors.js';
import {asStrings, binaryPath, type Command} from './command.js';
import {execFlags, execOptions as execOptionsOf} from './exec.js';

/**
 * Where a launcher's plan lives, and what the launcher checks of it: the cache's real path
 * (opened, so made and checked as exec would), its plans directory, every directory above;
 * and the tools its warm path runs. None without those tools: the launcher then always runs exec.
 */
const launcherPlan = async (cacheDir: string | undefined, identity: readonly string[]) => {
  const {ensurePlanDir, launcherKey, plansDir} = await import('../launch/record.js');
  const {defaultCacheDir, MaskCache} = await import('../mask/cache.js');
  const {findOnPath} = await import('../mount/capabilities.js');
  const [stat, env, setsid, rm] = ['stat', 'env', 'setsid', 'rm'].map(name => findOnPath(name));
  if (stat === undefined || env === undefined || setsid === undefined || rm === undefined) return undefined;
  const cache = MaskCache.open(cacheDir ?? defaultCacheDir());
  const real = fs.realpathSync(cache.dir);
  ensurePlanDir(plansDir(real), cache.uid);
  const ancestors: string[] = [];
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    ancestors.unshift(dir);
    if (dir === '/') break;
  }
  // bash, where there is one: under dash the launcher hands it a start with a descriptor above 9 open.
  const bash = findOnPath('bash') ?? '';
  return {dir: path.join(plansDir(real), launcherKey(identity)), owned: [real, plansDir(real)], ancestors, tools: {stat, env, setsid, rm, bash}};
};

export const wrapCli: Command = {
  summary: 'write a launcher that runs a command jailed, for PATH or a desktop file',
  usage: 'nix-overlay-jail wrap --out FILE [exec options] COMMAND [ARG...]',
  body: `
  COMMAND is resolved now to its store path, which the launcher runs through
  nix-overlay-jail exec with the given options and then its own arguments. wrap also records
  a launch plan in the cache: a warm start checks it (one stat) and starts the jail without
  Node; anything it depends on that changed sends the start to exec, which records it again.
  NIX_OVERLAY_JAIL_NO_PLAN=1 forces exec; NIX_OVERLAY_JAIL_REQUIRE_PLAN=1 says why a plan was
  not used instead of running exec.

    --out FILE               where to write the launcher (made executable)
    --desktop-file FILE      also write a desktop entry whose Exec runs the launcher
                             (~/.local/share/applications/NAME.desktop puts it in menus)
    --desktop-name NAME      the entry's name in menus (default: the command's file name)
    --force                  replace FILE(s) if they exist
    (every option of exec)

  Examples
    $ nix-overlay-jail wrap --out ~/bin/hello --exec-only hello
    $ nix-overlay-jail wrap --out ~/bin/firefox --desktop --net --home ~/jails/firefox \\
        --desktop-file ~/.local/share/applications/firefox-jailed.desktop firefox`,
  flags: {...execFlags, out: {type: 'string'}, force: {type: 'boolean', default: false}, desktopFile: {type: 'string'}, desktopName: {type: 'string'}},
  stopAtFirstOperand: true,
  passThrough: ['bwrap-arg'],
  run: async (flags, operands, options) => {
    const {absoluteOptions, wrapCommand} = await import('../commands/wrap.js');
    const {prepareLaunch, resolveCommand} = await import('../commands/exec.js');
    if (flags['out'] === undefined) throw new JailError('usage', 'wrap needs --out FILE');
    const [command, ...args] = operands;
    if (command === undefined) throw new JailError('usage', 'no command given (usage: nix-overlay-jail wrap --out FILE [options] COMMAND [ARG...])');
    if (flags['launchPlan'] !== undefined || flags['launchWords'] !== undefined) throw new JailError('usage', 'wrap makes its launcher\'s plan itself: no --launch-plan');
    // A launcher carrying --dry-run would only ever print its plan.
    if (flags['parseOnly']) throw new JailError('usage', 'wrap --parse-only would write a launcher that only checks its options: check them with exec --parse-only');
    if (flags['dryRun']) throw new JailError('usage', 'wrap --dry-run would write a launcher that only dry-runs: see the jail with exec --dry-run, then wrap without it');
    const {jailPath} = resolveCommand(command, path.resolve(String(flags['store'])), process.env['PATH']);
    const execOptions = absoluteOptions(options.filter(option => !/^--(out|force|no-force|desktop-file|desktop-name)(=|$)/.test(option)), process.cwd());
    const node = process.execPath;
    const cli = binaryPath();
    const jailCommand = [jailPath, ...args];
    // The warm path closes every inherited descriptor before it knows whether its plan holds:
    // a launcher that passes one on (--keep-fd) has no warm path, and always runs exec.
    const keepsDescriptors = asStrings(flags['keepFd']).length > 0;
    const plan = keepsDescriptors ? undefined : await launcherPlan(flags['cacheDir'] as string | undefined, [node, cli, ...execOptions, '--', ...jailCommand]);
    const out = wrapCommand({
      out: String(flags['out']),
      force: Boolean(flags['force']),
      execOptions,
      command: jailCommand,
      node,
      cli,
      plan,
      desktopFile: flags['desktopFile'] as string | undefined,
      desktopName: flags['desktopName'] as string | undefined,
    });
    process.stdout.write(`${out}\n`);
    if (keepsDescriptors) process.stderr.write(`nix-overlay-jail: ${out} starts through exec each time: no launch plan (--keep-fd)\n`);
    if (plan !== undefined) {
      // Plan now, so that the first start is warm too; a run of the launcher plans otherwise.
      let why: string | undefined;
      try {
        why = await prepareLaunch({...execOptionsOf(flags, jailCommand, execOptions), launchPlan: {dir: plan.dir, words: jailCommand.length}});
      } catch (error) {
        why = error instanceof Error ? error.message : String(error);
      }
      if (why !== undefined) process.stderr.write(`nix-overlay-jail: ${out} starts through exec each time: no launch plan (${why})\n`);
    }
    return 0;
  },
};

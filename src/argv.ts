/**
 * Splitting a subcommand's argv, as a pure function, before meow parses the options.
 *
 * meow would read `exec ls -la` as the option `-la`, and `--cache-dir --json` as a cache
 * directory named `--json`. This splitter knows which options take a value, stops at the
 * first operand when the command is a program to run, refuses unknown options, and refuses a
 * value that looks like an option (write `--opt=-value` to mean it).
 */
import {JailError} from './errors.js';

export interface OptionSpec {
  /** Long name in kebab case, without dashes. */
  name: string;
  takesValue: boolean;
  short?: string;
  /** Values are arguments for another program and may start with a dash. */
  passThrough?: boolean;
}

export interface SplitArgv {
  options: string[];
  operands: string[];
}

export const splitArgv = (
  argv: readonly string[],
  specs: readonly OptionSpec[],
  stopAtFirstOperand: boolean,
): SplitArgv => {
  const byLong = new Map(specs.map(spec => [spec.name, spec]));
  const byShort = new Map(specs.filter(spec => spec.short).map(spec => [spec.short!, spec]));
  const options: string[] = [];
  const operands: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--') {
      operands.push(...argv.slice(index + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      operands.push(arg);
      if (stopAtFirstOperand) {
        operands.push(...argv.slice(index + 1));
        break;
      }
      continue;
    }
    const long = arg.startsWith('--');
    const [flag, inline] = long ? splitOnce(arg.slice(2)) : [arg.slice(1), undefined];
    const negated = long && flag.startsWith('no-') && !byLong.has(flag);
    const spec = long ? byLong.get(negated ? flag.slice(3) : flag) : byShort.get(flag);
    // Only a switch can be negated: --no-setenv FOO=bar must not mean --setenv FOO=bar.
    if (spec === undefined || (negated && spec.takesValue)) throw new JailError('usage', `unknown option ${arg} (see --help)`);
    if (!spec.takesValue) {
      if (inline !== undefined) throw new JailError('usage', `option --${spec.name} takes no value`);
      options.push(arg);
      continue;
    }
    if (inline !== undefined) {
      options.push(`--${spec.name}=${inline}`);
      continue;
    }
    const value = argv[index + 1];
    if (value === undefined) throw new JailError('usage', `option ${arg} needs a value`);
    if (value.startsWith('-') && value !== '-' && !spec.passThrough) {
      throw new JailError('usage', `option ${arg} needs a value, got ${JSON.stringify(value)} (write ${arg}=${value} if you mean it)`);
    }
    options.push(`--${spec.name}=${value}`);
    index++;
  }
  return {options, operands};
};

const splitOnce = (text: string): [string, string | undefined] => {
  const at = text.indexOf('=');
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
};

export interface FlagSpec {
  type: 'string' | 'boolean';
  isMultiple?: boolean;
  default?: string | boolean;
  choices?: readonly string[];
}

/**
 * Turn the options the splitter normalised (`--name=value`, `--name`, `--no-name`) into typed
 * flags keyed in camel case, as meow would, without loading meow on the hot path.
 */
export const parseFlags = (options: readonly string[], specs: Readonly<Record<string, FlagSpec>>): Record<string, unknown> => {
  const flags: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    flags[name] = spec.isMultiple ? [] : spec.default;
  }
  const camel = (kebab: string): string => kebab.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
  for (const option of options) {
    const [rawName, value] = splitOnce(option.slice(2));
    const negated = value === undefined && rawName.startsWith('no-') && specs[camel(rawName)] === undefined;
    const name = camel(negated ? rawName.slice(3) : rawName);
    const spec = specs[name];
    if (spec === undefined) continue; // --help and --version are meow's
    if (spec.type === 'boolean') {
      flags[name] = !negated;
      continue;
    }
    if (spec.choices && !spec.choices.includes(value!)) {
      throw new JailError('usage', `--${rawName} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(value)}`);
    }
    if (spec.isMultiple) (flags[name] as string[]).push(value!);
    else flags[name] = value;
  }
  return flags;
};

/**
 * The command line: options read with node:util parseArgs and checked against each command's
 * list, and the `--help` text made from the same list.
 */
import { parseArgs } from 'node:util';
import { HELP_COLUMNS, fold } from './text';

/** The exit statuses: every check passed; a check failed (or percpu cannot run here); a usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A mistake on the command line. The CLI prints its message in one line and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  /** The long name, without `--`. */
  readonly name: string;
  /** A one-letter alias, without `-`. */
  readonly short?: string;
  /** The value's placeholder in the help (`N`); an option without one is a flag. */
  readonly value?: string;
  readonly help: string;
}

export interface CommandSpec {
  readonly name: string;
  /** What follows `percpu <name>` on the usage line. */
  readonly synopsis: string;
  /** One line for `percpu --help`. */
  readonly summary: string;
  /** Paragraphs, separated by blank lines. */
  readonly description: string;
  readonly options: readonly OptionSpec[];
  /** Sections after the options, already laid out (tables). */
  readonly sections?: readonly string[];
  readonly exitStatus: string;
}

/** Every command takes -h, --help. */
export const HELP_OPTION: OptionSpec = { name: 'help', short: 'h', help: 'print this text and exit' };

/** The options given: a flag's value is `true`, another option's the text after it. */
export type OptionValues = ReadonlyMap<string, string | true>;

/**
 * Reads `args` (no positionals allowed) against `specs`. Throws UsageError for an unknown option,
 * an option without its value, a flag given a value (`--json=yes`), or an argument that is not
 * an option. The last of an option given twice counts.
 */
export function readOptions(args: readonly string[], specs: readonly OptionSpec[]): OptionValues {
  const options = Object.fromEntries(
    specs.map((spec) => [spec.name, { type: spec.value === undefined ? 'boolean' : 'string', ...(spec.short ? { short: spec.short } : {}) } as const]),
  );
  const { tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  const values = new Map<string, string | true>();
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') throw new UsageError(`unexpected argument '${token.value}'`);
    const spec = specs.find((s) => s.name === token.name);
    if (spec === undefined) throw new UsageError(`unknown option '${token.rawName}'`);
    if (spec.value === undefined) {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`);
      values.set(spec.name, true);
    } else {
      if (token.value === undefined) throw new UsageError(`${token.rawName} needs a value: ${token.rawName} ${spec.value}`);
      values.set(spec.name, token.value);
    }
  }
  return values;
}

/** An option's name and value as the help shows it: `-h, --help`, `--cpus N`. */
function optionLabel(spec: OptionSpec): string {
  return `${spec.short ? `-${spec.short}, ` : ''}--${spec.name}${spec.value === undefined ? '' : ` ${spec.value}`}`;
}

/** Two columns: a label, and its text folded beside it. */
export function helpColumns(entries: readonly (readonly [label: string, text: string])[]): string[] {
  const width = Math.max(...entries.map(([label]) => label.length)) + 4;
  return entries.flatMap(([label, text]) => fold(`  ${label.padEnd(width - 2)}${text}`, HELP_COLUMNS, ' '.repeat(width)));
}

/** The text `percpu <command> --help` prints. */
export function formatHelp(command: CommandSpec): string {
  const paragraphs = command.description.split('\n\n').map((paragraph) => fold(paragraph, HELP_COLUMNS, '').join('\n'));
  return [
    `usage: percpu ${command.name} ${command.synopsis}`.trimEnd(),
    '',
    ...paragraphs.flatMap((paragraph) => [paragraph, '']),
    'options:',
    ...helpColumns(command.options.map((spec) => [optionLabel(spec), spec.help])),
    '',
    ...(command.sections ?? []).flatMap((section) => [section, '']),
    ...fold(`exit status: ${command.exitStatus}`, HELP_COLUMNS, ''),
  ].join('\n');
}

/** Where a command prints: `out` for results (stdout), `err` for progress and errors (stderr). Each call is one line or more, without the final newline. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export interface Command extends CommandSpec {
  /** Runs the command with its options read; resolves with the exit status. */
  run(values: OptionValues, output: Output): Promise<number>;
}

/** A whole number from `min` to `max`, written in decimal digits. */
export function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const number = Number(text);
  if (!/^\d+$/.test(text) || number < min || number > max) {
    throw new UsageError(`--${flag} takes a whole number from ${min} to ${max}, not '${text}'`);
  }
  return number;
}

/** A number above 0 and at most `max`, in decimal (`0.5`, `.5`, `2`). */
export function positiveNumber(flag: string, text: string, max: number): number {
  const number = Number(text);
  if (!/^(\d+\.?\d*|\.\d+)$/.test(text) || number <= 0 || number > max) {
    throw new UsageError(`--${flag} takes a number above 0 and at most ${max}, not '${text}'`);
  }
  return number;
}

export const BACKEND_CHOICES = ['auto', 'gs', 'generic'] as const;

export const BACKEND_OPTION: OptionSpec = {
  name: 'backend',
  value: 'B',
  help:
    'how ops reach this CPU\'s slot: gs, one GS-relative instruction (Linux x86-64); generic, this CPU\'s pointer, ' +
    'then the plain op (anywhere); auto, gs where it works (the default; the PERCPU_BACKEND environment variable sets it too)',
};

/**
 * The --backend asked for, or undefined for the region's default (PERCPU_BACKEND, else auto),
 * whose value is checked here too so that a bad one is a usage error.
 */
export function backendOption(values: OptionValues): (typeof BACKEND_CHOICES)[number] | undefined {
  const given = values.get('backend');
  const fromEnv = process.env['PERCPU_BACKEND'];
  const [text, where] = typeof given === 'string' ? [given, '--backend'] : [fromEnv, 'PERCPU_BACKEND'];
  if (text === undefined || (given === undefined && text === '')) return undefined;
  const choice = BACKEND_CHOICES.find((c) => c === text);
  if (choice === undefined) throw new UsageError(`${where} takes auto, gs or generic, not '${text}'`);
  return given === undefined ? undefined : choice;
}

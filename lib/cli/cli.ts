/**
 * The `percpu` command (bin/percpu.js): `percpu sample` runs the Rust sample module on worker-thread
 * CPUs, `percpu race` shows what migration and interrupts do to each per-CPU update method, and
 * `percpu bench` says how to run the benchmarks. Exit status: 0 ok, 1 a check failed (or percpu
 * cannot run here), 2 a usage error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT, HELP_OPTION, UsageError, formatHelp, helpColumns, readOptions, type Command, type OptionSpec, type Output } from './args';
import { raceCommand } from './race-command';
import { sampleCommand } from './sample-command';
import { HELP_COLUMNS, fold } from './text';

const benchCommand: Command = {
  name: 'bench',
  synopsis: '',
  summary: 'how to run the benchmarks (they are not part of the npm package)',
  description:
    'The benchmarks (native loops, per-call costs from JS, scaling with the number of CPUs, the call paths of ' +
    'num()) are not part of the npm package: their native module is built only in a clone of the repository. ' +
    'There, `npm run bench` builds and runs them (`npm run bench -- --quick` for a short run); ' +
    'docs/benchmarks.md explains what they print. `percpu bench` says so in one line on stderr.',
  options: [HELP_OPTION],
  exitStatus: '2 (the benchmarks do not run from here); 0 with --help.',
  async run(_values, output) {
    output.err('percpu bench: the benchmarks are not in the npm package; in a clone of the repository: npm run bench');
    return EXIT.usage;
  },
};

const COMMANDS: readonly Command[] = [sampleCommand, raceCommand, benchCommand];

const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  HELP_OPTION,
  { name: 'version', short: 'v', help: "print percpu's version and exit" },
];

/** The text `percpu --help` prints. */
export function globalHelp(): string {
  return [
    'usage: percpu <command> [options]',
    '       percpu <command> --help',
    '       percpu --help | --version',
    '',
    ...fold('Linux kernel per-CPU variables for Node.js, with worker threads as CPUs: the sample module, the race ' +
      'demonstration, and where the benchmarks are.', HELP_COLUMNS, ''),
    '',
    'commands:',
    ...helpColumns(COMMANDS.map((command) => [command.name, command.summary])),
    '',
    'options:',
    ...helpColumns(GLOBAL_OPTIONS.map((spec) => [`-${spec.short}, --${spec.name}`, spec.help])),
    '',
    ...fold('exit status: 0 ok; 1 a check failed (sample) or a row was not as expected (race), or percpu cannot ' +
      'run here (a line on stderr says why); 2 a usage error (a line on stderr says what is wrong).', HELP_COLUMNS, ''),
  ].join('\n');
}

/** This package's version, from its package.json. */
export function version(): string {
  const file = path.join(__dirname, '..', '..', '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

const processOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Is this one of percpu's own errors (they have an ERR_PERCPU code and say what went wrong)? */
function percpuError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const code: unknown = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_PERCPU');
}

/**
 * Runs `percpu <argv>`; resolves with the exit status. A usage error and an error of percpu's own
 * print one line on stderr; anything else (a bug) rejects.
 */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<number> {
  // The options before the command are percpu's own (flags only); the rest are the command's.
  const at = argv.findIndex((arg) => !arg.startsWith('-'));
  const [own, name, rest] = at < 0 ? [argv, undefined, []] : [argv.slice(0, at), argv[at]!, argv.slice(at + 1)];
  let command: Command | undefined;
  try {
    const values = readOptions(own, GLOBAL_OPTIONS);
    if (values.has('help')) {
      output.out(globalHelp());
      return EXIT.ok;
    }
    if (values.has('version')) {
      output.out(version());
      return EXIT.ok;
    }
    if (name === undefined) throw new UsageError(`no command given (${COMMANDS.map((c) => c.name).join(', ')})`);
    if (name === 'help') return help(rest, output);
    command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) throw new UsageError(`unknown command '${name}' (${COMMANDS.map((c) => c.name).join(', ')})`);
    const options = readOptions(rest, command.options);
    if (options.has('help')) {
      output.out(formatHelp(command));
      return EXIT.ok;
    }
    return await command.run(options, output);
  } catch (error) {
    if (error instanceof UsageError) {
      const who = command === undefined ? 'percpu' : `percpu ${command.name}`;
      output.err(`${who}: ${error.message}; see '${who} --help'`);
      return EXIT.usage;
    }
    if (percpuError(error)) {
      output.err(`percpu: ${error.name}: ${error.message}`);
      return EXIT.failed;
    }
    throw error;
  }
}

/** `percpu help [command]`: the same as `percpu [command] --help`. */
function help(args: readonly string[], output: Output): number {
  if (args.length === 0) {
    output.out(globalHelp());
    return EXIT.ok;
  }
  const command = args.length === 1 ? COMMANDS.find((c) => c.name === args[0]) : undefined;
  if (command === undefined) throw new UsageError(`help takes one command (${COMMANDS.map((c) => c.name).join(', ')}), not '${args.join(' ')}'`);
  output.out(formatHelp(command));
  return EXIT.ok;
}

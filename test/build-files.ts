/**
 * Readers of the two build descriptions, binding.gyp (node-gyp) and CMakeLists.txt (cmake-js), and
 * of what each build actually ran, for the tests that keep them the same.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');

/**
 * Parses a .gyp or .gypi file: a Python literal (single- or double-quoted strings, # comments,
 * trailing commas), turned into JSON token by token.
 */
export function parseGyp(text: string): unknown {
  let json = '';
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '"' || c === "'") {
      let value = '';
      for (i++; text[i] !== c; i++) {
        if (i >= text.length) throw new SyntaxError('unterminated string in a gyp file');
        if (text[i] === '\\') {
          const escaped = text[++i]!;
          value += escaped === "'" || escaped === '"' ? escaped : (JSON.parse(`"\\${escaped}"`) as string);
        } else value += text[i];
      }
      i++;
      json += JSON.stringify(value);
    } else if (c === ',') {
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j]!)) j++;
      if (text[j] !== ']' && text[j] !== '}') json += ','; // drop trailing commas
      i++;
    } else {
      json += c;
      i++;
    }
  }
  return JSON.parse(json);
}

export interface GypTarget {
  target_name: string;
  sources?: string[];
  defines?: string[];
  dependencies?: string[];
  cflags_cc?: string[];
  'cflags_cc!'?: string[];
  cflags?: string[];
  [key: string]: unknown;
}

/** binding.gyp's target `name`. */
export function gypTarget(name: string, file: string = path.join(ROOT, 'binding.gyp')): GypTarget {
  const gyp = parseGyp(fs.readFileSync(file, 'utf8')) as { targets: GypTarget[] };
  const target = gyp.targets.find((t) => t.target_name === name);
  if (target === undefined) throw new Error(`${file} has no target ${name}`);
  return target;
}

/**
 * Every `set(NAME item item ...)` of CMakeLists.txt, as lists. Comments are dropped; items are
 * split on whitespace (quoted items are unquoted).
 */
export function cmakeLists(file: string = path.join(ROOT, 'CMakeLists.txt')): Map<string, string[]> {
  const text = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .join('\n');
  const lists = new Map<string, string[]>();
  for (const match of text.matchAll(/\bset\(\s*([A-Za-z_][A-Za-z0-9_]*)((?:\s+(?:"[^"]*"|[^\s)"]+))*)\s*\)/g)) {
    const items = [...match[2]!.matchAll(/"([^"]*)"|([^\s"]+)/g)].map((m) => m[1] ?? m[2]!);
    lists.set(match[1]!, items);
  }
  return lists;
}

/** The CMake list `name`, which must exist. */
export function cmakeList(name: string): string[] {
  const list = cmakeLists().get(name);
  if (list === undefined) throw new Error(`CMakeLists.txt has no set(${name} ...)`);
  return list;
}

/** One compiler command, split into defines and the other flags (no includes, outputs or inputs). */
export interface CompileFlags {
  defines: string[];
  flags: string[];
}

/** Splits a compiler's argument list into its defines and its other flags. */
export function splitCompileArgs(args: string[]): CompileFlags {
  const defines: string[] = [];
  const flags: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-o' || arg === '-c' || arg === '-I' || arg === '-MF' || arg === '-MT') i++;
    else if (arg.startsWith('-D')) defines.push(arg.slice(2));
    else if (arg.startsWith('-I') || arg.startsWith('-MF') || arg.startsWith('-MD') || arg === '-MMD') continue;
    else if (arg.startsWith('-')) flags.push(arg);
  }
  return { defines, flags };
}

/**
 * What node-gyp's Makefile generator compiles C++ sources with in `config` (build/percpu.target.mk):
 * DEFS, CFLAGS and CFLAGS_CC of the configuration.
 */
export function gypMakeFlags(config: 'Release' | 'Debug' = 'Release', file: string = path.join(ROOT, 'build', 'percpu.target.mk')): CompileFlags {
  const text = fs.readFileSync(file, 'utf8');
  const variable = (name: string): string[] => {
    const match = new RegExp(`^${name} :=((?:.*\\\\\\n)*.*)$`, 'm').exec(text);
    if (match === null) throw new Error(`${file} does not set ${name}`);
    return match[1]!
      .split(/\\\n/)
      .map((item) => item.trim().replace(/^'(.*)'$/, '$1'))
      .filter((item) => item !== '');
  };
  return splitCompileArgs([...variable(`DEFS_${config}`), ...variable(`CFLAGS_${config}`), ...variable(`CFLAGS_CC_${config}`)]);
}

/** What CMake compiled each source with (compile_commands.json), by source path relative to ROOT. */
export function cmakeCompileCommands(buildDir: string): Map<string, CompileFlags> {
  const commands = JSON.parse(fs.readFileSync(path.join(buildDir, 'compile_commands.json'), 'utf8')) as { file: string; command: string }[];
  return new Map(commands.map((c) => [path.relative(ROOT, c.file), splitCompileArgs(c.command.split(/\s+/).slice(1))]));
}

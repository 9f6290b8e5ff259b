/**
 * The compiled addon (the build the suite loaded): every (type, op) callback of the gs backend
 * does its work as ONE gs-prefixed add or sub of the type's width, with no lock prefix, as Linux's
 * this_cpu_add does; the generic backend's callbacks never touch GS. The binary is the same
 * whichever backend runs, so `npm test` runs this file in the gs run only.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { NUMERIC_OPS, NUMERIC_TYPES, typeInfo } from '../lib';
import { addonPath as ADDON } from '../lib/native';

/** One function of the disassembly: its (demangled) name and its instructions. */
interface Fn {
  name: string;
  instructions: string[];
}

function disassemble(file: string): Fn[] {
  const text = execFileSync('objdump', ['-d', '--no-show-raw-insn', '-C', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const fns: Fn[] = [];
  let current: Fn | undefined;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (header) {
      current = { name: header[1]!, instructions: [] };
      fns.push(current);
      continue;
    }
    const insn = /^\s+[0-9a-f]+:\s+(.*?)\s*$/.exec(line);
    if (insn && current) current.instructions.push(insn[1]!.replace(/\s+#.*$/, '').replace(/\s+/g, ' '));
  }
  return fns;
}

const REGISTER_WIDTHS: [RegExp, number][] = [
  [/^%(al|bl|cl|dl|ah|bh|ch|dh|sil|dil|bpl|spl|r(8|9|1[0-5])b)$/, 1],
  [/^%(ax|bx|cx|dx|si|di|bp|sp|r(8|9|1[0-5])w)$/, 2],
  [/^%(eax|ebx|ecx|edx|esi|edi|ebp|esp|r(8|9|1[0-5])d)$/, 4],
  [/^%(rax|rbx|rcx|rdx|rsi|rdi|rbp|rsp|r(8|9|1[0-5]))$/, 8],
];

/** The width in bytes of a general-purpose register, or undefined. */
function registerWidth(register: string): number | undefined {
  return REGISTER_WIDTHS.find(([pattern]) => pattern.test(register))?.[1];
}

const SUFFIX: Record<number, string> = { 1: 'b', 2: 'w', 4: 'l', 8: 'q' };

/** `add %reg,%gs:(%base)` and the like: a read-modify-write of a GS-relative slot from a register. */
const GS_RMW = /^(?<prefixes>(?:[a-z0-9]+ )*?)(?<mnemonic>[a-z]+) (?<source>%[a-z0-9]+),(?<target>%gs:(?:-?0x[0-9a-f]+)?\(%[a-z0-9]+\))$/;

describe('disassembly of the addon', function () {
  let fns: Fn[];

  before(function () {
    assert.ok(fs.existsSync(ADDON), `the addon is not built at ${ADDON}`);
    fns = disassemble(ADDON);
    assert.ok(fns.length > 0, 'objdump found no functions');
  });

  /** The instructions of RmwCallback<(TypeId)type, (RmwOp)op, GsBackend>, with any split-off parts of it. */
  function callback(type: number, op: number): string[] {
    const name = `percpu::(anonymous namespace)::RmwCallback<(percpu::TypeId)${type}, (percpu::RmwOp)${op}, percpu::GsBackend>(`;
    const parts = fns.filter((fn) => fn.name.includes(name));
    assert.ok(parts.length > 0, `no symbol ${name}...)`);
    return parts.flatMap((fn) => fn.instructions);
  }

  it('has an op callback for each of the 20 (type, op) pairs', function () {
    const found = new Set<string>();
    for (const fn of fns) {
      const match = /percpu::\(anonymous namespace\)::RmwCallback<\(percpu::TypeId\)(\d+), \(percpu::RmwOp\)(\d+), percpu::GsBackend>\(/.exec(fn.name);
      if (match) found.add(`${match[1]},${match[2]}`);
    }
    const expected = NUMERIC_TYPES.flatMap((_, type) => NUMERIC_OPS.map((_, op) => `${type},${op}`));
    assert.equal(expected.length, 20);
    assert.deepEqual([...found].sort(), [...expected].sort());
  });

  NUMERIC_TYPES.forEach((typeName, type) => {
    NUMERIC_OPS.forEach((opName, op) => {
      const size = typeInfo(typeName).size;
      it(`${typeName} ${opName}: exactly one gs-relative instruction, ${opName} of a ${size * 8}-bit register, no lock`, function () {
        const instructions = callback(type, op);
        const gs = instructions.filter((insn) => insn.includes('%gs:'));
        assert.equal(gs.length, 1, `gs-relative instructions: ${JSON.stringify(gs)}`);
        const insn = gs[0]!;
        assert.ok(!/\block\b/.test(insn), `lock prefix in ${insn}`);
        const match = GS_RMW.exec(insn);
        assert.ok(match?.groups, `not a register-to-%gs: read-modify-write: ${insn}`);
        const { prefixes, mnemonic, source } = match.groups as { prefixes: string; mnemonic: string; source: string };
        assert.equal(prefixes, '', `prefixes on ${insn}`);
        assert.ok(mnemonic === opName || mnemonic === opName + SUFFIX[size], `mnemonic ${mnemonic} in ${insn}`);
        assert.equal(registerWidth(source!), size, `register ${source} in ${insn}`);
        // And no lock prefix anywhere in the callback.
        assert.deepEqual(instructions.filter((i) => /\block\b/.test(i)), []);
      });
    });
  });

  it('has a generic callback for each of the 20 (type, op) pairs, none with a gs-relative or locked instruction', function () {
    const generic = fns.filter((fn) => /percpu::\(anonymous namespace\)::RmwCallback<.*, percpu::GenericBackend>\(/.test(fn.name));
    const pairs = new Set(generic.map((fn) => /TypeId\)(\d+), \(percpu::RmwOp\)(\d+)/.exec(fn.name)!.slice(1).join(',')));
    assert.equal(pairs.size, NUMERIC_TYPES.length * NUMERIC_OPS.length);
    const offending = generic.flatMap((fn) => fn.instructions.filter((i) => i.includes('%gs:') || /\block\b/.test(i)));
    assert.deepEqual(offending, []);
  });

  it('has gs-prefixed add and sub at all four widths in the whole file, none locked', function () {
    const seen = new Set<string>();
    for (const fn of fns) {
      for (const insn of fn.instructions) {
        const match = GS_RMW.exec(insn);
        if (!match?.groups) continue;
        const { prefixes, mnemonic, source } = match.groups as { prefixes: string; mnemonic: string; source: string };
        const op = /^(add|sub)[bwlq]?$/.exec(mnemonic)?.[1];
        if (op === undefined) continue;
        assert.equal(prefixes, '', `prefixes on ${insn}`);
        seen.add(`${op}/${registerWidth(source)}`);
      }
    }
    assert.deepEqual([...seen].sort(), ['add/1', 'add/2', 'add/4', 'add/8', 'sub/1', 'sub/2', 'sub/4', 'sub/8']);
  });

  /** Widths of the gs-relative movs in functions whose names contain `marker`. */
  function gsMovWidths(marker: string, direction: 'load' | 'store'): number[] {
    const widths = new Set<number>();
    for (const fn of fns.filter((f) => f.name.includes(marker))) {
      for (const insn of fn.instructions) {
        const match =
          direction === 'load'
            ? /^mov[bwlq]? %gs:(?:-?0x[0-9a-f]+)?\(%[a-z0-9]+\),(%[a-z0-9]+)$/.exec(insn)
            : /^mov[bwlq]? (%[a-z0-9]+),%gs:(?:-?0x[0-9a-f]+)?\(%[a-z0-9]+\)$/.exec(insn);
        if (match) widths.add(registerWidth(match[1]!) ?? -1);
      }
    }
    return [...widths].sort((a, b) => a - b);
  }

  it("the guarded token's read of this CPU's slot loads at each type's width (1, 2, 4 and 8 bytes)", function () {
    assert.deepEqual(gsMovWidths('NativeHandle::Read', 'load'), [1, 2, 4, 8]);
  });

  it("the guarded token's write of this CPU's slot stores at each type's width (1, 2, 4 and 8 bytes)", function () {
    assert.deepEqual(gsMovWidths('NativeHandle::Write', 'store'), [1, 2, 4, 8]);
  });
});

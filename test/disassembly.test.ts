/**
 * The compiled modules the suite loaded, the binding (percpu.node) and the accelerator
 * (percpu_accel.node): every (type, op) callback of the gs backend, in each, does its work as ONE
 * gs-prefixed instruction of the type's width (xchg: a read and a cmpxchg loop), with no lock
 * prefix, as Linux's this_cpu ops do; the generic backend's callbacks never touch GS. Three
 * callbacks per (type, op, backend): the binding's exact Node-API one, the accelerator's V8 API
 * one and, where this V8 line has it (V8 12.4 and later: Node 22, 24), the accelerator's fast C
 * function that optimized code calls directly. The binaries are the same whichever backend runs, so
 * `npm test` runs this file in the gs run only, under this machine's Node; the Node matrix
 * (scripts/test-node-matrix.js) runs it under each other line's node with an unstripped accelerator
 * built for that line (PERCPU_ACCEL): the prebuilt ones are stripped of the symbols read here.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { NUMERIC_OPS, NUMERIC_TYPES, typeInfo, type NumericOp } from '../lib';
import { addonPath as BINDING, fastPath } from '../lib/core/native';
import { expectedFastOps } from './fast-path-child';

/** One function of the disassembly: its (demangled) name and its instructions with their addresses. */
interface Fn {
  name: string;
  instructions: string[];
  addresses: number[];
}

function disassemble(file: string): Fn[] {
  const text = execFileSync('objdump', ['-d', '--no-show-raw-insn', '-C', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const fns: Fn[] = [];
  let current: Fn | undefined;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (header) {
      current = { name: header[1]!, instructions: [], addresses: [] };
      fns.push(current);
      continue;
    }
    const insn = /^\s+([0-9a-f]+):\s+(.*?)\s*$/.exec(line);
    if (insn && current) {
      current.addresses.push(parseInt(insn[1]!, 16));
      current.instructions.push(insn[2]!.replace(/\s+#.*$/, '').replace(/\s+<.*>$/, '').replace(/\s+/g, ' '));
    }
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

const SUFFIX_WIDTH: Record<string, number> = { b: 1, w: 2, l: 4, q: 8 };
const GS = String.raw`%gs:(?:-?0x[0-9a-f]+)?\(%[a-z0-9]+\)`;

/** A gs-relative instruction, decoded: mnemonic (suffix removed), direction and operand width. */
interface GsInstruction {
  prefixes: string;
  mnemonic: string;
  /** 'from-gs': register <- %gs:slot; 'to-gs': %gs:slot <- register (read-modify-write or store); 'gs-only': inc/dec %gs:slot. */
  form: 'from-gs' | 'to-gs' | 'gs-only';
  width: number | undefined;
}

function decodeGs(insn: string): GsInstruction | undefined {
  const prefixes = /^((?:(?:lock|rep|repne|repz|repnz|data16|cs|ds|es|fs|ss|gs) )*)/.exec(insn)![1]!;
  const rest = insn.slice(prefixes.length);
  let match = new RegExp(`^([a-z]+) (%[a-z0-9]+),${GS}$`).exec(rest);
  if (match) return { prefixes: prefixes.trim(), mnemonic: stripSuffix(match[1]!), form: 'to-gs', width: registerWidth(match[2]!) };
  match = new RegExp(`^([a-z]+) ${GS},(%[a-z0-9]+)$`).exec(rest);
  if (match) return { prefixes: prefixes.trim(), mnemonic: stripSuffix(match[1]!), form: 'from-gs', width: registerWidth(match[2]!) };
  match = new RegExp(`^([a-z]+?)([bwlq]) ${GS}$`).exec(rest);
  if (match) return { prefixes: prefixes.trim(), mnemonic: match[1]!, form: 'gs-only', width: SUFFIX_WIDTH[match[2]!] };
  return undefined;
}

/** objdump prints `mov`/`add`... without a suffix when a register gives the width; strip one if present. */
function stripSuffix(mnemonic: string): string {
  return /^(mov|add|sub|and|or|xor|xadd|cmpxchg|inc|dec)[bwlq]$/.exec(mnemonic)?.[1] ?? mnemonic;
}

/**
 * What each op must compile to on gs, in order: the kernel's x86 instructions, none locked.
 * Every op is ONE gs-relative instruction, except xchg: a read, then a cmpxchg loop.
 */
const EXPECTED: Record<NumericOp, [mnemonic: string, form: GsInstruction['form']][]> = {
  read: [['mov', 'from-gs']],
  write: [['mov', 'to-gs']],
  add: [['add', 'to-gs']],
  sub: [['sub', 'to-gs']],
  inc: [['inc', 'gs-only']],
  dec: [['dec', 'gs-only']],
  and: [['and', 'to-gs']],
  or: [['or', 'to-gs']],
  xor: [['xor', 'to-gs']],
  addReturn: [['xadd', 'to-gs']],
  subReturn: [['xadd', 'to-gs']],
  incReturn: [['xadd', 'to-gs']],
  decReturn: [['xadd', 'to-gs']],
  xchg: [['mov', 'from-gs'], ['cmpxchg', 'to-gs']],
  cmpxchg: [['cmpxchg', 'to-gs']],
};

// num()'s callbacks per (type, op, backend): the accelerator's fast C function (FastCCallback,
// native/accel/fast_ops.h; its template arguments end with one v8::Local<v8::Value> per operand)
// and V8 API callback (FastOpCallback), and the binding's exact Node-API one (OpCallback,
// native/binding/op_callback.h), to which the other two hand anything unusual.
const KINDS = ['percpu::OpCallback', 'percpu::accel::FastOpCallback', 'percpu::accel::FastCCallback'] as const;
type Kind = (typeof KINDS)[number];
const CALLBACK = new RegExp(
  String.raw`(percpu::OpCallback|percpu::accel::FastOpCallback|percpu::accel::FastCCallback)<\(percpu::TypeId\)(\d+), \(percpu::OpId\)(\d+), percpu::(GsBackend|GenericBackend)(?:, v8::Local<v8::Value>)* ?>\(`,
);

/**
 * Whether (type, op) must have a fast C function on this V8 line: every one on V8 12.4 and later
 * (Node 22, 24), none on 11.3 (Node 20: test/fast-path-child.ts's expectedFastOps says why). Stated
 * here, not read from the accelerator, so that a line with fast C functions cannot pass with none
 * checked; the accelerator's own list (fastPath.fastOps) must be the same.
 */
const [V8_MAJOR, V8_MINOR] = process.versions.v8.split('.').map(Number) as [number, number];
const FAST_C_LINE = V8_MAJOR * 100 + V8_MINOR >= 1204;
const FAST_OPS = expectedFastOps(process.versions.v8);
const hasFastC = (type: number, op: number) => FAST_OPS[NUMERIC_TYPES[type]!]!.includes(NUMERIC_OPS[op]!);

describe('disassembly of the binding and the accelerator', function () {
  /** Each module's functions; a callback kind is looked up in its own module. */
  const modules: Record<'binding' | 'accelerator', Fn[]> = { binding: [], accelerator: [] };
  const home = (kind: Kind) => (kind === 'percpu::OpCallback' ? modules.binding : modules.accelerator);
  let fns: Fn[];

  before(function () {
    assert.ok(fs.existsSync(BINDING), `the binding is not built at ${BINDING}`);
    // On Linux x86-64 the accelerator is built by npm test (pretest) for this Node: it must be in use.
    assert.ok(fastPath.active && fastPath.path !== null, `the accelerator is not in use: ${fastPath.reason}`);
    modules.binding = disassemble(BINDING);
    modules.accelerator = disassemble(fastPath.path!);
    fns = [...modules.binding, ...modules.accelerator];
    assert.ok(modules.binding.length > 0 && modules.accelerator.length > 0, 'objdump found no functions');
  });

  /** The parts of kind<(TypeId)type, (OpId)op, backend, ...> (GCC may split off cold parts). */
  function callback(kind: Kind, type: number, op: number, backend = 'GsBackend'): Fn[] {
    const parts = home(kind).filter((fn) => {
      const match = CALLBACK.exec(fn.name);
      return match !== null && match[1] === kind && match[2] === String(type) && match[3] === String(op) && match[4] === backend;
    });
    assert.ok(parts.length > 0, `no symbol ${kind}<(percpu::TypeId)${type}, (percpu::OpId)${op}, percpu::${backend}...>(...)`);
    return parts;
  }

  it(`has an exact and a V8 API callback for each of the ${NUMERIC_TYPES.length * NUMERIC_OPS.length} (type, op) pairs, and a fast C function for each (type, op) on V8 12.4 and later (none on 11.3), on gs and on generic`, function () {
    const found = new Map<string, Set<string>>();
    for (const fn of fns) {
      const match = CALLBACK.exec(fn.name);
      if (match && home(match[1] as Kind).includes(fn)) {
        const key = `${match[1]} ${match[4]}`;
        if (!found.has(key)) found.set(key, new Set());
        found.get(key)!.add(`${match[2]},${match[3]}`);
      }
    }
    const all = NUMERIC_TYPES.flatMap((_, type) => NUMERIC_OPS.map((_, op) => `${type},${op}`)).sort();
    assert.equal(all.length, 150);
    const expected = NUMERIC_TYPES.flatMap((_, type) => NUMERIC_OPS.flatMap((_, op) => (hasFastC(type, op) ? [`${type},${op}`] : []))).sort();
    assert.deepEqual(expected, FAST_C_LINE ? all : []);
    assert.deepEqual(fastPath.fastOps, FAST_OPS, 'the accelerator lists other fast C functions than this V8 line has');
    const kinds = FAST_C_LINE ? KINDS : KINDS.filter((k) => k !== 'percpu::accel::FastCCallback');
    assert.deepEqual([...found.keys()].sort(), kinds.flatMap((k) => [`${k} GenericBackend`, `${k} GsBackend`]).sort());
    for (const [key, pairs] of found) assert.deepEqual([...pairs].sort(), key.includes('FastCCallback') ? expected : all, key);
    const fastC = ['GsBackend', 'GenericBackend'].map((backend) => found.get(`percpu::accel::FastCCallback ${backend}`)?.size ?? 0);
    console.log(`        V8 ${process.versions.v8}: fast C functions of ${fastC[0]} (type, op) pairs on gs and ${fastC[1]} on generic`);
  });

  NUMERIC_TYPES.forEach((typeName, type) => {
    NUMERIC_OPS.forEach((opName, op) => {
      const size = typeInfo(typeName).size;
      const expected = EXPECTED[opName];
      const shape = expected.map(([m]) => m).join(' + ');
      const kinds = KINDS.filter((kind) => kind !== 'percpu::accel::FastCCallback' || hasFastC(type, op));
      it(`${typeName} ${opName}: ${shape} relative to GS at ${size * 8} bits, no lock, in the ${kinds.length === 3 ? 'fast C, V8 API and exact' : 'V8 API and exact'} callbacks`, function () {
        for (const kind of kinds) checkCallback(callback(kind, type, op));
      });
      function checkCallback(parts: Fn[]): void {
        const instructions = parts.flatMap((fn) => fn.instructions);
        const gs = instructions.filter((insn) => insn.includes('%gs:'));
        const decoded = gs.map((insn) => ({ insn, ...decodeGs(insn) }));
        assert.deepEqual(
          decoded.map((d) => [d.mnemonic, d.form, d.width, d.prefixes]),
          expected.map(([mnemonic, form]) => [mnemonic, form, size, '']),
          `gs-relative instructions: ${JSON.stringify(gs)}`,
        );
        assert.deepEqual(instructions.filter((i) => /\block\b/.test(i)), [], 'a lock prefix in the callback');
        if (opName === 'xchg') {
          // The cmpxchg loop: a conditional jump back to the cmpxchg itself.
          const fn = parts.find((f) => f.instructions.some((i) => i.startsWith('cmpxchg')))!;
          const at = fn.addresses[fn.instructions.findIndex((i) => i.startsWith('cmpxchg'))]!;
          assert.ok(fn.instructions.some((i) => i === `jne ${at.toString(16)}`), `no jne back to the cmpxchg at ${at.toString(16)}`);
        }
      }
    });
  });

  it('no generic callback has a gs-relative or locked instruction', function () {
    const generic = fns.filter((fn) => CALLBACK.exec(fn.name)?.[4] === 'GenericBackend');
    assert.ok(generic.length >= NUMERIC_TYPES.length * NUMERIC_OPS.length);
    const offending = generic.flatMap((fn) => fn.instructions.filter((i) => i.includes('%gs:') || /\block\b/.test(i)));
    assert.deepEqual(offending, []);
  });

  for (const module of ['binding', 'accelerator'] as const) {
    it(`in the whole ${module}: every expected gs-relative instruction at all four widths, and no lock prefix on any gs-relative instruction`, function () {
      checkWholeModule(modules[module]);
    });
  }

  function checkWholeModule(fns: Fn[]): void {
    const seen = new Set<string>();
    const locked: string[] = [];
    for (const fn of fns) {
      for (const insn of fn.instructions) {
        if (!insn.includes('%gs:')) continue;
        if (/\block\b/.test(insn)) locked.push(`${fn.name}: ${insn}`);
        const d = decodeGs(insn);
        if (d) seen.add(`${d.mnemonic} ${d.form} ${d.width}`);
      }
    }
    assert.deepEqual(locked, []);
    const wanted = new Set(Object.values(EXPECTED).flatMap((list) => list.flatMap(([m, form]) => [1, 2, 4, 8].map((w) => `${m} ${form} ${w}`))));
    assert.deepEqual([...wanted].filter((w) => !seen.has(w)), []);
  }

  it('cmpxchgDouble is one cmpxchg16b relative to GS, with no lock prefix', function () {
    const fn = modules.binding.filter((f) => f.name.includes('percpu::PairCmpxchgDouble('));
    const instructions = fn.flatMap((f) => f.instructions);
    assert.deepEqual(instructions.filter((i) => i.includes('%gs:')).map((i) => i.replace(/\(%[a-z0-9]+\)/, '(reg)')), ['cmpxchg16b %gs:(reg)']);
    assert.deepEqual(instructions.filter((i) => /\block\b/.test(i)), []);
  });

  /** Widths of the gs-relative movs in functions whose names contain `marker`. */
  function gsMovWidths(marker: string, form: 'from-gs' | 'to-gs'): number[] {
    const widths = new Set<number>();
    for (const fn of modules.binding.filter((f) => f.name.includes(marker))) {
      for (const insn of fn.instructions) {
        const d = insn.includes('%gs:') ? decodeGs(insn) : undefined;
        if (d?.mnemonic === 'mov' && d.form === form) widths.add(d.width ?? -1);
      }
    }
    return [...widths].sort((a, b) => a - b);
  }

  it("the guarded token's read of this CPU's slot loads at each type's width (1, 2, 4 and 8 bytes)", function () {
    assert.deepEqual(gsMovWidths('(anonymous namespace)::Read(', 'from-gs'), [1, 2, 4, 8]);
  });

  it("the guarded token's write of this CPU's slot stores at each type's width (1, 2, 4 and 8 bytes)", function () {
    assert.deepEqual(gsMovWidths('(anonymous namespace)::Write(', 'to-gs'), [1, 2, 4, 8]);
  });
});

/**
 * Instructions per op from the disassembly of the addon's benchmark loops (native/bench/bench_loops.cc):
 * each loop function's body is the instructions from its back-branch's target to the
 * back-branch; the op's count is the body's minus the empty loop's (the loop's own increment,
 * compare and branch).
 */
import { execFileSync } from 'node:child_process';

export interface LoopBody {
  method: string;
  symbol: string;
  /** The loop body, one instruction a line, from the back-branch's target to the back-branch. */
  body: string[];
  /** gs-relative instructions in the body, and locked ones. */
  gsInstructions: number;
  lockedInstructions: number;
  /** Body length minus the empty loop's: the op's own instructions. */
  opInstructions: number;
}

interface Insn {
  address: number;
  text: string;
}

/** Each named function's instructions, from `objdump -d`. */
function functions(file: string, wanted: ReadonlySet<string>): Map<string, Insn[]> {
  const text = execFileSync('objdump', ['-d', '--no-show-raw-insn', file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const found = new Map<string, Insn[]>();
  let current: Insn[] | undefined;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (header) {
      current = wanted.has(header[1]!) ? [] : undefined;
      if (current) found.set(header[1]!, current);
      continue;
    }
    const insn = /^\s+([0-9a-f]+):\s+(.*?)\s*$/.exec(line);
    if (insn && current) current.push({ address: parseInt(insn[1]!, 16), text: insn[2]!.replace(/\s+#.*$/, '').replace(/\s+/g, ' ') });
  }
  return found;
}

/** The body of the function's last backward branch inside it: its target up to the branch. */
function loopBody(insns: Insn[]): string[] {
  for (let i = insns.length - 1; i >= 0; i--) {
    const branch = /^j[a-z]+ ([0-9a-f]+)\b/.exec(insns[i]!.text);
    if (!branch) continue;
    const target = parseInt(branch[1]!, 16);
    if (target < insns[i]!.address && target >= insns[0]!.address) {
      return insns.filter((x) => x.address >= target && x.address <= insns[i]!.address).map((x) => x.text);
    }
  }
  throw new Error('no backward branch: not a loop');
}

/** The loop bodies of `loops` (method -> symbol) in the addon at `file`. */
export function loopBodies(file: string, loops: Record<string, string>): LoopBody[] {
  const fns = functions(file, new Set(Object.values(loops)));
  const bodies = Object.entries(loops).map(([method, symbol]) => {
    const insns = fns.get(symbol);
    if (insns === undefined) throw new Error(`objdump found no function ${symbol} in ${file}`);
    return { method, symbol, body: loopBody(insns) };
  });
  const overhead = bodies.find((b) => b.method === 'empty')?.body.length ?? 0;
  return bodies.map(({ method, symbol, body }) => ({
    method,
    symbol,
    body,
    gsInstructions: body.filter((i) => i.includes('%gs:')).length,
    lockedInstructions: body.filter((i) => /^lock\b/.test(i)).length,
    opInstructions: body.length - overhead,
  }));
}

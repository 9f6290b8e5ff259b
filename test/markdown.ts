/**
 * Fenced code blocks of the Markdown pages, for the tests that hold the pages to the code
 * (test/docs.test.ts, test/metrics-docs.test.ts). No side effects on import.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

export interface Block {
  doc: string;
  line: number;
  language: string;
  tokens: Map<string, string | true>;
  text: string;
}

/** The fenced blocks of a markdown text, with their info-string tokens (`key=value` or flags). */
export function fencedBlocks(doc: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(```+)\s*(\S*)\s*(.*)$/.exec(lines[i]!);
    if (open === null) continue;
    const fence = open[1]!;
    const tokens = new Map<string, string | true>();
    for (const token of open[3]!.split(/\s+/).filter(Boolean)) {
      const eq = token.indexOf('=');
      tokens.set(eq < 0 ? token : token.slice(0, eq), eq < 0 ? true : token.slice(eq + 1));
    }
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !lines[j]!.startsWith(fence); j++) body.push(lines[j]!);
    blocks.push({ doc, line: i + 1, language: open[2]!, tokens, text: `${body.join('\n')}\n` });
    i = j;
  }
  return blocks;
}

/** A block's lines, as written. */
export const linesOf = (block: Block): string[] => block.text.slice(0, -1).split('\n');

/** The examples/ file a block quotes (its first line is `// examples/...`), or null. */
export function excerptOf(block: Block): string | null {
  const first = /^\/\/ (examples\/\S+)$/.exec(block.text.split('\n')[0]!);
  return first !== null && fs.existsSync(path.join(ROOT, first[1]!)) ? first[1]! : null;
}

/** Asserts that an excerpt's lines after the first are lines of the file it names, in order. */
export function checkExcerpt(block: Block): void {
  const file = excerptOf(block);
  assert.ok(file !== null, `${block.doc}:${block.line}: the block names no file of examples/`);
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  let at = 0;
  for (const line of block.text.trimEnd().split('\n').slice(1)) {
    const found = lines.indexOf(line, at);
    assert.ok(found >= 0, `${block.doc}:${block.line}: ${file} has no line, after line ${at}, reading: ${line}`);
    at = found + 1;
  }
}

/**
 * Text for the terminal: every line the CLI prints fits COLUMNS. Prose folds at spaces onto
 * indented continuation lines; tables are columns of fixed or measured widths.
 */

/** The widest line `percpu sample` and `percpu race` print. */
export const COLUMNS = 100;

/** The widest line of `--help`: an 80-column terminal. */
export const HELP_COLUMNS = 80;

/** What continuation lines of folded prose start with. */
export const FOLD_INDENT = '  ';

/**
 * `text` folded at single spaces into lines of at most `width` columns, continuation lines
 * starting with `indent`. A word longer than a line stays whole on its own line. Folding only
 * replaces spaces, so joining the lines with `\n${indent}` → ' ' gives `text` back.
 */
export function fold(text: string, width = COLUMNS, indent = FOLD_INDENT): string[] {
  const lines: string[] = [];
  let line: string | undefined;
  for (const word of text.split(' ')) {
    if (line === undefined) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = `${indent}${word}`;
    }
  }
  lines.push(line ?? '');
  return lines;
}

/** Folded lines joined back into one: the inverse of fold() for text without newlines. */
export function unfold(lines: string, indent = FOLD_INDENT): string {
  return lines.split(`\n${indent}`).join(' ');
}

export interface Column {
  readonly width: number;
}

/** One table line: cells padded to their columns, two spaces apart, no trailing spaces. */
export function tableLine(cells: readonly string[], columns: readonly Column[]): string {
  return cells
    .map((cell, i) => cell.padEnd(columns[i]!.width))
    .join('  ')
    .trimEnd();
}

/** The rule under a table's header. */
export function tableRule(columns: readonly Column[]): string {
  return columns.map((c) => '-'.repeat(c.width)).join('  ');
}

/** Columns as wide as the widest of their cells (header included). */
export function measure(rows: readonly (readonly string[])[]): Column[] {
  return rows[0]!.map((_, i) => ({ width: Math.max(...rows.map((row) => row[i]!.length)) }));
}

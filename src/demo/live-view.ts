/**
 * The demo's terminal output: section headings, aligned tables, and a live frame that a running pattern refreshes.
 * On a TTY the frame is redrawn in place ten times a second with plain ANSI cursor movement and ✓/✗ are coloured
 * (unless NO_COLOR is set); elsewhere (a pipe, CI) each pattern prints one plain progress line per second and the
 * final table once, so logs stay readable.
 */

/** Where the view writes. `isTTY`/`columns` decide live redraws; a plain Writable is a non-TTY. */
export interface ViewStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

/** Column alignment. */
export type Align = 'left' | 'right';

/** Formats rows as aligned columns separated by two spaces; `head` is underlined by the first row of dashes. */
export function formatTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[],
): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
}

/** Wraps `text` at spaces to lines of at most `width` characters, each prefixed by `indent`. */
export function wrapText(text: string, width: number, indent = ''): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      out.push(indent + line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(indent + line);
  return out;
}

/** A progress bar `▕████░░░░▏ 1.2 s / 3.0 s`. */
export function progressBar(elapsedMs: number, totalMs: number, width = 20): string {
  const f = totalMs > 0 ? Math.min(1, Math.max(0, elapsedMs / totalMs)) : 1;
  const full = Math.round(f * width);
  return `▕${'█'.repeat(full)}${'░'.repeat(width - full)}▏ ${(elapsedMs / 1000).toFixed(1)} s / ${(totalMs / 1000).toFixed(1)} s`;
}

/** A frame being refreshed while a pattern runs; `stop` replaces it with the final lines. */
export interface LiveFrame {
  stop(finalLines: readonly string[]): void;
}

const ESC = '\x1b[';

/** The demo's output. */
export class LiveView {
  readonly live: boolean;
  readonly colour: boolean;
  private cursorHidden = false;

  constructor(
    private readonly out: ViewStream,
    opts: { live?: boolean; colour?: boolean } = {},
  ) {
    this.live = opts.live ?? out.isTTY === true;
    this.colour = opts.colour ?? (out.isTTY === true && !process.env.NO_COLOR);
  }

  /** Writes lines as they are (with ✓/✗ coloured on a TTY). */
  print(...lines: string[]): void {
    for (const l of lines) this.out.write(`${this.paint(l)}\n`);
  }

  /** `━━ 1/6 composite · Composite routing ━━━━`, preceded by a blank line. */
  heading(text: string): void {
    const width = Math.min(100, this.width());
    const rule = '━'.repeat(Math.max(3, width - text.length - 4));
    this.out.write(`\n${this.bold(`━━ ${text} ${rule}`)}\n`);
  }

  /** Dimmed text on a TTY. */
  dim(text: string): string {
    return this.colour ? `${ESC}2m${text}${ESC}22m` : text;
  }

  /** Bold text on a TTY. */
  bold(text: string): string {
    return this.colour ? `${ESC}1m${text}${ESC}22m` : text;
  }

  /**
   * Starts a live frame: on a TTY, `render()` is drawn every 100 ms in place; otherwise `progress()` is printed
   * (prefixed with the elapsed seconds) once per second.
   */
  start(render: () => string[], progress: () => string): LiveFrame {
    const t0 = performance.now();
    let height = 0;
    const draw = (lines: readonly string[]): void => {
      let s = height > 0 ? `${ESC}${height}F${ESC}0J` : '';
      for (const l of lines) s += `${this.paint(this.clip(l))}\n`;
      this.out.write(s);
      height = lines.length;
    };
    let timer: NodeJS.Timeout;
    if (this.live) {
      this.hideCursor();
      draw(render());
      timer = setInterval(() => draw(render()), 100);
    } else {
      timer = setInterval(() => {
        const secs = ((performance.now() - t0) / 1000).toFixed(0).padStart(3);
        this.out.write(`  ${secs} s  ${progress()}\n`);
      }, 1000);
    }
    timer.unref();
    return {
      stop: (finalLines) => {
        clearInterval(timer);
        if (this.live) {
          draw(finalLines);
          this.showCursor();
        } else {
          for (const l of finalLines) this.out.write(`${l}\n`);
        }
      },
    };
  }

  /** Restores the cursor if a live frame hid it (call on exit paths). */
  showCursor(): void {
    if (this.cursorHidden) {
      this.out.write(`${ESC}?25h`);
      this.cursorHidden = false;
    }
  }

  private hideCursor(): void {
    if (!this.cursorHidden) {
      this.out.write(`${ESC}?25l`);
      this.cursorHidden = true;
    }
  }

  private width(): number {
    return this.out.columns && this.out.columns > 20 ? this.out.columns : 100;
  }

  /** Cuts a line to the terminal width so a redraw never wraps (which would break the cursor arithmetic). */
  private clip(line: string): string {
    const max = this.width() - 1;
    const plain = line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    return plain.length > max ? `${plain.slice(0, max - 1)}…` : line;
  }

  private paint(line: string): string {
    if (!this.colour) return line;
    return line
      .replace(/✓/g, `${ESC}32m✓${ESC}39m`)
      .replace(/✗/g, `${ESC}31m✗${ESC}39m`)
      .replace(/⚠/g, `${ESC}33m⚠${ESC}39m`);
  }
}

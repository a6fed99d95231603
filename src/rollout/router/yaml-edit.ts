/**
 * Source-preserving edits of one YAML document, for the file traffic router. Every operation edits the parsed
 * `Document` in place through the `yaml` library's node API (`YAMLMap.set`/`delete`, sequence items, scalar values)
 * **and** records the matching change of the source text, so the file can be rewritten by splicing only the changed
 * nodes into the original text: comments, key order, quoting, indentation and every other document stay byte for
 * byte. New nodes are rendered with the document's own style (sequence indentation, indent width, flow padding).
 * Edits inside a flow collection (`{…}`, `[…]`) re-render the outermost flow collection. {@link SourceEditor.result}
 * checks the spliced text against the edited `Document` (same JS value) and falls back to `doc.toString()` for that
 * document when they differ, so a layout the splicer does not understand costs formatting, never correctness.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  Document,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Node,
  type Pair,
  parseAllDocuments,
  type Scalar,
  type ToStringOptions,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';

/** Parse options shared by the router and the loader (`config/load.ts`): YAML 1.1 scalars, unique keys. */
export const PARSE_OPTIONS = { version: '1.1', uniqueKeys: true } as const;

/** A pending change of the source: replace `[start, end)` by `render()` (evaluated after all node edits). */
interface Edit {
  start: number;
  end: number;
  render: () => string;
  seq: number;
}

/** Thrown internally when an edit cannot be expressed as a splice; the caller falls back to re-rendering. */
class SpliceUnsupported extends Error {}

/** Style of the document, detected from its source. */
export interface RenderStyle {
  indent: number;
  indentSeq: boolean;
  flowCollectionPadding: boolean;
  newline: '\n' | '\r\n';
}

/**
 * Edits one parsed document of `text` (`docs[docIndex]`). Node arguments must belong to that document; nodes that
 * are inserted must be complete before they are inserted (they are rendered, not spliced).
 */
export class SourceEditor {
  readonly style: RenderStyle;
  private readonly edits: Edit[] = [];
  private readonly parents = new Map<unknown, Node | null>();
  private readonly originals: unknown[];
  private fallback = false;
  private counter = 0;

  /**
   * @param opts.json the file is JSON: `result()` writes the edited value with `JSON.stringify` (JSON has no
   *   comments to keep), indented as the original.
   */
  constructor(
    readonly text: string,
    readonly docs: readonly Document.Parsed[],
    readonly docIndex: number,
    private readonly opts: { json?: boolean } = {},
  ) {
    const doc = docs[docIndex]!;
    this.style = detectStyle(text, doc);
    this.originals = docs.map((d) => d.toJS({ maxAliasCount: 100 }));
    indexParents(doc.contents as Node | null, null, this.parents);
  }

  private get doc(): Document.Parsed {
    return this.docs[this.docIndex]!;
  }

  /** Sets a scalar's value, keeping its quoting style. */
  setScalar(node: Scalar, value: unknown): void {
    if (isDeepStrictEqual(node.value, value)) return;
    node.value = value;
    const r = node.range;
    if (!r || node.type === 'BLOCK_FOLDED' || node.type === 'BLOCK_LITERAL') {
      this.structural(node);
      return;
    }
    this.push(r[0], r[1], () => this.renderInline(node));
  }

  /** Sets `key` of `map` to `value` (a scalar value updates the existing scalar in place; anything else replaces). */
  setValue(map: YAMLMap, key: string, value: unknown): void {
    const pair = findPair(map, key);
    if (!pair) {
      this.insertPair(map, key, value);
      return;
    }
    if (isScalar(pair.value) && (value === null || typeof value !== 'object')) {
      this.setScalar(pair.value, value);
      return;
    }
    const node = isNodeLike(value) ? value : this.doc.createNode(value);
    if (isNodeLike(pair.value) && isDeepStrictEqual(toJS(pair.value), toJS(node))) return;
    const old = pair.value as Node | null;
    pair.value = node;
    if (!old?.range || !isCollection(old)) {
      this.structural(map);
      return;
    }
    this.replace(old, node);
  }

  /** Appends `key: value` to `map`. */
  insertPair(map: YAMLMap, key: string, value: unknown): void {
    const node = isNodeLike(value) ? value : this.doc.createNode(value);
    map.set(key, node);
    if (map.flow || !map.range) {
      this.structural(map);
      return;
    }
    // After the last pair that is in the source (pairs inserted before go to the same place, in order).
    const placed = map.items.filter((p) => (p.key as Node | null)?.range !== undefined) as Pair<Node, Node>[];
    const first = placed[0];
    const last = placed[placed.length - 1];
    if (!first || !last) {
      this.structural(map);
      return;
    }
    try {
      const col = this.column(first.key.range![0]);
      if (
        this.text.slice(this.lineStart(first.key.range![0]), first.key.range![0]).trim() !== '' &&
        !this.isItemStart(first.key.range![0])
      ) {
        throw new SpliceUnsupported('map does not start a line');
      }
      const at = this.lineEndAt(this.contentEnd(last));
      const tmp = this.doc.createNode({}) as YAMLMap;
      tmp.items.push(map.items[map.items.length - 1]!);
      this.push(at, at, () => this.terminated(at, this.indentBlock(this.renderBlock(tmp), col, true)));
    } catch (e) {
      if (!(e instanceof SpliceUnsupported)) throw e;
      this.structural(map);
    }
  }

  /** Removes `key` from `map` (and comment lines directly above it). */
  deletePair(map: YAMLMap, key: string): void {
    const pair = findPair(map, key);
    if (!pair) return;
    map.delete(key);
    if (map.flow) {
      this.structural(map);
      return;
    }
    const k = pair.key as Node | null;
    if (!k?.range) {
      this.structural(map);
      return;
    }
    try {
      const start = this.blockLineStart(k.range[0], k.commentBefore !== undefined);
      this.push(start, this.lineEndAt(this.contentEnd(pair as Pair<Node, Node>)), () => '');
    } catch (e) {
      if (!(e instanceof SpliceUnsupported)) throw e;
      this.structural(map);
    }
  }

  /** Inserts `node` into `seq` before `before` (an item of `seq`), or at the end when `before` is null. */
  insertItem(seq: YAMLSeq, node: Node, before: Node | null): void {
    const items = seq.items as Node[];
    const index = before === null ? items.length : items.indexOf(before);
    if (index < 0) throw new Error('insertItem: `before` is not an item of the sequence');
    items.splice(index, 0, node);
    if (seq.flow || !seq.range) {
      this.structural(seq);
      return;
    }
    try {
      // After the nearest earlier item that is in the source, else before the first later one.
      const prev = items.slice(0, index).findLast((x) => x.range !== undefined);
      const next = items.slice(index + 1).find((x) => x.range !== undefined);
      const anchor = prev ?? next;
      if (!anchor?.range) {
        this.structural(seq);
        return;
      }
      const dash = this.dashBefore(anchor.range[0]);
      const col = this.column(dash);
      const at = prev
        ? this.lineEndAt(this.contentEnd(prev))
        : this.blockLineStart(dash, anchor.commentBefore !== undefined);
      this.push(at, at, () => {
        const body = this.indentBlock(this.renderBlock(node), col + 2, false);
        return this.terminated(at, `${' '.repeat(col)}- ${body}`);
      });
    } catch (e) {
      if (!(e instanceof SpliceUnsupported)) throw e;
      this.structural(seq);
    }
  }

  /** Removes `node` from `seq` (with comment lines directly above it). */
  deleteItem(seq: YAMLSeq, node: Node): void {
    const items = seq.items as Node[];
    const index = items.indexOf(node);
    if (index < 0) return;
    items.splice(index, 1);
    if (seq.flow || !node.range || items.length === 0) {
      this.structural(seq);
      return;
    }
    try {
      const dash = this.dashBefore(node.range[0]);
      const start = this.blockLineStart(dash, node.commentBefore !== undefined);
      this.push(start, this.lineEndAt(this.contentEnd(node)), () => '');
    } catch (e) {
      if (!(e instanceof SpliceUnsupported)) throw e;
      this.structural(seq);
    }
  }

  /** Replaces the item `old` of `seq` by `node` in place. */
  replaceItem(seq: YAMLSeq, old: Node, node: Node): void {
    const items = seq.items as Node[];
    const index = items.indexOf(old);
    if (index < 0) throw new Error('replaceItem: not an item of the sequence');
    items[index] = node;
    if (seq.flow || !old.range || !isCollection(old) || old.flow) {
      this.structural(seq);
      return;
    }
    this.replace(old, node);
  }

  /**
   * The new text of the whole file. Verifies that the spliced document reads back as the edited `Document`; if it
   * does not (a layout the splicer does not handle), re-renders that one document with `toString()`.
   */
  result(): string {
    const expected = this.doc.toJS({ maxAliasCount: 100 });
    if (this.opts.json && this.docs.length === 1) {
      if (this.edits.length === 0 && !this.fallback) return this.text;
      const indent = /\n( +)"/.exec(this.text)?.[1]?.length ?? 2;
      const out = JSON.stringify(expected, null, indent) + (/\n\s*$/.test(this.text) ? '\n' : '');
      return out.replace(/\n/g, this.style.newline);
    }
    if (!this.fallback) {
      try {
        const out = this.splice();
        if (this.readsBack(out, expected)) return out;
      } catch (e) {
        if (!(e instanceof SpliceUnsupported)) throw e;
      }
    }
    const out = this.rerenderDocument();
    if (!this.readsBack(out, expected)) {
      throw new Error('internal error: the rewritten document does not read back as intended');
    }
    return out;
  }

  // ------------------------------------------------------------------ internals

  private push(start: number, end: number, render: () => string): void {
    this.edits.push({ start, end, render, seq: this.counter++ });
  }

  /** A structural change the splicer cannot express at this node: re-render its outermost flow ancestor, if any. */
  private structural(node: Node): void {
    let top: Node | null = null;
    for (let n: Node | null = node; n; n = this.parents.get(n) ?? null) {
      if (isCollection(n) && n.flow) top = n;
    }
    if (top?.range) {
      const r = top.range;
      this.push(r[0], r[1], () => this.renderFlow(top));
      return;
    }
    this.fallback = true;
  }

  /** Replaces a block collection in place by `node` (rendered at the old one's column). */
  private replace(old: Node, node: Node): void {
    const r = old.range!;
    if (isCollection(old) && old.flow) {
      this.push(r[0], r[1], () => this.renderFlow(node));
      return;
    }
    const col = this.column(r[0]);
    const end = this.lineEndAt(this.contentEnd(old));
    this.push(r[0], end, () => this.terminated(end, this.indentBlock(this.renderBlock(node), col, false)));
  }

  private splice(): string {
    const size = (e: Edit) => e.end - e.start;
    // Insertions first at a position, then replacements (longest first); later edits of one range supersede.
    const sorted = [...this.edits].sort(
      (a, b) => a.start - b.start || Math.sign(size(a)) - Math.sign(size(b)) || b.end - a.end || a.seq - b.seq,
    );
    const unique = sorted.filter(
      (e, i) => size(e) === 0 || !sorted.slice(i + 1).some((o) => o.start === e.start && o.end === e.end),
    );
    // Drop edits inside a larger replaced range: its rendering already shows the edited nodes.
    const kept = unique.filter(
      (e) =>
        !unique.some(
          (k) =>
            k !== e &&
            size(k) > 0 &&
            (size(e) > 0
              ? k.start <= e.start && e.end <= k.end && size(k) > size(e)
              : k.start < e.start && e.start < k.end),
        ),
    );
    let out = '';
    let at = 0;
    for (const e of kept) {
      if (e.start < at) throw new SpliceUnsupported('overlapping edits');
      out += this.text.slice(at, e.start) + e.render().replace(/\r?\n/g, this.style.newline);
      at = e.end;
    }
    return out + this.text.slice(at);
  }

  private readsBack(text: string, expected: unknown): boolean {
    const docs = parseAllDocuments(text, PARSE_OPTIONS);
    if (!Array.isArray(docs) || docs.length !== this.docs.length) return false;
    return docs.every((d, i) => {
      if (d.errors.length > 0) return false;
      const want = i === this.docIndex ? expected : this.originals[i];
      return isDeepStrictEqual(d.toJS({ maxAliasCount: 100 }), want);
    });
  }

  /** The file with this document re-rendered by `toString()` in the detected style; other documents verbatim. */
  private rerenderDocument(): string {
    const start = this.docIndex === 0 ? 0 : this.docs[this.docIndex - 1]!.range[2];
    const end = this.doc.range[2];
    let rendered = this.doc.toString(this.toStringOptions());
    if (end >= this.text.length && !this.text.endsWith('\n')) rendered = rendered.replace(/\n$/, '');
    return this.text.slice(0, start) + rendered.replace(/\r?\n/g, this.style.newline) + this.text.slice(end);
  }

  private toStringOptions(): ToStringOptions {
    return {
      indent: this.style.indent,
      indentSeq: this.style.indentSeq,
      flowCollectionPadding: this.style.flowCollectionPadding,
      lineWidth: 0,
    };
  }

  /** Renders a node as a top-level block (its own leading comment and blank line left out); ends with a newline. */
  private renderBlock(node: Node): string {
    return withoutLeadingComment(node, () =>
      new Document(node, { version: '1.1' }).toString(this.toStringOptions()),
    ).replace(/\n+$/, '\n');
  }

  private renderFlow(node: Node): string {
    return withoutLeadingComment(node, () => {
      const wasFlow = isCollection(node) ? node.flow : undefined;
      if (isCollection(node)) node.flow = true;
      const comment = node.comment;
      node.comment = undefined;
      try {
        return new Document(node, { version: '1.1' }).toString(this.toStringOptions()).replace(/\n+$/, '');
      } finally {
        node.comment = comment;
        if (isCollection(node)) node.flow = wasFlow;
      }
    });
  }

  private renderInline(node: Scalar): string {
    const comment = node.comment;
    node.comment = undefined;
    try {
      return withoutLeadingComment(node, () =>
        new Document(node, { version: '1.1' }).toString(this.toStringOptions()).replace(/\n+$/, ''),
      );
    } finally {
      node.comment = comment;
    }
  }

  /** Prefixes every line but the first (or every line, with `all`) by `col` spaces; blank lines stay empty. */
  private indentBlock(block: string, col: number, all: boolean): string {
    const pad = ' '.repeat(col);
    return block
      .split('\n')
      .map((line, i) => ((i > 0 || all) && line !== '' ? pad + line : line))
      .join('\n');
  }

  /** Drops the final newline of `block` when it is inserted at the very end of a file without one. */
  private terminated(at: number, block: string): string {
    if (at >= this.text.length && !this.text.endsWith('\n')) return `\n${block.replace(/\n$/, '')}`;
    return block;
  }

  private column(offset: number): number {
    return offset - this.lineStart(offset);
  }

  private lineStart(offset: number): number {
    return this.text.lastIndexOf('\n', offset - 1) + 1;
  }

  /** The offset just after the newline ending the line that contains `offset` (or the end of the text). */
  private lineEndAt(offset: number): number {
    if (offset > 0 && this.text[offset - 1] === '\n') return offset; // content that ends with its line break
    const i = this.text.indexOf('\n', offset);
    return i < 0 ? this.text.length : i + 1;
  }

  /** Start of the line of `offset` (which must have only spaces before it), moved up over attached comment lines. */
  private blockLineStart(offset: number, withComments: boolean): number {
    let start = this.lineStart(offset);
    if (this.text.slice(start, offset).trim() !== '') throw new SpliceUnsupported('content before the node');
    if (!withComments) return start;
    while (start > 0) {
      const prev = this.lineStart(start - 1);
      if (!/^\s*#/.test(this.text.slice(prev, start))) break;
      start = prev;
    }
    return start;
  }

  /** True when `offset` follows the `- ` of a block sequence item that starts its line. */
  private isItemStart(offset: number): boolean {
    try {
      const dash = this.dashBefore(offset);
      return this.text.slice(this.lineStart(dash), dash).trim() === '';
    } catch {
      return false;
    }
  }

  /** The `-` of the block sequence item whose node starts at `offset`. */
  private dashBefore(offset: number): number {
    let i = offset - 1;
    while (i >= 0 && (this.text[i] === ' ' || this.text[i] === '\t')) i--;
    if (this.text[i] !== '-') throw new SpliceUnsupported('not a block sequence item');
    return i;
  }

  /** End offset of the last content of a node (trailing comments and blank lines excluded). */
  private contentEnd(x: Node | Pair<Node, Node>): number {
    if (isPair(x)) {
      const k = x.key as Node | null;
      const v = x.value as Node | null;
      const ends = [k?.range ? this.contentEnd(k) : -1, v?.range ? this.contentEnd(v) : -1];
      const end = Math.max(...ends);
      if (end < 0) throw new SpliceUnsupported('pair without a position');
      return end;
    }
    if (isCollection(x) && !x.flow && x.items.length > 0) {
      // The last item that is in the source: items added by this editor are spliced in at that end.
      const items = x.items as (Node | Pair<Node, Node>)[];
      const inSource = (i: Node | Pair<Node, Node>): boolean =>
        isPair(i) ? (i.key as Node | null)?.range != null || (i.value as Node | null)?.range != null : i.range != null;
      return this.contentEnd(items.findLast(inSource) ?? items[items.length - 1]!);
    }
    if (!x.range) throw new SpliceUnsupported('node without a position');
    return x.range[1];
  }
}

function isNodeLike(v: unknown): v is Node {
  return isScalar(v) || isMap(v) || isSeq(v);
}

function toJS(node: unknown): unknown {
  return isNodeLike(node) ? node.toJSON() : node;
}

/** The pair of `map` whose key is `key` (plain or scalar key). */
export function findPair(map: YAMLMap, key: string): Pair<unknown, unknown> | undefined {
  return map.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key) as Pair<unknown, unknown> | undefined;
}

function withoutLeadingComment<T>(node: Node, fn: () => T): T {
  const before = node.commentBefore;
  const space = node.spaceBefore;
  node.commentBefore = undefined;
  node.spaceBefore = undefined;
  try {
    return fn();
  } finally {
    node.commentBefore = before;
    node.spaceBefore = space;
  }
}

function indexParents(node: Node | null, parent: Node | null, out: Map<unknown, Node | null>): void {
  if (!node) return;
  out.set(node, parent);
  if (isMap(node)) {
    for (const p of node.items) {
      if (isNodeLike(p.key)) indexParents(p.key, node, out);
      if (isNodeLike(p.value)) indexParents(p.value, node, out);
    }
  } else if (isSeq(node)) {
    for (const it of node.items) if (isNodeLike(it)) indexParents(it, node, out);
  }
}

/** Detects indentation, sequence indentation, flow padding and line endings from a document's source. */
export function detectStyle(text: string, doc: Document.Parsed): RenderStyle {
  const style: RenderStyle = {
    indent: 2,
    indentSeq: false,
    flowCollectionPadding: false,
    newline: text.includes('\r\n') ? '\r\n' : '\n',
  };
  const col = (offset: number) => offset - (text.lastIndexOf('\n', offset - 1) + 1);
  let indentFound = false;
  let seqFound = false;
  let flowFound = false;
  const visit = (node: unknown, depth: number): void => {
    if (depth > 50 || (indentFound && seqFound && flowFound)) return;
    if (isMap(node)) {
      if (node.flow) {
        if (!flowFound && node.range && node.items.length > 0) {
          style.flowCollectionPadding = text[node.range[0] + 1] === ' ';
          flowFound = true;
        }
        return;
      }
      for (const p of node.items) {
        const k = p.key as Node | null;
        const v = p.value as Node | null;
        if (k?.range && v?.range && isCollection(v) && !v.flow && v.items.length > 0) {
          const first = v.items[0] as Node | Pair<Node, Node>;
          const firstNode = (isPair(first) ? first.key : first) as Node | null;
          if (firstNode?.range) {
            if (isMap(v) && !indentFound) {
              style.indent = Math.max(1, col(firstNode.range[0]) - col(k.range[0]));
              indentFound = true;
            }
            if (isSeq(v) && !seqFound) {
              let i = firstNode.range[0] - 1;
              while (i >= 0 && text[i] === ' ') i--;
              if (text[i] === '-') {
                style.indentSeq = col(i) > col(k.range[0]);
                seqFound = true;
              }
            }
          }
        }
        visit(v, depth + 1);
      }
    } else if (isSeq(node)) {
      if (node.flow) {
        if (!flowFound && node.range && node.items.length > 0) {
          style.flowCollectionPadding = text[node.range[0] + 1] === ' ';
          flowFound = true;
        }
        return;
      }
      for (const it of node.items) visit(it, depth + 1);
    }
  };
  visit(doc.contents, 0);
  return style;
}

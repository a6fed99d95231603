/**
 * The fast path of YAML loading: js-yaml builds plain values about eight times faster than the `yaml` library
 * builds its position-keeping document trees (7 MB of Istio YAML: ≈ 0.6 s against ≈ 5 s), and positions are
 * only needed for the rare document that has a diagnostic. So a file is first split into its documents and each is
 * read by js-yaml with a schema that resolves plain scalars exactly as the slow path does (the `yaml` library's
 * YAML 1.1 tags, kubectl's decoder semantics: `yes`/`on` booleans, `0777` octal, `1:20` base 60, timestamps).
 *
 * The fast path only answers when it is sure to give the slow path's value: anything it does not model — tags
 * (`!`), merge keys (`<<`), aliases, directives, duplicate or non-scalar keys, syntax errors, nesting deeper
 * than the limit — makes it return null, and the caller parses the whole file with the slow path, which also
 * produces the exact diagnostics. A differential test (`test/unit/config/yaml-fast.test.ts`) holds the two
 * paths to the same output.
 */
import { FAILSAFE_SCHEMA, load, type Schema, Type } from 'js-yaml';
import { isScalar, parseDocument, type ScalarTag, type Tags } from 'yaml';

/** One document found by {@link splitDocuments}: its text and where it starts in the file. */
export interface DocumentChunk {
  /** The document's text, from its `---` marker line (or the end of the previous document) to its end. */
  text: string;
  /** 0-based character offset of `text` in the file. */
  offset: number;
  /** 1-based line of the first line of `text`. */
  line: number;
  /** Offset of the `---` marker that opened the document, or -1 for a document without one. */
  markerOffset: number;
}

const MARKER = /^(---|\.\.\.)([ \t]+(#.*)?)?\r?$/;

/**
 * Splits a YAML stream into documents at its `---` / `...` marker lines (YAML 1.2 §9.1: a marker at the start of a
 * line always ends the current document, whatever it contains). Mirrors the `yaml` library's document count: text
 * before the first `---` is a document only if it holds content; every `---` opens one, empty or not.
 * Returns null for streams the fast path does not model: directives (`%`), content after a marker on its line,
 * and content after `...` that no `---` opens.
 */
export function splitDocuments(text: string): DocumentChunk[] | null {
  const chunks: DocumentChunk[] = [];
  let start = 0;
  let startLine = 1;
  let marker = -1;
  let afterEnd = false; // after `...`, until the next `---`
  let hasContent = false;
  let pos = 0;
  let line = 1;
  const close = (end: number): void => {
    if (afterEnd) return;
    if (marker >= 0 || hasContent) {
      chunks.push({ text: text.slice(start, end), offset: start, line: startLine, markerOffset: marker });
    }
  };
  while (pos <= text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const first = text.charCodeAt(pos);
    if (first === 0x25 /* % */ && !hasContent && line === startLine) return null;
    if (first === 0x2d /* - */ || first === 0x2e /* . */) {
      const m = MARKER.exec(text.slice(pos, nl));
      if (m) {
        close(pos);
        if (m[1] === '---') {
          afterEnd = false;
          marker = pos;
          start = pos;
          startLine = line;
        } else {
          afterEnd = true;
          marker = -1;
          start = nl + 1;
          startLine = line + 1;
        }
        hasContent = false;
        pos = nl + 1;
        line++;
        continue;
      }
      if (text.startsWith('---', pos) || text.startsWith('...', pos)) {
        const next = text.charCodeAt(pos + 3);
        if (Number.isNaN(next) || next === 0x20 || next === 0x09 || next === 0x0d || next === 0x0a) return null;
      }
    }
    if (!hasContent && !isBlankOrComment(text, pos, nl)) {
      if (afterEnd) return null;
      hasContent = true;
    }
    pos = nl + 1;
    line++;
  }
  close(text.length);
  return chunks;
}

function isBlankOrComment(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0d) continue;
    return c === 0x23; /* # */
  }
  return true;
}

/**
 * The slow path's plain-scalar tags (YAML 1.1 with weir's float fix), in resolution order. `yaml` tries them in
 * this order and takes the first whose `test` matches; so does {@link yaml11Schema}.
 */
function slowPathScalarTags(customTags: (tags: Tags) => Tags): ScalarTag[] {
  const doc = parseDocument('', { version: '1.1', customTags });
  return (doc.schema.tags as Tags).filter(
    (t): t is ScalarTag =>
      typeof t === 'object' && t !== null && 'test' in t && t.test instanceof RegExp && t.default === true,
  );
}

/** Thrown inside js-yaml to abandon the fast path; never escapes {@link fastParse}. */
class Unmodelled extends Error {}

/** A js-yaml schema that resolves plain scalars as the slow path (`yaml`, version 1.1, `customTags`) does. */
export function yaml11Schema(customTags: (tags: Tags) => Tags): Schema {
  const tags = slowPathScalarTags(customTags);
  const options = parseDocument('', { version: '1.1' }).options;
  const onError = (): void => {
    throw new Unmodelled();
  };
  // Most plain scalars (names, hosts, labels) begin with a character no YAML 1.1 type begins with: they are strings
  // at once. The set is found by probing the slow path's own tags (see firstCharsOf).
  const firstChars = new Set(firstCharsOf(tags));
  let matched: ScalarTag | null = null;
  const plain = new Type('tag:weir.dev,2026:yaml11-plain', {
    kind: 'scalar',
    resolve(source: string) {
      if (!firstChars.has(source.charAt(0))) return false;
      if (source === '<<') throw new Unmodelled(); // a merge key
      for (const t of tags) {
        if (t.test!.test(source)) {
          matched = t;
          return true;
        }
      }
      return false;
    },
    construct(source: string) {
      const v = matched!.resolve(source, onError, options);
      return isScalar(v) ? v.value : v; // some tags (YAML 1.1 booleans) resolve to a Scalar node
    },
  });
  return FAILSAFE_SCHEMA.extend({ implicit: [plain] });
}

/**
 * The first characters (and `''` for the empty scalar) of every plain scalar a tag of `tags` may match, found by
 * trying each character of the Basic Latin and Latin-1 ranges before the endings YAML 1.1's forms take; `<` is
 * added for merge keys (`<<`, handed back to the slow path by the resolver).
 */
function firstCharsOf(tags: readonly ScalarTag[]): string[] {
  const endings = [
    '',
    '1',
    '0',
    '.5',
    '.',
    '_1',
    'x1',
    'b1',
    'o1',
    '1:2',
    '1:2.5',
    'e3',
    '3e3',
    'inf',
    'Inf',
    'INF',
    'nan',
    'NaN',
    'NAN',
    'es',
    'ES',
    'o',
    'O',
    'n',
    'N',
    'ff',
    'FF',
    'ull',
    'ULL',
    'rue',
    'RUE',
    'alse',
    'ALSE',
    '001-12-14',
    '001-12-14t21:59:43.10-05:00',
  ];
  const out = new Set<string>(['<']);
  if (tags.some((t) => t.test!.test(''))) out.add('');
  for (let c = 0x20; c < 0x100; c++) {
    const ch = String.fromCharCode(c);
    if (endings.some((e) => tags.some((t) => t.test!.test(ch + e)))) out.add(ch);
  }
  return [...out];
}

/**
 * Text the fast path does not read: tags (`!`), anchors and merge keys (`&`, `<<`), explicit or collection keys
 * (`? `, `]:`/`}:`), and keys the slow path would read as null (`~:`, `null:`, an empty key) or as a date — each
 * stringified differently by the two libraries. A false alarm only sends the document to the slow path.
 */
const UNMODELLED =
  /[!&]|<<|(?:^|[\s{,[])\?(?:\s|$)|[\]}]\s*:(?:\s|$)|(?:^|[\s{,[-])(?:~|null|Null|NULL)?:(?:\s|$)|(?:^|[\s{,[-])\d{4}-\d\d?-\d\d?[^:\n]*:(?:\s|$)/m;

/**
 * Reads one document chunk on the fast path. Returns `{ value }` (null for an empty document), or null when the
 * chunk holds something the fast path does not model, nests deeper than `maxDepth`, or has any error (the caller
 * then uses the slow path).
 */
export function fastParse(chunk: string, schema: Schema, maxDepth: number): { value: unknown } | null {
  if (UNMODELLED.test(chunk) || hasMultilineQuoted(chunk)) return null;
  try {
    const value = load(chunk, { schema });
    if (value !== null && typeof value === 'object' && deeperThan(value, maxDepth)) return null;
    return { value: value === undefined ? null : value };
  } catch {
    return null;
  }
}

/**
 * Whether a quoted scalar may run over a line end (the two libraries disagree on how such a scalar must be indented):
 * a quote that opens a scalar — after `: `, `- `, `[`, `{`, `,` or at the start of a line — and is not closed on its
 * line. Conservative: a false alarm only sends the document to the slow path.
 */
function hasMultilineQuoted(text: string): boolean {
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    if (lineOpensQuote(text, pos, end)) return true;
    pos = end + 1;
  }
  return false;
}

function lineOpensQuote(text: string, from: number, to: number): boolean {
  let i = from;
  let afterIndicator = true; // at the start of a line (after indentation)
  while (i < to) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09) {
      i++;
      continue;
    }
    if (c === 0x23 /* # */ && (i === from || text.charCodeAt(i - 1) === 0x20 || text.charCodeAt(i - 1) === 0x09))
      return false; // a comment to the end of the line
    if ((c === 0x22 || c === 0x27) && afterIndicator) {
      const close = closingQuote(text, i + 1, to, c);
      if (close < 0) return true;
      i = close + 1;
      afterIndicator = false;
      continue;
    }
    afterIndicator =
      c === 0x5b /* [ */ ||
      c === 0x7b /* { */ ||
      c === 0x2c /* , */ ||
      ((c === 0x3a /* : */ || c === 0x2d /* - */ || c === 0x3f) /* ? */ &&
        (i + 1 >= to || text.charCodeAt(i + 1) === 0x20 || text.charCodeAt(i + 1) === 0x09));
    i++;
  }
  return false;
}

/** Index of the quote closing a scalar opened before `from`, or -1 when the line ends first. */
function closingQuote(text: string, from: number, to: number, quote: number): number {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (quote === 0x22 && c === 0x5c /* \ */) {
      i++;
      continue;
    }
    if (c === quote) {
      if (quote === 0x27 && i + 1 < to && text.charCodeAt(i + 1) === 0x27) {
        i++; // '' inside a single-quoted scalar
        continue;
      }
      return i;
    }
  }
  return -1;
}

/** Whether a parsed value nests collections deeper than `limit` (iterative: hostile input cannot overflow it). */
function deeperThan(root: object, limit: number): boolean {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > limit) return true;
    if (Array.isArray(v)) {
      for (const x of v) if (x !== null && typeof x === 'object') stack.push([x, depth + 1]);
    } else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== null && typeof x === 'object') stack.push([x, depth + 1]);
      }
    }
  }
  return false;
}

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
import { defineMappingTag, defineScalarTag, FAILSAFE_SCHEMA, load, NOT_RESOLVED, type Schema } from 'js-yaml';
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
  const scalar = defineScalarTag('tag:weir.dev,2026:yaml11-plain', {
    implicit: true,
    implicitFirstChars: null,
    resolve(source) {
      if (source === '<<') throw new Unmodelled(); // a merge key
      for (const t of tags) {
        if (!t.test!.test(source)) continue;
        const v = t.resolve(source, onError, options);
        return isScalar(v) ? v.value : v; // some tags (YAML 1.1 booleans) resolve to a Scalar node
      }
      return NOT_RESOLVED;
    },
    identify: () => false,
  });
  const map = defineMappingTag<Record<string, unknown>>('tag:yaml.org,2002:map', {
    create: () => ({}),
    addPair(carrier, key, value) {
      let k: string;
      if (typeof key === 'string') k = key;
      else if (typeof key === 'number' || typeof key === 'boolean') k = String(key);
      else throw new Unmodelled(); // empty, collection or timestamp keys: the slow path has its own rules
      if (k === '__proto__' || Object.hasOwn(carrier, k)) throw new Unmodelled(); // duplicates: exact diagnostics
      carrier[k] = value;
      return '';
    },
    has: (carrier, key) => Object.hasOwn(carrier, String(key)),
    keys: (result) => Object.keys(result),
    get: (result, key) => result[String(key)],
    identify: () => false,
  });
  return FAILSAFE_SCHEMA.withTags(scalar, map);
}

/**
 * Reads one document chunk on the fast path. Returns `{ value }` (null for an empty document), or null when the
 * chunk holds something the fast path does not model or any error (the caller then uses the slow path).
 */
export function fastParse(chunk: string, schema: Schema, maxDepth: number): { value: unknown } | null {
  if (chunk.includes('!') || chunk.includes('<<')) return null;
  if (isBlankOrComment(chunk, 0, chunk.length) && !/\n[ \t]*[^ \t\r\n#]/.test(chunk)) return { value: null };
  try {
    const value = load(chunk, { schema, maxDepth, maxAliases: 0, maxTotalMergeKeys: 0 });
    return { value: value === undefined ? null : value };
  } catch {
    return null;
  }
}

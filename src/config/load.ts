/**
 * Reads configuration from files, directories (recursive, `*.yaml|*.yml|*.json`) and stdin (`-`), splits
 * multi-document YAML, and keeps each document's parse tree so that any field path can be mapped back to a
 * file, line and column. Never throws for user mistakes: unreadable or malformed input becomes a diagnostic.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Schema } from 'js-yaml';
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  parseDocument,
  type Tags,
} from 'yaml';
import { runToEnd, type Steps } from '../util/slice.ts';
import { CODES, type Diagnostic, type SourcePosition } from './diagnostics.ts';
import { type DocumentChunk, fastParse, splitDocuments, yaml11Schema } from './yaml-fast.ts';

/** Largest file weir reads, in bytes (16 MiB). Kubernetes objects are limited to ~1.5 MB by etcd. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** Deepest nesting of collections accepted in one document; deeper input is reported, not recursed into. */
export const MAX_DEPTH = 200;

const CONFIG_EXTENSIONS = /\.(ya?ml|json)$/i;

/** One YAML/JSON document of a file, with its parse tree for position look-ups. */
export interface SourceDocument {
  /** Path as the user gave it (or as found under a given directory); `-` for stdin. */
  file: string;
  /** 0-based index of the document within the file. */
  index: number;
  /** The plain JS value of the document (null for an empty document). */
  value: unknown;
  /** Position of the document's start. */
  start: SourcePosition;
  /**
   * Maps a field path inside this document to a position. With `key: true`, points at the map key of the last
   * segment (for "unknown field" reports). Falls back to the closest existing ancestor.
   */
  locate(path: readonly (string | number)[], opts?: { key?: boolean }): SourcePosition;
}

/** The outcome of loading: the documents that parsed and diagnostics for everything that did not. */
export interface LoadResult {
  documents: SourceDocument[];
  diagnostics: Diagnostic[];
  /** The files that were read (for watching). */
  files: string[];
}

/** Input text given directly (for stdin, tests and the library API). */
export interface TextInput {
  file: string;
  text: string;
}

/** Thrown by {@link expandPaths} when a path the user named does not exist (usage error, exit 64). */
export class PathNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`path does not exist: ${path}`);
    this.name = 'PathNotFoundError';
  }
}

/**
 * Expands user-given paths into a sorted list of files: directories are walked recursively for
 * `*.yaml`, `*.yml` and `*.json` (hidden entries skipped); named files are taken whatever their extension.
 * @throws PathNotFoundError when a named path does not exist.
 */
export async function expandPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if (p === '-') {
      out.push(p);
      continue;
    }
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(p);
    } catch {
      throw new PathNotFoundError(p);
    }
    if (st.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else if (e.isFile() && CONFIG_EXTENSIONS.test(e.name)) out.push(full);
  }
  return out;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > MAX_FILE_BYTES + 1) break;
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/**
 * Loads every document from the given paths (see {@link expandPaths}).
 * @throws PathNotFoundError when a named path does not exist; nothing else.
 */
export async function loadPaths(paths: readonly string[]): Promise<LoadResult> {
  const files = await expandPaths(paths);
  const result: LoadResult = { documents: [], diagnostics: [], files: files.filter((f) => f !== '-') };
  for (const file of files) {
    const read = await readConfigFile(file);
    if ('diagnostic' in read) {
      result.diagnostics.push(read.diagnostic);
      continue;
    }
    const one = parseText({ file, text: read.text });
    result.documents.push(...one.documents);
    result.diagnostics.push(...one.diagnostics);
  }
  return result;
}

/**
 * Reads one configuration file (`-`: stdin) as text: at most {@link MAX_FILE_BYTES}, UTF-8 (a BOM is dropped).
 * Anything else — unreadable, too large, binary — is a `WEIR0003` diagnostic. Never throws.
 */
export async function readConfigFile(file: string): Promise<{ text: string } | { diagnostic: Diagnostic }> {
  let bytes: Buffer;
  try {
    if (file === '-') bytes = await readStdin();
    else {
      const st = await stat(file);
      if (st.size > MAX_FILE_BYTES) {
        return {
          diagnostic: fileDiag(
            file,
            `file is ${formatBytes(st.size)}, larger than the ${formatBytes(MAX_FILE_BYTES)} weir reads`,
          ),
        };
      }
      bytes = await readFile(file);
    }
  } catch (err) {
    return { diagnostic: fileDiag(file, `cannot read file: ${(err as Error).message}`) };
  }
  if (bytes.length > MAX_FILE_BYTES) {
    return { diagnostic: fileDiag(file, `input is larger than the ${formatBytes(MAX_FILE_BYTES)} weir reads`) };
  }
  const text = decodeText(bytes);
  if (text === null) return { diagnostic: fileDiag(file, 'file is not UTF-8 text (binary content)') };
  return { text };
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / (1024 * 1024)).toFixed(1)} MiB` : `${n} bytes`;
}

function fileDiag(file: string, message: string): Diagnostic {
  return {
    level: 'error',
    code: CODES.WEIR0003.code,
    message,
    resource: null,
    field: '',
    position: { file, line: 1, column: 1 },
  };
}

/** Decodes UTF-8 (stripping a BOM); returns null for binary content (NUL bytes or invalid UTF-8). */
function decodeText(bytes: Buffer): string | null {
  if (bytes.includes(0)) return null;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    return null;
  }
}

/** What {@link parseText} returns: the documents that parsed, and a diagnostic for each that did not. */
export interface ParseResult {
  documents: SourceDocument[];
  diagnostics: Diagnostic[];
}

/**
 * Parses YAML or JSON text (one or more documents). YAML 1.1 scalars are used, as kubectl's decoder does
 * (`yes`/`on` are booleans). Duplicate keys, syntax errors, excessive aliases and excessive nesting become
 * `WEIR0001` diagnostics with the position of the problem; the document is then dropped.
 *
 * Most files take the fast path (`yaml-fast.ts`: js-yaml values, positions computed only when a diagnostic asks
 * for one); a file with anything the fast path does not model, or with any error, is parsed by the slow path,
 * which keeps every document's tree. Both give the same documents; `fast: false` forces the slow path (tests).
 */
export function parseText(input: TextInput, opts: { fast?: boolean } = {}): ParseResult {
  return runToEnd(parseTextSteps(input, opts));
}

/** {@link parseText} as steps (`util/slice.ts`): on the fast path, a pause point after each document. */
export function* parseTextSteps(input: TextInput, opts: { fast?: boolean } = {}): Steps<ParseResult> {
  if (opts.fast !== false) {
    const fast = yield* fastSteps(input);
    if (fast) return fast;
  }
  return parseTextSlow(input);
}

let fastSchema: Schema | null = null;

/** The fast path alone: null when any document of the file needs the slow path. Exported for the differential test. */
export function parseTextFast(input: TextInput): ParseResult | null {
  return runToEnd(fastSteps(input));
}

function* fastSteps(input: TextInput): Steps<ParseResult | null> {
  const chunks = splitDocuments(input.text);
  if (chunks === null) return null;
  const documents: SourceDocument[] = [];
  for (let index = 0; index < chunks.length; index++) {
    const doc = parseChunk(input.file, index, chunks[index]!);
    if (doc === null) return null;
    documents.push(doc);
    yield;
  }
  return { documents, diagnostics: [] };
}

/**
 * Reads one document of a file ({@link splitDocuments}) on the fast path; null when it needs the slow path (then
 * the whole file must be read by {@link parseText}, which also gives the exact diagnostics).
 */
export function parseChunk(file: string, index: number, chunk: DocumentChunk): SourceDocument | null {
  fastSchema ??= yaml11Schema(fixYaml11Floats);
  const parsed = fastParse(chunk.text, fastSchema, MAX_DEPTH - FAST_DEPTH_MARGIN);
  return parsed === null ? null : chunkDocument(file, index, chunk, parsed.value);
}

/**
 * Nesting the fast path accepts is kept a few levels below {@link MAX_DEPTH}, so documents near the limit are judged
 * (and reported) by the slow path alone, whatever the two parsers count as one level.
 */
const FAST_DEPTH_MARGIN = 4;

/** A document read on the fast path: positions come from a slow parse of its own text, made on first use. */
function chunkDocument(file: string, index: number, chunk: DocumentChunk, value: unknown): SourceDocument {
  let tree: { doc: Document.Parsed; posAt: (offset: number) => SourcePosition } | null = null;
  const treeOf = () => {
    if (tree) return tree;
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(chunk.text, { ...SLOW_OPTIONS, lineCounter }) as Document.Parsed[];
    const doc = (Array.isArray(docs) ? docs[0] : undefined) ?? parseDocument('', { ...SLOW_OPTIONS });
    const posAt = (offset: number): SourcePosition => {
      const lp = lineCounter.linePos(offset);
      return { file, line: lp.line + chunk.line - 1, column: lp.col };
    };
    tree = { doc: doc as Document.Parsed, posAt };
    return tree;
  };
  const start = (): SourcePosition => {
    const t = treeOf();
    return t.posAt(t.doc.contents?.range?.[0] ?? t.doc.range[0]);
  };
  // `locate` closes over the chunk, not over the document object: a resource keeps the means to find its positions
  // without keeping the document's plain value alive (the typed spec is a copy of it).
  return {
    file,
    index,
    value,
    get start() {
      return start();
    },
    locate(path, opts) {
      const t = treeOf();
      return locateIn(t.doc, path, opts?.key === true, t.posAt) ?? start();
    },
  };
}

const SLOW_OPTIONS = {
  version: '1.1',
  uniqueKeys: true,
  customTags: fixYaml11Floats,
  prettyErrors: false,
} as const;

/** The slow path: the `yaml` library's document trees for every document. */
function parseTextSlow(input: TextInput): ParseResult {
  const lineCounter = new LineCounter();
  const documents: SourceDocument[] = [];
  const diagnostics: Diagnostic[] = [];
  const posAt = (offset: number): SourcePosition => {
    const lp = lineCounter.linePos(offset);
    return { file: input.file, line: lp.line, column: lp.col };
  };
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(input.text, { ...SLOW_OPTIONS, lineCounter }) as Document.Parsed[];
    if (!Array.isArray(docs)) docs = [docs as unknown as Document.Parsed];
  } catch (err) {
    diagnostics.push(
      syntaxDiag(
        input.file,
        err instanceof RangeError
          ? `cannot parse: the document nests too deeply (more than ${MAX_DEPTH} levels)`
          : `cannot parse: ${(err as Error).message}`,
        { file: input.file, line: 1, column: 1 },
      ),
    );
    return { documents, diagnostics };
  }
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const seen = new Set<string>();
      for (const e of doc.errors) {
        let message = firstLine(e.message);
        if (message.includes('Maximum call stack'))
          message = `the document nests too deeply to parse (weir reads at most ${MAX_DEPTH} levels)`;
        if (e.code === 'DUPLICATE_KEY')
          message = `duplicate key ${JSON.stringify(keyAt(input.text, e.pos[0]))}: keys in a map must be unique`;
        if (seen.has(message)) continue; // the parser repeats some errors for one mistake
        seen.add(message);
        diagnostics.push(syntaxDiag(input.file, message, posAt(e.pos[0])));
      }
      return;
    }
    if (exceedsDepth(doc.contents as Node | null, MAX_DEPTH)) {
      diagnostics.push(syntaxDiag(input.file, `document nests deeper than ${MAX_DEPTH} levels`, posAt(doc.range[0])));
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      diagnostics.push(syntaxDiag(input.file, firstLine((err as Error).message), posAt(doc.range[0])));
      return;
    }
    const start = posAt(doc.contents?.range?.[0] ?? doc.range[0]);
    documents.push({
      file: input.file,
      index,
      value: value ?? null,
      start,
      locate(path, opts) {
        return locateIn(doc, path, opts?.key === true, posAt) ?? start;
      },
    });
  });
  return { documents, diagnostics };
}

/**
 * The YAML 1.1 float pattern of the `yaml` library also matches a lone `.` (read as NaN); go-yaml, which kubectl
 * uses, reads it as the string "." (e.g. `exportTo: [.]`). Require a digit on one side of the point.
 */
function fixYaml11Floats(tags: Tags): Tags {
  return tags.map((t) => {
    if (
      typeof t === 'object' &&
      t !== null &&
      'tag' in t &&
      t.tag === 'tag:yaml.org,2002:float' &&
      t.test instanceof RegExp &&
      t.test.test('.')
    ) {
      return { ...t, test: /^[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)$/ };
    }
    return t;
  }) as Tags;
}

/** The map key written at `offset` (up to the `:`), for duplicate-key messages. */
function keyAt(text: string, offset: number): string {
  const rest = text.slice(offset, offset + 200);
  const m = /^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^:\n]*?)\s*:/.exec(rest);
  const key = (m?.[1] ?? rest.split('\n')[0] ?? '').trim();
  return key.replace(/^["']|["']$/g, '');
}

function firstLine(msg: string): string {
  const i = msg.indexOf('\n');
  return (i >= 0 ? msg.slice(0, i) : msg).replace(/ at line \d+, column \d+:?$/, '');
}

function syntaxDiag(file: string, message: string, position: SourcePosition): Diagnostic {
  return {
    level: 'error',
    code: CODES.WEIR0001.code,
    message,
    resource: null,
    field: '',
    position: { ...position, file },
  };
}

function exceedsDepth(root: Node | null, limit: number): boolean {
  // Iterative walk so that hostile nesting cannot overflow the stack.
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > limit) return true;
    if (isMap(node) || isSeq(node)) {
      for (const item of node.items) {
        if (isPair(item)) stack.push([item.value, depth + 1]);
        else stack.push([item, depth + 1]);
      }
    }
  }
  return false;
}

function locateIn(
  doc: Document.Parsed,
  path: readonly (string | number)[],
  wantKey: boolean,
  posAt: (offset: number) => SourcePosition,
): SourcePosition | null {
  let node: unknown = doc.contents;
  let best: number | null = (node as Node | null)?.range?.[0] ?? null;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = isScalar(p.key) ? p.key.value : p.key;
        return String(k) === String(seg);
      });
      if (!pair) return best === null ? null : posAt(best);
      const keyNode = pair.key as Node | null;
      const valueNode = pair.value as Node | null;
      if (last && wantKey && keyNode?.range) return posAt(keyNode.range[0]);
      node = valueNode;
      const off = valueNode?.range?.[0] ?? keyNode?.range?.[0];
      if (off !== undefined) best = off;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) return best === null ? null : posAt(best);
      node = item;
      if (item.range) best = item.range[0];
    } else {
      break;
    }
  }
  return best === null ? null : posAt(best);
}

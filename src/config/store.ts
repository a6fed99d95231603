/**
 * Configuration from files, kept between reloads. Each file's documents are parsed and typed once and kept with the
 * file's text; a reload reads again only the files that changed (or, without that list, every file, and compares
 * its text), so the typed resources of every other file are the same objects as before. The snapshot is then
 * assembled with the previous one at hand (`assembleSnapshot`), which reuses what was built from unchanged
 * objects. Rejections and the last good snapshot are the caller's business: the store only reads and builds.
 */
import { resolve } from 'node:path';
import { runInSlices, runToEnd, type SliceOptions, type Steps } from '../util/slice.ts';
import type { Diagnostic } from './diagnostics.ts';
import { expandPaths, parseChunk, parseTextSteps, readConfigFile } from './load.ts';
import { type Resource, type ResourceOptions, type TypedDocument, typeDocument } from './resources.ts';
import {
  assembleSnapshot,
  type ConfigSnapshot,
  hasWebhookFindings,
  patchSnapshot,
  type SnapshotOptions,
  typingOptions,
} from './snapshot.ts';
import { type DocumentChunk, splitDocuments } from './yaml-fast.ts';

/** What the store keeps per file. */
interface FileEntry {
  /** The text the documents were read from (null when the file could not be read). */
  text: string | null;
  typed: TypedDocument[];
  /** Read and parse diagnostics. */
  diagnostics: Diagnostic[];
  /**
   * For a file read on the fast path, each document's typed result and chunk by `index:text`: a document whose text
   * and place are unchanged is reused as it was. When only its line moved (a document above it grew or shrank),
   * it is reused if nothing cached about it holds a position (no diagnostic, no webhook finding): its chunk's line is
   * moved, and every position computed from then on follows.
   */
  byDocument: Map<string, { typed: TypedDocument; chunk: DocumentChunk }> | null;
}

/** Options of one {@link FileConfigStore.refresh}. */
export interface RefreshOptions {
  /**
   * Files known to have changed, added or removed (paths as the watcher reports them). Absent: every file is read
   * again and compared with what the store holds (a SIGHUP, the first load).
   */
  changed?: readonly string[];
  /**
   * With `changed`: whether files may have been added or removed (the watcher saw `add`/`unlink`), so the paths must
   * be expanded again. False when only known files changed in place. Default true.
   */
  filesAddedOrRemoved?: boolean;
  /** Build in event-loop slices (the proxy's reloads); absent: at once. */
  slice?: SliceOptions;
}

/** How much a refresh read and rebuilt (for logs, metrics and tests). */
export interface RefreshStats {
  /** Files whose text was read. */
  read: number;
  /** Files whose documents were parsed and typed again (their text differed). */
  parsed: number;
  /** Files that disappeared. */
  removed: number;
}

/** Incremental loading of configuration files: see the module comment. */
export class FileConfigStore {
  private readonly entries = new Map<string, FileEntry>();
  private last: ConfigSnapshot | null = null;
  /** The files of the last expansion of the paths. */
  private files: readonly string[] | null = null;
  /** Each file of the last expansion by its key. */
  private readonly fileOfKey = new Map<string, string>();
  /** Absolute form of each path string seen (paths resolve against the working directory once). */
  private readonly absolute = new Map<string, string>();
  /** What the last refresh did. */
  lastStats: RefreshStats = { read: 0, parsed: 0, removed: 0 };

  /**
   * @param paths files, directories (recursive `*.yaml|*.yml|*.json`) and `-` (stdin, read once)
   * @param opts snapshot options (default namespace, cluster domain, analysis)
   */
  constructor(
    readonly paths: readonly string[],
    readonly opts: SnapshotOptions = {},
  ) {}

  /** The snapshot of the last refresh (null before the first). */
  get snapshot(): ConfigSnapshot | null {
    return this.last;
  }

  /**
   * Reads what changed and builds the next snapshot; the store then holds it as the base of the next refresh,
   * whether or not the caller applies it. @throws PathNotFoundError when a named path no longer exists.
   */
  async refresh(o: RefreshOptions = {}): Promise<ConfigSnapshot> {
    // Known files edited in place (the usual change): read them alone; the file list stands. Otherwise expand the
    // paths again and read every file that is new or changed.
    if (o.changed && this.files !== null && this.last !== null) {
      const keys = o.changed.map((p) => this.keyOf(p));
      if (keys.every((k) => this.entries.has(k) && k !== '-')) {
        const reads = this.filesOf(keys);
        const texts = await readAll(reads.map((r) => r.file));
        // A file that can no longer be read may have been removed: then the paths are expanded again.
        if (texts.every((t) => 'text' in t)) return this.build(this.files, reads, texts, 0, o);
      }
    }
    const files = await expandPaths(this.paths);
    this.files = files;
    this.fileOfKey.clear();
    for (const f of files) this.fileOfKey.set(this.keyOf(f), f);
    const changed = o.changed ? new Set(o.changed.map((p) => this.keyOf(p))) : null;
    const present = new Set<string>();
    const reads: { key: string; file: string }[] = [];
    for (const file of files) {
      const key = this.keyOf(file);
      present.add(key);
      const entry = this.entries.get(key);
      if (key === '-' && entry) continue; // stdin is read once
      if (!entry || changed === null || changed.has(key)) reads.push({ key, file });
    }
    let removed = 0;
    for (const key of [...this.entries.keys()]) {
      if (!present.has(key)) {
        this.entries.delete(key);
        removed++;
      }
    }
    const texts = await readAll(reads.map((r) => r.file));
    return this.build(files, reads, texts, removed, o);
  }

  private async build(
    files: readonly string[],
    reads: readonly { key: string; file: string }[],
    texts: readonly ({ text: string } | { diagnostic: Diagnostic })[],
    removed: number,
    o: RefreshOptions,
  ): Promise<ConfigSnapshot> {
    const steps = this.buildSteps(files, reads, texts, removed);
    const snapshot = o.slice ? await runInSlices(steps, o.slice) : runToEnd(steps);
    this.last = snapshot;
    return snapshot;
  }

  /** The files of the last expansion with the given keys, as read entries. */
  private filesOf(keys: readonly string[]): { key: string; file: string }[] {
    return [...new Set(keys)].map((key) => ({ key, file: this.fileOfKey.get(key) ?? key }));
  }

  /** The key of a file: its absolute path (`-` for stdin). */
  private keyOf(file: string): string {
    if (file === '-') return '-';
    let key = this.absolute.get(file);
    if (key === undefined) {
      key = resolve(file);
      this.absolute.set(file, key);
    }
    return key;
  }

  private *buildSteps(
    files: readonly string[],
    reads: readonly { key: string; file: string }[],
    texts: readonly ({ text: string } | { diagnostic: Diagnostic })[],
    removed: number,
  ): Steps<ConfigSnapshot> {
    const typing = typingOptions(this.opts);
    let parsed = 0;
    // Old and new resources of the files edited in place, paired in order; null once the change is not an in-place
    // edit of the same resources (then the snapshot is assembled anew).
    let pairs: [Resource, Resource][] | null = removed === 0 && this.last !== null ? [] : null;
    for (let i = 0; i < reads.length; i++) {
      const { key, file } = reads[i]!;
      const read = texts[i]!;
      const before = this.entries.get(key);
      if ('diagnostic' in read) {
        this.entries.set(key, { text: null, typed: [], diagnostics: [read.diagnostic], byDocument: null });
        pairs = null;
        continue;
      }
      if (before && before.text === read.text) continue;
      const after = yield* readDocuments(file, read.text, before?.byDocument ?? null, typing);
      this.entries.set(key, after);
      parsed++;
      if (pairs !== null) pairs = before ? pairEdits(before, after, pairs) : null;
    }
    this.lastStats = { read: reads.length, parsed, removed };
    if (pairs !== null) {
      const patched = yield* patchSnapshot(this.last!, pairs, this.opts);
      if (patched) return patched;
    }
    const typed: TypedDocument[] = [];
    const loadDiagnostics: Diagnostic[] = [];
    for (const file of files) {
      const entry = this.entries.get(this.keyOf(file));
      if (!entry) continue;
      for (const t of entry.typed) typed.push(t);
      for (const d of entry.diagnostics) loadDiagnostics.push(d);
    }
    return yield* assembleSnapshot(
      { typed, loadDiagnostics, files: files.filter((f) => f !== '-'), inputs: this.paths },
      this.opts,
      this.last,
    );
  }
}

/**
 * Parses and types a file's documents, reusing those unchanged since `before` (fast path); a file the fast path
 * cannot read is read whole by the slow path.
 */
function* readDocuments(
  file: string,
  text: string,
  before: ReadonlyMap<string, { typed: TypedDocument; chunk: DocumentChunk }> | null,
  typing: ResourceOptions,
): Steps<FileEntry> {
  const chunks = splitDocuments(text);
  if (chunks !== null) {
    const typed: TypedDocument[] = [];
    const byDocument = new Map<string, { typed: TypedDocument; chunk: DocumentChunk }>();
    let ok = true;
    for (let i = 0; i < chunks.length && ok; i++) {
      const chunk = chunks[i]!;
      const key = `${i}:${chunk.text}`;
      let kept = before?.get(key);
      if (kept && kept.chunk.line !== chunk.line) {
        if (kept.typed.diagnostics.length === 0 && !kept.typed.resources.some(hasWebhookFindings))
          kept.chunk.line = chunk.line;
        else kept = undefined;
      }
      if (!kept) {
        const doc = parseChunk(file, i, chunk);
        if (doc === null) ok = false;
        else kept = { typed: typeDocument(doc, typing), chunk };
        yield;
      }
      if (kept) {
        typed.push(kept.typed);
        byDocument.set(key, kept);
      }
    }
    if (ok) return { text, typed, diagnostics: [], byDocument };
  }
  const result = yield* parseTextSteps({ file, text }, { fast: false });
  const typed: TypedDocument[] = [];
  for (const doc of result.documents) {
    typed.push(typeDocument(doc, typing));
    yield;
  }
  return { text, typed, diagnostics: result.diagnostics, byDocument: null };
}

/**
 * Pairs the resources of an edited file's old and new documents, in order, skipping documents reused as they were.
 * Returns null when the file's documents do not hold the same resources (kind, namespace, name) in the same order,
 * or when a document has a diagnostic of its own: the caller then assembles the snapshot anew.
 */
function pairEdits(before: FileEntry, after: FileEntry, into: [Resource, Resource][]): [Resource, Resource][] | null {
  if (before.typed.length !== after.typed.length || before.diagnostics.length + after.diagnostics.length > 0)
    return null;
  for (let i = 0; i < after.typed.length; i++) {
    const o = before.typed[i]!;
    const n = after.typed[i]!;
    if (o === n) continue;
    if (o.diagnostics.length + n.diagnostics.length > 0 || o.resources.length !== n.resources.length) return null;
    for (let j = 0; j < n.resources.length; j++) {
      const a = o.resources[j]!;
      const b = n.resources[j]!;
      if (a.kind !== b.kind || a.namespace !== b.namespace || a.name !== b.name) return null;
      into.push([a, b]);
    }
  }
  return into;
}

/** Most files read at once. */
const READ_CONCURRENCY = 32;

/** Reads files with bounded concurrency, results in input order. */
async function readAll(files: readonly string[]): Promise<({ text: string } | { diagnostic: Diagnostic })[]> {
  const out: ({ text: string } | { diagnostic: Diagnostic })[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      out[i] = await readConfigFile(files[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, files.length) }, worker));
  return out;
}

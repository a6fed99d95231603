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
import { type ResourceOptions, type TypedDocument, typeDocument } from './resources.ts';
import { assembleSnapshot, type ConfigSnapshot, type SnapshotOptions, typingOptions } from './snapshot.ts';
import { splitDocuments } from './yaml-fast.ts';

/** What the store keeps per file. */
interface FileEntry {
  /** The text the documents were read from (null when the file could not be read). */
  text: string | null;
  typed: TypedDocument[];
  /** Read and parse diagnostics. */
  diagnostics: Diagnostic[];
  /**
   * For a file read on the fast path, each document's typed result by `index:line:text`: a document whose text,
   * place and line are unchanged is reused as it was (its resources, and their positions, are still right).
   */
  byDocument: Map<string, TypedDocument> | null;
}

/** Options of one {@link FileConfigStore.refresh}. */
export interface RefreshOptions {
  /**
   * Files known to have changed, added or removed (paths as the watcher reports them). Absent: every file is read
   * again and compared with what the store holds (a SIGHUP, the first load).
   */
  changed?: readonly string[];
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
    const files = await expandPaths(this.paths);
    const changed = o.changed ? new Set(o.changed.map((p) => resolve(p))) : null;
    const present = new Set<string>();
    const reads: { key: string; file: string }[] = [];
    for (const file of files) {
      const key = file === '-' ? '-' : resolve(file);
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
    const steps = this.buildSteps(files, reads, texts, removed);
    const snapshot = o.slice ? await runInSlices(steps, o.slice) : runToEnd(steps);
    this.last = snapshot;
    return snapshot;
  }

  private *buildSteps(
    files: readonly string[],
    reads: readonly { key: string; file: string }[],
    texts: readonly ({ text: string } | { diagnostic: Diagnostic })[],
    removed: number,
  ): Steps<ConfigSnapshot> {
    const typing = typingOptions(this.opts);
    let parsed = 0;
    for (let i = 0; i < reads.length; i++) {
      const { key, file } = reads[i]!;
      const read = texts[i]!;
      const before = this.entries.get(key);
      if ('diagnostic' in read) {
        this.entries.set(key, { text: null, typed: [], diagnostics: [read.diagnostic], byDocument: null });
        continue;
      }
      if (before && before.text === read.text) continue;
      this.entries.set(key, yield* readDocuments(file, read.text, before?.byDocument ?? null, typing));
      parsed++;
    }
    this.lastStats = { read: reads.length, parsed, removed };
    const typed: TypedDocument[] = [];
    const loadDiagnostics: Diagnostic[] = [];
    for (const file of files) {
      const entry = this.entries.get(file === '-' ? '-' : resolve(file));
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
  before: ReadonlyMap<string, TypedDocument> | null,
  typing: ResourceOptions,
): Steps<FileEntry> {
  const chunks = splitDocuments(text);
  if (chunks !== null) {
    const typed: TypedDocument[] = [];
    const byDocument = new Map<string, TypedDocument>();
    let ok = true;
    for (let i = 0; i < chunks.length && ok; i++) {
      const chunk = chunks[i]!;
      const key = `${i}:${chunk.line}:${chunk.text}`;
      let t = before?.get(key);
      if (!t) {
        const doc = parseChunk(file, i, chunk);
        if (doc === null) ok = false;
        else t = typeDocument(doc, typing);
        yield;
      }
      if (t) {
        typed.push(t);
        byDocument.set(key, t);
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

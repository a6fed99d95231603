/**
 * The file traffic router of `weir rollout` (issue 8): moves the rolled-out VirtualService through the rollout's
 * states by rewriting its YAML file, which `weir serve` hot-reloads. A state is the canary weight, the header-only
 * match route, the mirror and the sticky split ({@link TrafficState}).
 *
 * What is rewritten, in the VirtualService found by namespace/name:
 * - **Rolled-out (managed) routes**: the routes the Canary manages (`config/weir/canary-routes.ts`: those named in
 *   `spec.routes`, else those that send the target host — resolved with Istio's short-name rules — to the primary
 *   subset, alone or split with the canary), resolved once when the run starts. Other routes are left alone, also
 *   those that send users to the canary (beta testers → v2). Its destinations become primary `100 − w` and canary
 *   `w`; a 0-weight destination is dropped (100 % primary is the primary destination alone). A missing destination is
 *   a copy of the other one (port, headers and any other field kept) with the subset changed. Such a route may send
 *   traffic nowhere else: another host or subset in it is refused with an error (weir would otherwise change that
 *   destination's share).
 * - **Unmanaged routes on a rollback** ({@link TrafficState.unmanagedToPrimary}, the Canary's opt-in
 *   `rollbackUnmanagedRoutes`): their destinations to the canary subset go to the primary subset instead (merged
 *   into a primary destination of the same route when it has one). Without the opt-in they are listed
 *   ({@link ApplyResult.unmanagedToCanary}) so the controller can warn.
 * - **Match route** ({@link CANARY_MATCH_ROUTE}): inserted before the first rolled-out route; `match` is the
 *   Canary's `analysis.match`, the single destination the canary; it copies the first rolled-out route's `timeout`,
 *   `retries`, `headers`, `rewrite`, `corsPolicy` and `fault` so matched requests are served like the others.
 * - **Mirror**: `mirror: {host, subset: canary}` and `mirrorPercentage: {value}` on every rolled-out route. A
 *   rolled-out route with a mirror weir did not add is refused when a mirror is wanted.
 * - **Sticky split**: the `weir.dev/sticky-split: "true"` annotation (`routing/sticky.ts`).
 * What weir added (the mirror, the sticky annotation) is recorded in the {@link MANAGED_ANNOTATION} annotation, and
 * only that is ever removed.
 *
 * The file is rewritten atomically (temporary file in the same directory, fsync, rename, fsync of the directory;
 * `atomic-write.ts`), only the changed nodes are spliced into the text (`yaml-edit.ts`, `route-edits.ts`), and every
 * other document and byte stays.
 */
import { access, constants, readFile, realpath } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { type Document, isMap, isScalar, isSeq, type Node, parseAllDocuments, type YAMLMap, type YAMLSeq } from 'yaml';
import { DEFAULT_CLUSTER_DOMAIN, resolveHost } from '../../config/hosts.ts';
import { loadPaths, type SourceDocument } from '../../config/load.ts';
import { findService } from '../../config/registry.ts';
import { toResources, type VirtualService } from '../../config/resources.ts';
import { buildSnapshot } from '../../config/snapshot.ts';
import { validateResource } from '../../config/validate/index.ts';
import {
  CANARY_MATCH_ROUTE,
  type CanaryRouteTarget,
  describeRouteRef,
  destinationRole,
  type RouteRef,
  resolveRouteRefs,
  selectManagedRoutes,
} from '../../config/weir/canary-routes.ts';
import { STICKY_SPLIT_ANNOTATION } from '../../routing/compile.ts';
import { writeAtomically } from './atomic-write.ts';
import { type DestView, matchRoute, type RouteView, setMirror, setWeights } from './route-edits.ts';
import { canaryReach, releaseToPrimary } from './unmanaged.ts';
import { findPair, PARSE_OPTIONS, SourceEditor } from './yaml-edit.ts';

export { CANARY_MATCH_ROUTE, type RouteRef } from '../../config/weir/canary-routes.ts';

/**
 * Annotation listing, comma-separated, what weir added to the VirtualService and may remove again: `mirror` (the
 * mirror on the rolled-out routes) and `sticky-split` (the {@link STICKY_SPLIT_ANNOTATION} annotation).
 */
export const MANAGED_ANNOTATION = 'weir.dev/rollout-managed';

/** What is rolled out: the VirtualService and the host and subsets of its routes. */
export interface TrafficTarget {
  /** The VirtualService's namespace and name. */
  namespace: string;
  name: string;
  /** FQDN of the rolled-out service (a short name is resolved in `namespace`). */
  host: string;
  primarySubset: string;
  canarySubset: string;
}

/** A state of the rolled-out VirtualService. */
export interface TrafficState {
  /**
   * Canary weight in percent, 0..100 (an integer when applied: Istio weights are integers), on every rolled-out
   * route.
   */
  canaryWeight: number;
  /**
   * Header-only phase: Istio HTTPMatchRequests (`Canary.analysis.match`) that send matching requests 100 % to the
   * canary, in the route {@link CANARY_MATCH_ROUTE} before the first rolled-out route; null = no such route.
   */
  match: readonly unknown[] | null;
  /**
   * Mirror phase: percentage (0..100, may be fractional) of the rolled-out routes' traffic copied to the canary
   * (`mirror` + `mirrorPercentage`); null = no mirror.
   */
  mirrorPercent: number | null;
  /** Sticky, monotone split: the `weir.dev/sticky-split: "true"` annotation. */
  sticky: boolean;
  /**
   * With `canaryWeight: 0` and no match route (a rollback or an abort): also send the unmanaged routes' canary
   * destinations to the primary subset (the Canary's `rollbackUnmanagedRoutes`). Not part of what {@link
   * FileTrafficRouter.read} reports.
   */
  unmanagedToPrimary?: boolean;
}

/** What {@link FileTrafficRouter.apply} did. */
export interface ApplyResult {
  changed: boolean;
  /**
   * In a state where the managed routes send nothing to the canary (weight 0, no match route, no mirror): the routes
   * weir does not manage that still send requests to the canary subset, or mirror to it, as `http[0]
   * ("internal-canary-route") → v2` (empty when none). Absent in other states.
   */
  unmanagedToCanary?: string[];
}

/** One `http[]` route of the VirtualService as the router sees it. */
export interface RouteSummary {
  /** Index in `spec.http` (the route label of weir serve's route counts, `rollout/route-counts.ts`). */
  index: number;
  name: string | null;
  /** `rolled-out` (weighted by weir), `canary-match` (weir's match route) or `other` (left alone). */
  role: 'rolled-out' | 'canary-match' | 'other';
  /** For rolled-out routes: the canary's share of the route's total weight, in percent (4 decimals). */
  canaryWeight: number | null;
  /** For rolled-out routes: the percentage mirrored to the canary, or null. */
  mirrorPercent: number | null;
}

/** The state of the file and how it was read. */
export interface TrafficDescription {
  state: TrafficState;
  /** Every `http[]` route, in order. */
  routes: RouteSummary[];
  /** Things weir would not have written (hand edits): routes that disagree, extra destinations, … Empty normally. */
  issues: string[];
}

/** Options of {@link FileTrafficRouter.locate}. */
export interface LocateOptions {
  /** Namespace of resources that set none (`--namespace`); default `default`, as the loader. */
  defaultNamespace?: string;
  /** Cluster DNS domain for short names; default `cluster.local`. */
  clusterDomain?: string;
  /** The Canary mirrors (`analysis.mirror`): refuse rolled-out routes that already mirror somewhere. */
  mirror?: boolean;
  /** The Canary's `spec.routes`: the names of the managed routes (default: the routes that reach the primary). */
  routes?: readonly string[] | null;
  /** The managed routes of a run being resumed (its status): used as they are, instead of choosing them again. */
  managed?: readonly RouteRef[] | null;
}

/** The VirtualService inside one parse of its file. */
interface Model {
  text: string;
  bom: boolean;
  docs: Document.Parsed[];
  docIndex: number;
  vs: YAMLMap;
  namespace: string;
  routes: RouteView[];
  http: YAMLSeq | null;
  managed: Set<string>;
  annotations: Record<string, unknown>;
  /** Managed routes (refs of this run) that the file no longer has. */
  missingRoutes: RouteRef[];
}

/** Rewrites one VirtualService file for each rollout state. */
export class FileTrafficRouter {
  /** The routes this rollout manages, fixed when the router is located (persist them to resume the same run). */
  managedRoutes: readonly RouteRef[] = [];

  private constructor(
    /** The file holding the VirtualService, as the loader named it. */
    readonly file: string,
    readonly target: TrafficTarget,
    private readonly opts: { defaultNamespace: string; clusterDomain: string },
  ) {}

  /**
   * Finds the VirtualService `target.namespace/target.name` in `paths` (files and directories, read by the project's
   * loader, so namespaces default as `weir serve --namespace` does) and checks that it can be rolled out: at least one
   * HTTP route sends `target.host` to the primary and/or canary subset; rolled-out routes send nowhere else; a
   * DestinationRule visible from the VirtualService's namespace defines both subsets; with `opts.mirror`, no rolled-out
   * route mirrors elsewhere already; the file is writable.
   * @throws Error with the files and what is missing when any check fails (PathNotFoundError for a missing path).
   */
  static async locate(
    paths: readonly string[],
    target: TrafficTarget,
    opts: LocateOptions = {},
  ): Promise<FileTrafficRouter> {
    const o = {
      defaultNamespace: opts.defaultNamespace ?? 'default',
      clusterDomain: opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
    };
    const ref = `VirtualService ${target.namespace}/${target.name}`;
    const loaded = await loadPaths(paths);
    const found: { doc: SourceDocument; vs: VirtualService | null; errors: string[] }[] = [];
    const others: string[] = [];
    for (const doc of loaded.documents) {
      const typed = toResources([doc], { defaultNamespace: o.defaultNamespace });
      for (const r of typed.resources) {
        if (r.kind !== 'VirtualService') continue;
        if (r.namespace === target.namespace && r.name === target.name) {
          // istiod's webhook would reject it, and weir serve would not load it.
          const errors = validateResource(r)
            .filter((d) => d.level === 'error')
            .map((d) => `${d.field}: ${d.message}`);
          found.push({ doc, vs: errors.length > 0 ? null : (r as VirtualService), errors });
        } else others.push(`${r.namespace}/${r.name} (${doc.file})`);
      }
      const raw = doc.value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
      const rawNs = typeof raw?.metadata?.namespace === 'string' ? raw.metadata.namespace : o.defaultNamespace;
      if (
        raw?.kind === 'VirtualService' &&
        raw.metadata?.name === target.name &&
        rawNs === target.namespace &&
        !typed.resources.some((r) => r.kind === 'VirtualService')
      ) {
        const errors = typed.diagnostics.filter((d) => d.level === 'error').map((d) => `${d.field}: ${d.message}`);
        found.push({ doc, vs: null, errors });
      }
    }
    if (found.length === 0) {
      const files = loaded.files.length === 0 ? 'no config files' : loaded.files.join(', ');
      const known = others.length > 0 ? `; VirtualServices found: ${others.join(', ')}` : '';
      throw new Error(`${ref} not found in ${files}${known}`);
    }
    if (found.length > 1) {
      const at = found.map((f) => `${f.doc.file}:${f.doc.start.line}`).join(' and ');
      throw new Error(`${ref} is defined more than once (${at}); keep one definition to roll it out`);
    }
    const hit = found[0]!;
    if (hit.vs === null) {
      throw new Error(`${ref} in ${hit.doc.file}:${hit.doc.start.line} is invalid: ${hit.errors.join('; ')}`);
    }
    if (hit.doc.file === '-') throw new Error(`${ref} was read from stdin; weir rollout needs a file it can rewrite`);
    const router = new FileTrafficRouter(hit.doc.file, target, o);

    // Both subsets must exist, or weir serve answers 503 NC for them (checked first: a wrong subset name is the
    // cause to report, not the routes that do not mention it).
    const snapshot = buildSnapshot(loaded.documents, loaded.diagnostics, {
      defaultNamespace: o.defaultNamespace,
      clusterDomain: o.clusterDomain,
      analyze: false,
    });
    const host = router.host();
    const serviceNs = findService(snapshot.registry, host)?.namespace ?? null;
    const dr = snapshot.destinationRuleIndex.lookup(host, { namespace: target.namespace }, serviceNs);
    const missing = [target.primarySubset, target.canarySubset].filter((s) => !dr?.subsets.has(s));
    if (missing.length > 0) {
      const where = dr
        ? `the DestinationRule ${dr.sources.map((s) => `${s.namespace}/${s.name}`).join(', ')} for ${host} defines ${[...dr.subsets.keys()].join(', ') || 'no subsets'}`
        : `no DestinationRule for ${host} is visible from namespace ${target.namespace} in ${loaded.files.join(', ')}`;
      throw new Error(
        `cannot roll out ${ref}: subset ${missing.join(' and ')} not defined (${where}); weir serve would answer 503 NC`,
      );
    }

    router.managedRoutes = await router.chooseManagedRoutes(opts, ref);
    const model = await router.model();
    const problems = router.structureProblems(model, opts.mirror === true);
    if (problems.length > 0) {
      throw new Error(`cannot roll out ${ref} in ${router.file}:\n  - ${problems.join('\n  - ')}`);
    }

    const dir = dirname(await realpath(router.file));
    try {
      await access(dir, constants.W_OK);
      await access(router.file, constants.W_OK);
    } catch {
      throw new Error(`cannot roll out ${ref}: ${router.file} (or its directory) is not writable`);
    }
    return router;
  }

  /** The managed routes, from the run's refs, the Canary's `routes`, or the default (see `canary-routes.ts`). */
  private async chooseManagedRoutes(opts: LocateOptions, ref: string): Promise<RouteRef[]> {
    const http = this.httpJson(await this.model(true));
    if (opts.managed && opts.managed.length > 0) return [...opts.managed];
    const chosen = selectManagedRoutes(http, this.routeTarget(), opts.routes);
    if (chosen.missing.length > 0) {
      const names = http
        .map((r, i) => {
          const n = (r as { name?: unknown } | null)?.name;
          return typeof n === 'string' && n !== '' ? JSON.stringify(n) : `http[${i}] (unnamed)`;
        })
        .join(', ');
      throw new Error(
        `cannot roll out ${ref}: the Canary's routes name ${chosen.missing.map((n) => JSON.stringify(n)).join(', ')}, which ${this.file} does not have (its HTTP routes: ${names || 'none'})`,
      );
    }
    return chosen.refs;
  }

  /** The state the file is in now (the best description of a hand-edited file; never throws for that). */
  async read(): Promise<TrafficState> {
    return (await this.describe()).state;
  }

  /**
   * The state, every route's role and canary weight, and the ways the file departs from what weir writes.
   * @throws Error when the file cannot be read or parsed, or no longer holds the VirtualService.
   */
  async describe(): Promise<TrafficDescription> {
    return this.describeModel(await this.model());
  }

  /**
   * Rewrites the file to `state`; returns `changed: false` and writes nothing when it already is in that state.
   * Atomic: a temporary file in the same directory is written and fsynced, renamed over the file, and the directory
   * fsynced. If the file changes while it is being rewritten, the rewrite starts over (up to three times).
   * @throws RangeError for an invalid state (weight not an integer in 0..100, mirror outside 0..100, empty match);
   *   Error when the file no longer allows the state (e.g. a hand edit added a third destination) or cannot be written.
   */
  async apply(state: TrafficState): Promise<ApplyResult> {
    checkState(state);
    const primaryOnly = state.canaryWeight === 0 && state.match === null && state.mirrorPercent === null;
    for (let round = 0; ; round++) {
      const model = await this.model();
      const text = this.rewrite(model, state);
      let changed = false;
      if (text !== model.text) {
        const written = await writeAtomically(this.file, (model.bom ? '\uFEFF' : '') + text, async (current) => {
          return current === (model.bom ? '\uFEFF' : '') + model.text;
        });
        if (!written) {
          if (round >= 2) throw new Error(`${this.file} keeps changing while weir rewrites it; try again`);
          continue;
        }
        changed = true;
      }
      if (!primaryOnly) return { changed };
      const after = changed ? await this.model() : model;
      const reach = after.routes
        .filter((r) => r.role === 'other')
        .flatMap((r) => canaryReach(r.value, this.routeTarget()).map((what) => `${label(r)} → ${what}`));
      return { changed, unmanagedToCanary: reach };
    }
  }

  // ------------------------------------------------------------------ reading

  private host(): string {
    return resolveHost(this.target.host, this.target.namespace, this.opts.clusterDomain);
  }

  private routeTarget(): CanaryRouteTarget {
    return {
      host: this.host(),
      primarySubset: this.target.primarySubset,
      canarySubset: this.target.canarySubset,
      namespace: this.target.namespace,
      clusterDomain: this.opts.clusterDomain,
    };
  }

  /** `spec.http` as plain JSON (empty when absent). */
  private httpJson(model: Model): unknown[] {
    return model.http ? (model.http.toJSON() as unknown[]) : [];
  }

  /**
   * The VirtualService in the file now. `unclassified`: every route is `other` (the managed routes are not chosen
   * yet).
   */
  private async model(unclassified = false): Promise<Model> {
    const ref = `VirtualService ${this.target.namespace}/${this.target.name}`;
    let raw = await readFile(this.file, 'utf8');
    const bom = raw.charCodeAt(0) === 0xfeff;
    if (bom) raw = raw.slice(1);
    const docs = parseAllDocuments(raw, PARSE_OPTIONS) as Document.Parsed[];
    const list = Array.isArray(docs) ? docs : [];
    const broken = list.find((d) => d.errors.length > 0);
    if (broken) throw new Error(`${this.file} does not parse: ${broken.errors[0]!.message.split('\n')[0]}`);
    for (let i = 0; i < list.length; i++) {
      const doc = list[i]!;
      const hit = this.findIn(doc);
      if (!hit) continue;
      const spec = hit.get('spec', true);
      const httpNode = isMap(spec) ? spec.get('http', true) : undefined;
      const http = isSeq(httpNode) ? httpNode : null;
      const metadata = hit.get('metadata', true);
      const annNode = isMap(metadata) ? metadata.get('annotations', true) : undefined;
      const annotations = isMap(annNode) ? (annNode.toJSON() as Record<string, unknown>) : {};
      const managed = new Set(
        String(annotations[MANAGED_ANNOTATION] ?? '')
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== ''),
      );
      const namespace = this.target.namespace;
      const json = http ? (http.toJSON() as unknown[]) : [];
      const resolved = unclassified ? { indices: [], missing: [] } : resolveRouteRefs(json, this.managedRoutes);
      const managedIndices = new Set(resolved.indices);
      return {
        text: raw,
        bom,
        docs: list,
        docIndex: i,
        vs: hit,
        namespace,
        http,
        routes: http
          ? http.items.map((item, index) => this.routeView(item as Node, index, managedIndices.has(index)))
          : [],
        managed,
        annotations,
        missingRoutes: resolved.missing,
      };
    }
    throw new Error(`${ref} is no longer in ${this.file}`);
  }

  /** The VirtualService object node in a document (the document itself, or an item of a List). */
  private findIn(doc: Document.Parsed): YAMLMap | null {
    const matches = (node: unknown): node is YAMLMap => {
      if (!isMap(node)) return false;
      const v = node.toJSON() as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata?: { name?: unknown; namespace?: unknown };
      };
      const ns =
        typeof v.metadata?.namespace === 'string' && v.metadata.namespace !== ''
          ? v.metadata.namespace
          : this.opts.defaultNamespace;
      return (
        v.kind === 'VirtualService' &&
        typeof v.apiVersion === 'string' &&
        v.apiVersion.startsWith('networking.istio.io/') &&
        v.metadata?.name === this.target.name &&
        ns === this.target.namespace
      );
    };
    const root = doc.contents;
    if (matches(root)) return root;
    if (isMap(root)) {
      const kind = root.get('kind');
      const items = root.get('items', true);
      if (typeof kind === 'string' && kind.endsWith('List') && isSeq(items)) {
        for (const it of items.items) if (matches(it)) return it;
      }
    }
    return null;
  }

  private routeView(item: Node, index: number, isManaged: boolean): RouteView {
    const target = this.routeTarget();
    const value = (isMap(item) ? item.toJSON() : {}) as Record<string, unknown>;
    const name = typeof value.name === 'string' ? value.name : null;
    const dests: DestView[] = [];
    const route = isMap(item) ? item.get('route', true) : undefined;
    if (isSeq(route)) {
      for (const d of route.items) {
        if (!isMap(d)) continue;
        const v = d.toJSON() as { destination?: { host?: unknown; subset?: unknown }; weight?: unknown };
        const h = typeof v.destination?.host === 'string' ? v.destination.host : '';
        const subset = typeof v.destination?.subset === 'string' ? v.destination.subset : null;
        const role = destinationRole(v.destination, target);
        dests.push({ node: d, role, host: h, subset, weight: typeof v.weight === 'number' ? v.weight : undefined });
      }
    }
    const role: RouteSummary['role'] =
      name === CANARY_MATCH_ROUTE ? 'canary-match' : isManaged ? 'rolled-out' : 'other';
    return { index, node: isMap(item) ? item : (null as unknown as YAMLMap), value, name, role, dests };
  }

  /** What prevents weir from writing states: no rolled-out route, foreign destinations, foreign mirrors. */
  private structureProblems(model: Model, wantMirror: boolean): string[] {
    const t = this.target;
    const out: string[] = [];
    const rolled = model.routes.filter((r) => r.role === 'rolled-out');
    for (const ref of model.missingRoutes) {
      out.push(`the route ${describeRouteRef(ref)} managed by this rollout is no longer in the VirtualService`);
    }
    if (rolled.length === 0 && model.missingRoutes.length === 0) {
      const seen = model.routes
        .map(
          (r) =>
            `${label(r)} → ${r.dests.map((d) => `${d.host}${d.subset ? ` (${d.subset})` : ''}`).join(', ') || 'no route destinations'}`,
        )
        .join('; ');
      out.push(
        `no HTTP route sends ${this.host()} to subset ${t.primarySubset} or ${t.canarySubset}` +
          (model.routes.length === 0 ? ' (spec.http is empty)' : `; routes: ${seen}`),
      );
    }
    for (const r of rolled) {
      if (r.dests.every((d) => d.role === 'other') && r.dests.length > 0) {
        out.push(
          `${label(r)} (in the Canary's routes) sends ${this.host()} to neither ${t.primarySubset} nor ${t.canarySubset}`,
        );
      }
    }
    for (const r of rolled) {
      for (const d of r.dests.filter((x) => x.role === 'other')) {
        out.push(
          `${label(r)} also routes to ${d.host}${d.subset ? ` subset ${d.subset}` : ' (no subset)'}: weir shifts weight only between ${t.primarySubset} and ${t.canarySubset}; give that destination a route of its own`,
        );
      }
      for (const role of ['primary', 'canary'] as const) {
        const n = r.dests.filter((d) => d.role === role).length;
        if (n > 1) {
          const subset = role === 'primary' ? t.primarySubset : t.canarySubset;
          out.push(`${label(r)} has ${n} destinations to subset ${subset}; keep one`);
        }
      }
      if (wantMirror && !model.managed.has('mirror')) {
        for (const key of ['mirror', 'mirrors', 'mirrorPercent'] as const) {
          if (r.value[key] !== undefined) {
            out.push(
              `${label(r)} already has its own ${key}; the Canary mirrors to ${t.canarySubset} (analysis.mirror): remove the route's ${key}, or turn mirroring off`,
            );
            break;
          }
        }
      }
    }
    return out;
  }

  private describeModel(model: Model): TrafficDescription {
    const issues: string[] = [];
    const routes: RouteSummary[] = model.routes.map((r) => ({
      index: r.index,
      name: r.name,
      role: r.role,
      canaryWeight: r.role === 'rolled-out' ? routeCanaryWeight(r) : null,
      mirrorPercent: r.role === 'rolled-out' ? this.mirrorOf(r.value) : null,
    }));
    const rolled = routes.filter((r) => r.role === 'rolled-out');
    const views = model.routes.filter((r) => r.role === 'rolled-out');
    // The reference route: the first catch-all (no match) rolled-out route carries the general traffic.
    const refView = views.find((r) => r.value.match === undefined) ?? views[0];
    const ref = refView ? routes[refView.index]! : undefined;
    if (!ref)
      issues.push(`no HTTP route sends ${this.host()} to ${this.target.primarySubset} or ${this.target.canarySubset}`);
    const weights = new Set(rolled.map((r) => r.canaryWeight));
    if (weights.size > 1) {
      issues.push(
        `rolled-out routes disagree on the canary weight (${rolled.map((r) => `${label(r)} ${r.canaryWeight} %`).join(', ')}); reporting ${ref ? label(ref) : 'none'}`,
      );
    }
    const mirrors = new Set(rolled.map((r) => r.mirrorPercent));
    if (mirrors.size > 1) {
      issues.push(
        `rolled-out routes disagree on the mirror (${rolled.map((r) => `${label(r)} ${r.mirrorPercent ?? 'none'}`).join(', ')})`,
      );
    }
    for (const r of views) {
      const foreign = r.dests.filter((d) => d.role === 'other');
      if (foreign.length > 0) {
        issues.push(
          `${label(r)} also routes to ${foreign.map((d) => `${d.host}${d.subset ? ` (${d.subset})` : ''}`).join(', ')}`,
        );
      }
    }
    const matchRoutes = model.routes.filter((r) => r.role === 'canary-match');
    let match: unknown[] | null = null;
    if (matchRoutes.length > 0) {
      const m = matchRoutes[0]!;
      match = Array.isArray(m.value.match) ? (m.value.match as unknown[]) : [];
      if (matchRoutes.length > 1)
        issues.push(`${matchRoutes.length} routes are named ${CANARY_MATCH_ROUTE}; reporting the first`);
      if (!(m.dests.length === 1 && m.dests[0]!.role === 'canary')) {
        issues.push(`${label(m)} does not send its requests only to the canary subset ${this.target.canarySubset}`);
      }
      const first = views[0];
      if (first && m.index > first.index)
        issues.push(`${label(m)} comes after the rolled-out ${label(first)}, so it matches nothing there`);
    }
    const annotation = model.annotations[STICKY_SPLIT_ANNOTATION];
    return {
      state: {
        canaryWeight: ref?.canaryWeight ?? 0,
        match,
        mirrorPercent: ref?.mirrorPercent ?? null,
        sticky: annotation === 'true' || annotation === true,
      },
      routes,
      issues,
    };
  }

  /** The percentage a route mirrors to the canary subset of the host, or null. */
  private mirrorOf(route: Record<string, unknown>): number | null {
    const host = this.host();
    const toCanary = (m: unknown): boolean => {
      const d = m as { host?: unknown; subset?: unknown } | undefined;
      return (
        typeof d?.host === 'string' &&
        resolveHost(d.host, this.target.namespace, this.opts.clusterDomain) === host &&
        d.subset === this.target.canarySubset
      );
    };
    if (toCanary(route.mirror)) {
      const pct = (route.mirrorPercentage as { value?: unknown } | undefined)?.value;
      if (typeof pct === 'number') return pct;
      if (typeof route.mirrorPercent === 'number') return route.mirrorPercent;
      return 100;
    }
    if (Array.isArray(route.mirrors)) {
      for (const m of route.mirrors as { destination?: unknown; percentage?: { value?: unknown } }[]) {
        if (toCanary(m.destination)) return typeof m.percentage?.value === 'number' ? m.percentage.value : 100;
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ writing

  /** The file's text in `state` (the same text when it already is). */
  private rewrite(model: Model, state: TrafficState): string {
    const problems = this.structureProblems(model, state.mirrorPercent !== null);
    if (problems.length > 0) {
      throw new Error(`cannot apply the rollout state to ${this.file}:\n  - ${problems.join('\n  - ')}`);
    }
    const ed = new SourceEditor(model.text, model.docs, model.docIndex, { json: isJsonFile(this.file, model.text) });
    const doc = model.docs[model.docIndex]!;
    const rolled = model.routes.filter((r) => r.role === 'rolled-out');
    const managed = new Set(model.managed);

    // The match route is built from the first rolled-out route before any of them changes.
    const first = rolled[0]!;
    const template = first.dests.find((d) => d.role === 'primary') ?? first.dests.find((d) => d.role === 'canary')!;
    const matchNode =
      state.match === null ? null : matchRoute(doc, first, template, state.match, this.target.canarySubset);

    for (const r of rolled) setWeights(ed, r, state.canaryWeight, this.target);
    for (const r of rolled)
      setMirror(ed, doc, r, template.host, state.mirrorPercent, managed, this.target.canarySubset);
    if (state.unmanagedToPrimary && state.canaryWeight === 0 && state.match === null) {
      for (const r of model.routes.filter((x) => x.role === 'other'))
        releaseToPrimary(ed, r, this.target.primarySubset);
    }
    if (state.mirrorPercent === null) managed.delete('mirror');

    const existing = model.routes.filter((r) => r.role === 'canary-match');
    if (matchNode) {
      const current = existing[0];
      if (!current) ed.insertItem(model.http!, matchNode, first.node);
      else if (!isDeepStrictEqual(current.value, matchNode.toJSON()))
        ed.replaceItem(model.http!, current.node, matchNode);
      for (const extra of existing.slice(1)) ed.deleteItem(model.http!, extra.node);
    } else {
      for (const r of existing) ed.deleteItem(model.http!, r.node);
    }

    this.setAnnotations(ed, doc, model, state.sticky, managed);
    return ed.result();
  }

  private setAnnotations(
    ed: SourceEditor,
    doc: Document.Parsed,
    model: Model,
    sticky: boolean,
    managed: Set<string>,
  ): void {
    const current = model.annotations[STICKY_SPLIT_ANNOTATION];
    const isSticky = current === 'true' || current === true;
    const set: [string, string][] = [];
    const del: string[] = [];
    if (sticky && !isSticky) {
      set.push([STICKY_SPLIT_ANNOTATION, 'true']);
      managed.add('sticky-split');
    } else if (!sticky && managed.has('sticky-split')) {
      del.push(STICKY_SPLIT_ANNOTATION);
      managed.delete('sticky-split');
    }
    const managedText = [...managed].sort().join(',');
    const before = [...model.managed].sort().join(',');
    if (managedText !== before) {
      if (managedText === '') del.push(MANAGED_ANNOTATION);
      else set.push([MANAGED_ANNOTATION, managedText]);
    }
    if (set.length === 0 && del.length === 0) return;

    let meta = model.vs.get('metadata', true) as unknown;
    if (!isMap(meta)) {
      meta = doc.createNode({});
      ed.insertPair(model.vs, 'metadata', meta);
    }
    if (!isMap(meta)) return;
    const ann = meta.get('annotations', true);
    if (!isMap(ann)) {
      if (set.length === 0) return;
      ed.insertPair(meta, 'annotations', doc.createNode(Object.fromEntries(set)));
      return;
    }
    for (const [k, v] of set) {
      const pair = findPair(ann, k);
      if (pair && isScalar(pair.value)) ed.setScalar(pair.value, v);
      else ed.insertPair(ann, k, v);
    }
    for (const k of del) ed.deletePair(ann, k);
    if (ann.items.length === 0) ed.deletePair(meta, 'annotations');
  }
}

/** A `.json` file, or a single document written as a JSON object: rewritten as JSON. */
function isJsonFile(file: string, text: string): boolean {
  return /\.json$/i.test(file) || /^\s*\{/.test(text);
}

function label(r: { index: number; name: string | null }): string {
  return `http[${r.index}]${r.name ? ` (${JSON.stringify(r.name)})` : ''}`;
}

/** The canary's share of a route's total weight, in percent, to 4 decimals (Istio: a lone destination weighs 100). */
function routeCanaryWeight(r: RouteView): number {
  const ws = r.dests.map((d) => d.weight ?? (r.dests.length === 1 ? 100 : 0));
  const total = ws.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  const canary = r.dests.reduce((a, d, i) => a + (d.role === 'canary' ? ws[i]! : 0), 0);
  return Math.round((100 * canary * 1e4) / total) / 1e4;
}

function checkState(s: TrafficState): void {
  if (!Number.isInteger(s.canaryWeight) || s.canaryWeight < 0 || s.canaryWeight > 100) {
    throw new RangeError(`canaryWeight ${s.canaryWeight} must be an integer in 0..100 (Istio weights are integers)`);
  }
  if (
    s.mirrorPercent !== null &&
    !(Number.isFinite(s.mirrorPercent) && s.mirrorPercent >= 0 && s.mirrorPercent <= 100)
  ) {
    throw new RangeError(`mirrorPercent ${s.mirrorPercent} must be in 0..100`);
  }
  if (s.match !== null && (!Array.isArray(s.match) || s.match.length === 0)) {
    throw new RangeError(
      'match must be null or a non-empty list of HTTPMatchRequests (an empty list matches everything)',
    );
  }
}

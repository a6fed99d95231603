/**
 * weir's library API (re-exports only): load and validate Istio configuration, compile route tables and decide
 * requests as Istio's Envoy would, and run the proxy in-process.
 */

export { type Backend, startBackend } from './backend/backend.ts';
export { type ServeHandle, type ServeOptions, startServe } from './cli/commands/serve.ts';
export type { Diagnostic, Level, SourcePosition } from './config/diagnostics.ts';
export type { FieldValidation } from './config/schema-check.ts';
export { type ConfigSnapshot, loadSnapshot, type SnapshotOptions, snapshotFromTexts } from './config/snapshot.ts';
export { compileRouteTable, RouteTable } from './routing/compile.ts';
export { decide, redirectTarget, rewritePath } from './routing/decide.ts';
export { createFacts, type FactsInit } from './routing/facts.ts';
export type {
  HostEntry,
  ProxyMode,
  RequestFacts,
  RouteDecision,
  SelectiveHost,
  SourceIdentity,
  VirtualHost,
} from './routing/types.ts';

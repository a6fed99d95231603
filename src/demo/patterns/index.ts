/** The article patterns in the order the demo runs them. */
import type { PatternName, PatternSpec } from '../types.ts';
import { affinityPattern } from './affinity.ts';
import { commonMistakePattern } from './common-mistake.ts';
import { compositePattern } from './composite.ts';
import { mirroringPattern } from './mirroring.ts';
import { perGroupPattern } from './per-group.ts';
import { resiliencePattern } from './resilience.ts';
import { rolloutPattern } from './rollout.ts';
import { sourceLabelsPattern } from './source-labels.ts';

/** Every pattern, by name, in run order. */
export const PATTERNS: Readonly<Record<PatternName, PatternSpec>> = {
  composite: compositePattern,
  'source-labels': sourceLabelsPattern,
  mirroring: mirroringPattern,
  affinity: affinityPattern,
  'per-group': perGroupPattern,
  'common-mistake': commonMistakePattern,
  resilience: resiliencePattern,
  rollout: rolloutPattern,
};

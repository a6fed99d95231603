/**
 * Runs istiod's admission-webhook rules on each resource (the validators of this folder), dispatching on kind.
 */
import type { Diagnostic } from '../diagnostics.ts';
import type { Resource } from '../resources.ts';
import { validateCanary } from './canary.ts';
import { validateDestinationRule } from './destination-rule.ts';
import { createReporter } from './report.ts';
import { validateGateway, validateServiceEntry, validateWorkloadEntry } from './service-entry.ts';
import { validateVirtualService } from './virtual-service.ts';

/** Validates one resource; returns its diagnostics (webhook errors and warnings). Never throws. */
export function validateResource(resource: Resource): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report = createReporter(resource, out);
  switch (resource.kind) {
    case 'VirtualService':
      validateVirtualService(resource as Resource<'VirtualService'>, report);
      break;
    case 'DestinationRule':
      validateDestinationRule(resource as Resource<'DestinationRule'>, report);
      break;
    case 'ServiceEntry':
      validateServiceEntry(resource as Resource<'ServiceEntry'>, report);
      break;
    case 'WorkloadEntry':
      validateWorkloadEntry(resource as Resource<'WorkloadEntry'>, report);
      break;
    case 'Gateway':
      validateGateway(resource as Resource<'Gateway'>, report);
      break;
    case 'Canary':
      validateCanary(resource as Resource<'Canary'>, report);
      break;
    default:
      break;
  }
  return out;
}

import * as undici from 'undici';
import { describe, expect, it } from 'vitest';
import { errors, Pool } from '../../../src/dataplane/upstream/undici.ts';

describe('undici modules loaded without the package root', () => {
  it('are the objects the package root exports (instanceof checks hold either way)', () => {
    expect(Pool).toBe(undici.Pool);
    expect(errors).toBe(undici.errors);
    expect(new errors.ConnectTimeoutError()).toBeInstanceOf(undici.errors.ConnectTimeoutError);
  });
});

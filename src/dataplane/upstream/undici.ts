/**
 * The two pieces of undici the data plane uses, loaded from their own modules rather than the package root. The root
 * (`import … from 'undici'`) also loads fetch, WebSocket, EventSource, the caches, the mock agent and their
 * dependencies: measured with `bench/lab/mem-import.mjs`, the root costs 16.6 MB of RSS after GC over `node:http`,
 * `lib/dispatcher/pool.js` 8.5 MB. The classes are the same objects as the root's exports (one CommonJS module
 * cache), so `instanceof` checks hold whichever way a caller imported them. The paths are fixed by the pinned
 * version in package.json (undici has no `exports` map, so they resolve like any file of the package).
 */
import { createRequire } from 'node:module';
import type { Dispatcher, errors as UndiciErrors, Pool as UndiciPool } from 'undici';

const require = createRequire(import.meta.url);

/** undici's `Pool` (`undici/lib/dispatcher/pool.js`). */
export const Pool: typeof UndiciPool = require('undici/lib/dispatcher/pool.js');
export type Pool = UndiciPool;

/** undici's error classes (`undici/lib/core/errors.js`), as `import { errors } from 'undici'`. */
export const errors: typeof UndiciErrors = require('undici/lib/core/errors.js');

const api = require('undici/lib/api/index.js') as {
  request(this: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
};

/**
 * `dispatcher.request(opts)` without the package root: `Dispatcher.prototype.request` is installed only by undici's
 * `index.js` (`Object.assign(Dispatcher.prototype, api)`), so a `Pool` loaded from its own module does not have it
 * unless something else imported the root. Found when the demo stopped importing the root: every mirrored request
 * of `weir serve` then failed with "ep.pool.request is not a function" (500 to the client).
 */
export function dispatcherRequest(
  dispatcher: Dispatcher,
  opts: Omit<Dispatcher.RequestOptions, 'origin'>,
): Promise<Dispatcher.ResponseData> {
  return api.request.call(dispatcher, opts as Dispatcher.RequestOptions);
}

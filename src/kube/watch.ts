import type {ClusterClient} from './client.js';
import {KubeError, normaliseError} from './errors.js';
import type {ResourceType} from './resources.js';
import {DEFAULT_RETRY, isRetryable, retryDelayMs, sleep} from './retry.js';
import type {KubeObject, WatchEvent} from './types.js';

export interface WatchHandlers<T extends KubeObject> {
  /**
   * The whole current set: after the first list, and again after every relist. The receiver
   * replaces what it holds; anything it had that is not here is gone.
   */
  onSync(items: T[], resourceVersion: string): void | Promise<void>;
  /** One change after the last sync: ADDED, MODIFIED or DELETED. */
  onEvent(event: WatchEvent<T>): void | Promise<void>;
  /** A connection problem. The watch goes on by itself; this is for showing the cluster as degraded. */
  onError?(err: KubeError): void;
  /** The server answered the watch (took it, or sent an event, a bookmark, or a clean close): any problem is over. */
  onAnswer?(): void;
  /**
   * Given at each connection: what drops it, to be resumed at once from the last resourceVersion.
   * For a stream that may be dead without knowing it (its cluster went out of reach meanwhile).
   */
  onConnection?(drop: () => void): void;
}

export interface WatchResourceOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** How long the server keeps one watch open before we resume it. */
  timeoutSeconds?: number;

  signal: AbortSignal;
}

/**
 * Keeps the caller in step with a set of objects until the signal aborts: list, then watch from the
 * list's resourceVersion. A watch the server closes is resumed from the last resourceVersion seen
 * (bookmarks included), so nothing is missed or replayed. When that resourceVersion has expired
 * (410 Gone) it lists again and hands over the whole set. Connection errors are retried with
 * backoff; errors that retrying cannot fix (Forbidden, NotFound) end it by rejecting.
 */
export async function watchResource<T extends KubeObject>(
  client: ClusterClient,
  type: ResourceType,
  options: WatchResourceOptions & {/** What is kept of each listed object, page by page (events are the handler's to trim). */ keep?: (o: T) => T},
  handlers: WatchHandlers<T>,
): Promise<void> {
  const {signal} = options;
  const selectors = {namespace: options.namespace, labelSelector: options.labelSelector, fieldSelector: options.fieldSelector};
  let resourceVersion: string | undefined;
  let failures = 0;
  while (!signal.aborted) {
    const connection = new AbortController();
    try {
      if (resourceVersion === undefined) {
        const list = await client.list<T>(type, {...selectors, signal, fromServer: true, ...(options.keep ? {keep: options.keep} : {})});
        resourceVersion = list.metadata?.resourceVersion ?? '';
        failures = 0;
        await handlers.onSync(list.items, resourceVersion);
      }
      const started = Date.now();
      let received = 0;
      handlers.onConnection?.(() => connection.abort());
      const events = client.watch<T>(type, {
        ...selectors,
        resourceVersion,
        timeoutSeconds: options.timeoutSeconds,
        signal: AbortSignal.any([signal, connection.signal]),
        onConnected: () => handlers.onAnswer?.(),
      });
      for await (const event of events) {
        failures = 0;
        received++;
        handlers.onAnswer?.();
        resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
        if (event.type !== 'BOOKMARK') await handlers.onEvent(event);
      }
      failures = 0;
      handlers.onAnswer?.();
      // A server that closes watches at once would otherwise have us reconnect in a tight loop.
      if (received === 0 && Date.now() - started < 1000) await sleep(1000, signal).catch(() => undefined);
    } catch (thrown) {
      if (signal.aborted) return;
      // Dropped on purpose: resumed at once, from where it was.
      if (connection.signal.aborted) continue;
      const err = normaliseError(thrown, {context: client.context});
      if (err.code === 410) {
        resourceVersion = undefined;
        continue;
      }
      if (!isRetryable(err, true)) throw err;
      failures++;
      handlers.onError?.(err);
      try {
        await sleep(retryDelayMs(err, Math.min(failures, 6), DEFAULT_RETRY), signal);
      } catch {
        return;
      }
    }
  }
}

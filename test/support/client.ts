import * as http from 'node:http';
import {ClusterClient, type ClusterClientOptions} from '../../src/kube/client.js';
import type {TestApiServer} from './api-server.js';

export const FAST_RETRY = {attempts: 4, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 30_000};

/** A client for a TestApiServer, with a bearer token and quick retries. */
export function clientFor(server: TestApiServer, options: Partial<ClusterClientOptions> = {}): ClusterClient {
  const agent = new http.Agent({keepAlive: true});
  return new ClusterClient({
    context: 'test',
    server: server.url,
    credentials: {prepare: async () => ({agent, headers: {authorization: 'Bearer test'}})},
    retry: FAST_RETRY,
    ...options,
  });
}

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
// config.js itself, not the package's index: the index loads every generated API and model (about 1,000
// modules), none of which this tool uses. Bundled, config.js's own import of the generated code shrinks
// to the little KubeConfig needs (scripts/bundle.mjs).
import {KubeConfig} from '@kubernetes/client-node/dist/config.js';
import type {Cluster, Context, User} from '@kubernetes/client-node/dist/config_types.js';
import {InputError} from '../errors.js';
import type {Credentials} from './client.js';

export {kubeconfigFiles} from './kubeconfig-files.js';

/** Clusters, users and contexts merged from several files by kubectl's rule: the first file to name one wins. */
export interface MergedKubeconfig {
  files: string[];
  clusters: Map<string, Cluster>;
  users: Map<string, User>;
  contexts: Map<string, Context>;
  currentContext: string | undefined;
}

/**
 * Reads kubeconfig files the way kubectl does. A file named by --kubeconfig must exist; files listed
 * in KUBECONFIG that do not exist are skipped, as kubectl skips them.
 */
export function loadKubeconfig(files: string[], explicit: boolean): MergedKubeconfig {
  const merged: MergedKubeconfig = {files: [], clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: undefined};
  for (const file of files) {
    if (!fs.existsSync(file)) {
      if (explicit) throw new InputError(`kubeconfig file ${file} does not exist`, 'pass existing files to --kubeconfig');
      continue;
    }
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new InputError(`kubeconfig file ${file} cannot be read: ${(err as Error).message}`, 'fix the file, or point --kubeconfig at another');
    }
    merged.files.push(file);
    for (const cluster of kc.getClusters()) if (!merged.clusters.has(cluster.name)) merged.clusters.set(cluster.name, cluster);
    for (const user of kc.getUsers()) if (!merged.users.has(user.name)) merged.users.set(user.name, user);
    for (const context of kc.getContexts()) if (!merged.contexts.has(context.name)) merged.contexts.set(context.name, context);
    merged.currentContext ??= kc.getCurrentContext() || undefined;
  }
  return merged;
}

/**
 * A KubeConfig of its own for one context, holding only that context's cluster and user.
 * client-node reads credentials from the current context on every request, so a KubeConfig shared
 * between contexts would send one cluster's token to another.
 */
export function contextKubeConfig(merged: MergedKubeconfig, contextName: string): KubeConfig {
  const where = merged.files.length > 0 ? merged.files.join(path.delimiter) : 'no kubeconfig file found';
  const context = merged.contexts.get(contextName);
  if (!context) {
    throw new InputError(
      `context "${contextName}" is not in the kubeconfig (${where})`,
      'list the contexts with "kubectl config get-contexts", then fix --context, SUPERSKYRAY_CONTEXTS or the fleet file',
    );
  }
  const cluster = merged.clusters.get(context.cluster);
  if (!cluster) {
    throw new InputError(
      `context "${contextName}" names cluster "${context.cluster}", which is not in the kubeconfig (${where})`,
      'add the cluster to the kubeconfig or fix the context',
    );
  }
  if (!cluster.server || !URL.canParse(cluster.server)) {
    throw new InputError(
      `cluster "${cluster.name}" of context "${contextName}" has no valid server URL ("${cluster.server ?? ''}")`,
      'fix the server field of that cluster in the kubeconfig',
    );
  }
  const user = context.user ? merged.users.get(context.user) : undefined;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses a plain http:// server unless TLS checks are off; there is no TLS to check.
    clusters: [cluster.server.startsWith('http:') ? {...cluster, skipTLSVerify: true} : {...cluster}],
    users: user ? [{...user}] : [],
    contexts: [{...context}],
    currentContext: context.name,
  });
  return kc;
}

/** One context's credentials, with a keep-alive agent built once from its TLS material. */
export class KubeconfigCredentials implements Credentials {
  private agent: http.Agent | undefined;
  private watchAgent: http.Agent | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly maxSockets: number,
  ) {}

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '';
  }

  async prepare(use: {watch?: boolean} = {}): Promise<{agent: http.Agent; headers: Record<string, string>}> {
    const options: https.RequestOptions = {};
    // Runs exec and OIDC plugins as needed; they cache tokens until expiry.
    await this.kc.applyToHTTPSOptions(options);
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined) headers[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    }
    if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    // A proxy agent from client-node is used as it comes; it is rare and carries the proxy settings.
    if (this.kc.getCurrentCluster()?.proxyUrl && options.agent) return {agent: options.agent as http.Agent, headers};
    const agent = use.watch ? (this.watchAgent ??= this.agentFor(options, Infinity)) : (this.agent ??= this.agentFor(options, this.maxSockets));
    return {agent, headers};
  }

  /**
   * Requests share a few sockets; watches, each holding one open for minutes, get sockets of their
   * own, so that the informers of `watch` never leave a request waiting for one.
   */
  private agentFor(options: https.RequestOptions, maxSockets: number): http.Agent {
    return this.server.startsWith('http:')
        ? new http.Agent({keepAlive: true, maxSockets})
        : new https.Agent({
            keepAlive: true,
            maxSockets,
            ca: options.ca,
            cert: options.cert,
            key: options.key,
            rejectUnauthorized: options.rejectUnauthorized,
            servername: (options as {servername?: string}).servername,
          });
  }
}

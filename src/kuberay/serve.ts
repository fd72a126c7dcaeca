import yaml from 'js-yaml';
import {InputError} from '../errors.js';

/** One `--serve APP.DEPLOYMENT=N`. */
export interface ServeReplicas {
  app: string;
  deployment: string;
  replicas: number;
}

/** Reads `APP.DEPLOYMENT=N`; the deployment name may itself contain dots, the app name may not. */
export function parseServeReplicas(text: string): ServeReplicas {
  const match = /^([^.=]+)\.([^=]+)=(\d+)$/.exec(text);
  if (!match) throw new InputError(`--serve "${text}" is not APP.DEPLOYMENT=N`, 'write it like --serve fraud.Model=4');
  return {app: match[1]!, deployment: match[2]!, replicas: Number(match[3])};
}

interface ServeConfig {
  applications?: Array<{name?: string; deployments?: Array<{name?: string; num_replicas?: unknown; autoscaling_config?: unknown}>}>;
}

/** One deployment's num_replicas as `scale --serve` changes it; `from` is undefined when it had none. */
export interface ServeChange {
  app: string;
  deployment: string;
  from?: number;
  to: number;
}

/**
 * The RayService's serveConfigV2 with new num_replicas for the named deployments, and what changed;
 * undefined when they have them already. Throws an InputError naming what is missing, or a
 * deployment the Serve autoscaler sizes.
 */
export function withServeReplicas(serveConfigV2: string | undefined, changes: ServeReplicas[], where: string): {config: string; changed: ServeChange[]} | undefined {
  if (!serveConfigV2) throw new InputError(`${where} has no serveConfigV2`, 'drop --serve, or give the RayService a Serve config');
  const config = (yaml.load(serveConfigV2) ?? {}) as ServeConfig;
  const changed: ServeChange[] = [];
  for (const change of changes) {
    const app = config.applications?.find((a) => a.name === change.app);
    if (!app) throw new InputError(`${where} has no Serve application "${change.app}" (it has ${(config.applications ?? []).map((a) => a.name).join(', ') || 'none'})`, 'name one of those in --serve');
    const deployment = app.deployments?.find((d) => d.name === change.deployment);
    if (!deployment) {
      throw new InputError(
        `${where}: Serve application "${change.app}" does not list deployment "${change.deployment}" in serveConfigV2`,
        `add it under applications[name=${change.app}].deployments first, or name a listed one`,
      );
    }
    // num_replicas "auto" hands the size to the Serve autoscaler as well.
    if ((deployment.autoscaling_config !== undefined && deployment.autoscaling_config !== null) || deployment.num_replicas === 'auto') {
      throw new InputError(`${where}: deployment ${change.app}.${change.deployment} is sized by the Serve autoscaler (autoscaling_config or num_replicas: auto)`, 'change its autoscaling bounds instead');
    }
    if (deployment.num_replicas === change.replicas) continue;
    const from = typeof deployment.num_replicas === 'number' ? deployment.num_replicas : undefined;
    deployment.num_replicas = change.replicas;
    changed.push({app: change.app, deployment: change.deployment, ...(from !== undefined ? {from} : {}), to: change.replicas});
  }
  if (changed.length === 0) return undefined;
  return {config: yaml.dump(config, {lineWidth: -1, noRefs: true}), changed};
}

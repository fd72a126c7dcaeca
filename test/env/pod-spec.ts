/**
 * What a kubelet makes of a pod object before it starts a container, as plain functions: the
 * environment (with `$(VAR)` expanded and field references resolved), the hosts file and the
 * resolver configuration. The pod runner (test/env/pod-runner.ts) starts real processes from these.
 */
import type {Pod} from '../../src/kube/types.js';

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: {fieldPath: string};
    resourceFieldRef?: {containerName?: string; resource: string; divisor?: string};
    configMapKeyRef?: {name: string; key: string; optional?: boolean};
    secretKeyRef?: {name: string; key: string; optional?: boolean};
  };
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: Array<{prefix?: string; configMapRef?: {name: string; optional?: boolean}; secretRef?: {name: string; optional?: boolean}}>;
  workingDir?: string;
  resources?: {limits?: Record<string, string>; requests?: Record<string, string>};
  volumeMounts?: Array<{name: string; mountPath: string; subPath?: string; readOnly?: boolean}>;
}

/** Kubernetes' `$(VAR)` expansion: a defined variable is replaced, `$$` escapes, anything else stays. */
export function expand(text: string, env: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '$' || i + 1 >= text.length) {
      out += c;
      continue;
    }
    const next = text[i + 1]!;
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = text.indexOf(')', i + 2);
      const name = end < 0 ? '' : text.slice(i + 2, end);
      if (end >= 0 && name in env) {
        out += env[name];
        i = end;
      } else {
        out += c;
      }
    } else {
      out += c;
    }
  }
  return out;
}

const QUOTED_KEY = /^metadata\.(labels|annotations)\['(.+)'\]$/;

/** The downward API's fieldRef, as the kubelet resolves it. */
export function fieldValue(pod: Pod, fieldPath: string): string {
  const meta = pod.metadata ?? {};
  const keyed = QUOTED_KEY.exec(fieldPath);
  if (keyed) return (meta[keyed[1] as 'labels' | 'annotations'] as Record<string, string> | undefined)?.[keyed[2]!] ?? '';
  const spec = (pod.spec ?? {}) as Record<string, unknown>;
  const status = (pod.status ?? {}) as Record<string, unknown>;
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.nodeName':
      return String(spec.nodeName ?? '');
    case 'spec.serviceAccountName':
      return String(spec.serviceAccountName ?? 'default');
    case 'status.podIP':
      return String(status.podIP ?? '');
    case 'status.podIPs':
      return ((status.podIPs as Array<{ip: string}> | undefined) ?? []).map((p) => p.ip).join(',');
    case 'status.hostIP':
      return String(status.hostIP ?? '');
    default:
      throw new Error(`fieldRef ${fieldPath} is not one the pod runner resolves`);
  }
}

const CPU_UNITS: Record<string, number> = {m: 1e-3, '': 1};
const BYTE_UNITS: Record<string, number> = {'': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, m: 1e-3};

function quantity(text: string): number {
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a quantity`);
  const unit = match[2]!;
  const factor = CPU_UNITS[unit] ?? BYTE_UNITS[unit];
  if (factor === undefined) throw new Error(`"${text}" has an unknown unit`);
  return Number(match[1]) * factor;
}

/** The downward API's resourceFieldRef: a limit (or request) divided by the divisor, rounded up. */
export function resourceValue(container: Container, resource: string, divisor = '1'): string {
  const [kind, name] = resource.split('.') as ['limits' | 'requests', string];
  const value = container.resources?.[kind]?.[name] ?? (kind === 'limits' ? container.resources?.requests?.[name] : undefined);
  if (value === undefined) throw new Error(`container ${container.name} has no ${resource}, and the pod runner does not know the node's allocatable`);
  return String(Math.ceil(quantity(value) / quantity(divisor)));
}

export interface Lookups {
  configMap(name: string, key: string): Promise<string | undefined>;
  configMapData(name: string): Promise<Record<string, string> | undefined>;
  secret(name: string, key: string): Promise<string | undefined>;
  secretData(name: string): Promise<Record<string, string> | undefined>;
}

/**
 * A container's environment in the kubelet's order: `base` (the kubelet's own variables), then
 * envFrom, then env, each value expanded against what came before it.
 */
export async function containerEnv(pod: Pod, container: Container, base: Record<string, string>, lookups: Lookups): Promise<Record<string, string>> {
  const env: Record<string, string> = {...base};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const data = from.configMapRef ? await lookups.configMapData(ref.name) : await lookups.secretData(ref.name);
    if (!data && !ref.optional) throw new Error(`envFrom ${ref.name} does not exist`);
    for (const [key, value] of Object.entries(data ?? {})) env[`${from.prefix ?? ''}${key}`] = value;
  }
  const containers = ((pod.spec as {containers?: Container[]} | undefined)?.containers ?? []) as Container[];
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    let value: string | undefined;
    if (!from) value = expand(variable.value ?? '', env);
    else if (from.fieldRef) value = fieldValue(pod, from.fieldRef.fieldPath);
    else if (from.resourceFieldRef) {
      const target = from.resourceFieldRef.containerName ? containers.find((c) => c.name === from.resourceFieldRef!.containerName) : container;
      value = resourceValue(target ?? container, from.resourceFieldRef.resource, from.resourceFieldRef.divisor);
    } else if (from.configMapKeyRef) {
      value = await lookups.configMap(from.configMapKeyRef.name, from.configMapKeyRef.key);
      if (value === undefined && !from.configMapKeyRef.optional) throw new Error(`env ${variable.name}: configmap ${from.configMapKeyRef.name} has no key ${from.configMapKeyRef.key}`);
    } else if (from.secretKeyRef) {
      value = await lookups.secret(from.secretKeyRef.name, from.secretKeyRef.key);
      if (value === undefined && !from.secretKeyRef.optional) throw new Error(`env ${variable.name}: secret ${from.secretKeyRef.name} has no key ${from.secretKeyRef.key}`);
    }
    if (value !== undefined) env[variable.name] = value;
  }
  return env;
}

/** The pause image, whose entrypoint is the one the runner knows: it waits, doing nothing, until stopped. */
const PAUSE_IMAGE = /(^|\/)pause(:[^/]*)?(@sha256:[0-9a-f]+)?$/;

/**
 * The argv a container runs: command then args, expanded. A container with no command runs its
 * image's entrypoint, which pods here do not have, but for the pause image's.
 */
export function containerArgv(container: Container, env: Record<string, string>): string[] {
  if (!container.command && !container.args && PAUSE_IMAGE.test(container.image ?? '')) return ['/bin/sleep', 'infinity'];
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map((part) => expand(part, env));
  if (!container.command || argv.length === 0) {
    throw new Error(`container ${container.name} has no command: the pod runner runs no image entrypoint (pods here ignore image:)`);
  }
  return argv;
}

/** The hosts file as the kubelet writes it for a pod on the pod network. */
export function hostsFile(pod: Pod, clusterDomain = 'cluster.local'): string {
  const spec = (pod.spec ?? {}) as {hostname?: string; subdomain?: string; hostAliases?: Array<{ip: string; hostnames: string[]}>};
  const hostname = spec.hostname ?? pod.metadata?.name ?? '';
  const ip = String((pod.status as {podIP?: string} | undefined)?.podIP ?? '');
  const fqdn = spec.subdomain ? `${hostname}.${spec.subdomain}.${pod.metadata?.namespace}.svc.${clusterDomain}\t` : '';
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    `${ip}\t${fqdn}${hostname}`,
  ];
  for (const alias of spec.hostAliases ?? []) lines.push(`${alias.ip}\t${alias.hostnames.join('\t')}`);
  return `${lines.join('\n')}\n`;
}

/** resolv.conf for dnsPolicy ClusterFirst: the cluster's DNS, its search path, ndots 5. */
export function resolvConf(pod: Pod, nameserver: string, clusterDomain = 'cluster.local'): string {
  const ns = pod.metadata?.namespace ?? 'default';
  return `search ${ns}.svc.${clusterDomain} svc.${clusterDomain} ${clusterDomain}\nnameserver ${nameserver}\noptions ndots:5\n`;
}

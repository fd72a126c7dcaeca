import yaml from 'js-yaml';
import {InputError} from '../errors.js';
import type {KubeObject} from '../kube/types.js';
import {isRayKind, rayDemand, RAY_API_VERSION, type GroupManifest, type KubeRayOptions, type RayKind} from './demand.js';

/** The kinds a group carries besides its Ray object; all core v1. */
export const DEPENDENCY_KINDS = ['ConfigMap', 'Secret', 'Service', 'ServiceAccount'] as const;

export interface ReadManifestOptions {
  /** The namespace asked for (-n): an object that names another one is an error, as with kubectl. */
  namespace?: string;
  /** How the operator is configured, for checking the Ray object the way rayDemand reads it. */
  kubeRay?: KubeRayOptions;
}

const NOT_IN_GROUP = 'is not part of a Ray app group (RayCluster, RayService or RayJob plus ConfigMap, Secret, Service, ServiceAccount)';

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return 'a string';
  return String(value);
}

interface Document {
  /** 1-based, counted the way a YAML stream counts documents. */
  number: number;
  /** 1-based line in the file where the document's text starts. */
  firstLine: number;
  text: string;
}

const DOCUMENT_START = /^---(\s|$)/;

/**
 * Splits a YAML stream at its `---` lines, so that each document is parsed (and blamed) on its own.
 * Text before the first `---` is a document only if it holds more than comments and directives.
 */
function splitDocuments(text: string): Document[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const pieces: Array<{firstLine: number; lines: string[]}> = [{firstLine: 1, lines: []}];
  lines.forEach((line, i) => {
    if (DOCUMENT_START.test(line)) pieces.push({firstLine: i + 1, lines: []});
    pieces[pieces.length - 1]!.lines.push(line);
  });
  const preamble = pieces[0]!;
  const preambleIsDocument = preamble.lines.some((line) => !/^\s*(#.*)?$/.test(line) && !line.startsWith('%'));
  return (preambleIsDocument ? pieces : pieces.slice(1)).map((piece, i) => ({number: i + 1, firstLine: piece.firstLine, text: piece.lines.join('\n')}));
}

interface Found {
  object: KubeObject;
  where: string;
}

/**
 * Reads the multi-document YAML (or JSON) a user would `kubectl apply -f`: exactly one RayCluster,
 * RayService or RayJob (ray.io/v1) plus ConfigMaps, Secrets, Services and ServiceAccounts (v1), all
 * in one namespace. Empty documents are skipped and a `kind: List` is expanded. The Ray object is
 * checked the way rayDemand reads it. Anything wrong is an InputError naming `source`, the
 * document and the field; there is never a partial result.
 */
export function readGroupManifest(text: string, source: string, options: ReadManifestOptions = {}): GroupManifest {
  const fail: (where: string | undefined, problem: string, fix: string) => never = (where, problem, fix) => {
    throw new InputError(`${source}: ${where === undefined ? '' : `${where}: `}${problem}`, fix);
  };

  const objects: Found[] = [];
  for (const document of splitDocuments(text)) {
    let value: unknown;
    try {
      // CORE_SCHEMA: plain JSON-like values, no timestamps turned into Dates.
      value = yaml.load(document.text, {schema: yaml.CORE_SCHEMA});
    } catch (error) {
      if (!(error instanceof yaml.YAMLException)) throw error;
      const line = document.firstLine + (error.mark?.line ?? 0);
      fail(`document ${document.number}`, `is not valid YAML at line ${line}: ${error.reason}`, `Correct the YAML at line ${line} of ${source}.`);
    }
    // An empty document (a stray ---, or only comments) holds nothing to apply.
    if (value === null || value === undefined) continue;
    collect(value, `document ${document.number}`);
  }

  function collect(value: unknown, where: string): void {
    if (!isFields(value)) {
      fail(where, `expected a Kubernetes object (a map with apiVersion, kind and metadata), found ${describe(value)}`, 'Write each object as a map with apiVersion, kind and metadata.');
    }
    const {apiVersion, kind} = value;
    if (typeof kind !== 'string' || kind === '') fail(where, 'kind is missing', 'Give every object its kind, such as RayCluster or ConfigMap.');
    if (typeof apiVersion !== 'string' || apiVersion === '') fail(where, 'apiVersion is missing', `Give the ${kind} its apiVersion (${isRayKind(kind) ? RAY_API_VERSION : 'v1'}).`);
    if (kind === 'List') {
      // kubectl flattens a v1 List into its items; so do we.
      if (apiVersion !== 'v1') fail(where, `apiVersion ${JSON.stringify(apiVersion)} is not supported for a List`, 'Use apiVersion: v1 for a List.');
      const items = value.items ?? [];
      if (!Array.isArray(items)) fail(where, `items is ${describe(items)}, not a list`, 'Make the List\'s items a list of objects.');
      items.forEach((item, i) => {
        if (item === null || item === undefined) fail(`${where}, item ${i + 1}`, 'is empty', 'Remove the empty item from the List.');
        collect(item, `${where}, item ${i + 1}`);
      });
      return;
    }
    const expected = isRayKind(kind) ? RAY_API_VERSION : (DEPENDENCY_KINDS as readonly string[]).includes(kind) ? 'v1' : undefined;
    if (expected === undefined) {
      fail(where, `kind ${JSON.stringify(kind)} ${NOT_IN_GROUP}`, `Apply the ${kind} separately, or remove it from ${source}.`);
    }
    if (apiVersion !== expected) {
      fail(where, `apiVersion ${JSON.stringify(apiVersion)} is not supported for a ${kind}`, `Use apiVersion: ${expected} for a ${kind}${isRayKind(kind) ? ' (the version KubeRay v1 reconciles)' : ''}.`);
    }
    const metadata = value.metadata;
    if (metadata !== undefined && metadata !== null && !isFields(metadata)) fail(where, `metadata is ${describe(metadata)}, not a map`, `Make the ${kind}'s metadata a map with at least a name.`);
    const name = metadata?.name;
    if (typeof name !== 'string' || name === '') {
      fail(where, `metadata.name is missing from the ${kind}`, `Give the ${kind} a metadata.name; generateName is not supported because the tool must find the object again.`);
    }
    const namespace = metadata?.namespace;
    if (namespace !== undefined && namespace !== null && typeof namespace !== 'string') {
      fail(where, `metadata.namespace is ${describe(namespace)}, not a name`, `Set the ${kind}'s metadata.namespace to a namespace name, or remove it.`);
    }
    objects.push({object: value as KubeObject, where});
  }

  // One namespace for the whole group.
  let namespace: {name: string; where: string} | undefined;
  const names = new Map<string, string>();
  let ray: Found | undefined;
  const dependencies: Found[] = [];
  for (const found of objects) {
    const {object, where} = found;
    const kind = object.kind as string;
    const name = object.metadata!.name!;
    const ns = object.metadata?.namespace;
    if (typeof ns === 'string' && ns !== '') {
      if (options.namespace !== undefined && ns !== options.namespace) {
        fail(where, `metadata.namespace "${ns}" of ${kind} "${name}" does not match the namespace "${options.namespace}" asked for`, `Remove metadata.namespace from ${source}, or pass --namespace ${ns}.`);
      }
      if (namespace === undefined) namespace = {name: ns, where};
      else if (ns !== namespace.name) {
        fail(
          where,
          `metadata.namespace "${ns}" of ${kind} "${name}" differs from "${namespace.name}" in ${namespace.where}; a Ray app group lives in one namespace`,
          'Put every object of the group in the same namespace, or leave metadata.namespace out and choose it with --namespace.',
        );
      }
    }
    if (isRayKind(kind)) {
      if (ray !== undefined) {
        fail(
          where,
          `${kind} "${name}" is a second Ray object; ${ray.where} already holds ${ray.object.kind} "${ray.object.metadata!.name}"`,
          'Keep one RayCluster, RayService or RayJob per file: a group is one Ray app.',
        );
      }
      try {
        rayDemand(object, options.namespace ?? 'default', options.kubeRay);
      } catch (error) {
        if (error instanceof InputError) fail(where, error.message, error.fix ?? '');
        throw error;
      }
      ray = found;
    } else {
      const key = `${kind}/${name}`;
      const earlier = names.get(key);
      if (earlier !== undefined) fail(where, `${kind} "${name}" is already defined in ${earlier}`, `Remove one of the two ${kind}s named "${name}".`);
      names.set(key, where);
      dependencies.push(found);
    }
  }
  if (ray === undefined) {
    fail(undefined, 'holds no RayCluster, RayService or RayJob; a Ray app group needs exactly one', `Add the Ray object to ${source}, or pass the file that holds it.`);
  }

  // Copies: YAML aliases can make two places share one object, and callers may edit what they get.
  const manifest: GroupManifest = {
    ray: structuredClone(ray.object) as KubeObject & {kind: RayKind},
    dependencies: dependencies.map((d) => structuredClone(d.object)),
  };
  if (namespace !== undefined) manifest.namespace = namespace.name;
  return manifest;
}

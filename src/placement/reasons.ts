import type {NodeMiss} from './fit.js';

/** Why a decision went the way it did, as data; `explain` turns it into a sentence. */
export type Reason =
  | {kind: 'fits'; cluster: string; what: string}
  | {kind: 'no-fit'; cluster: string; what: string; count: number; nodes: Array<{node: string; miss: NodeMiss}>; moreNodes: number}
  | {kind: 'preferred'; cluster: string; over: string; by: 'priority' | 'leftover' | 'name'}
  | {kind: 'home'; cluster: string; workers: number}
  | {kind: 'policy'; relocate: 'if-fits' | 'never'; detail: string}
  | {kind: 'nothing-to-place'; cluster: string};

/** Nodes named in a no-fit reason; the rest are counted. */
export const NODES_SHOWN = 3;

function amount(resource: string, value: number): string {
  if (resource === 'cpu') return value % 1000 === 0 ? String(value / 1000) : `${value}m`;
  if (resource === 'memory' || resource === 'ephemeral-storage') {
    const gib = value / 2 ** 30;
    return Number.isInteger(gib) ? `${gib}Gi` : `${Math.round(value / 2 ** 20)}Mi`;
  }
  return String(value);
}

export function explainMiss(cluster: string, node: string, miss: NodeMiss): string {
  const where = `${cluster}/${node}`;
  switch (miss.kind) {
    case 'insufficient':
      return `${where}: needs ${miss.resource} ${amount(miss.resource, miss.needs)}, free ${amount(miss.resource, Math.max(0, miss.free))}`;
    case 'taint':
      return `${where}: taint ${miss.taint.key}${miss.taint.value ? `=${miss.taint.value}` : ''}:${miss.taint.effect} is not tolerated`;
    case 'node-selector':
      return `${where}: nodeSelector ${miss.key}=${miss.want} does not match`;
    case 'affinity':
      return `${where}: required node affinity does not match`;
    case 'unschedulable':
      return `${where}: node is cordoned (unschedulable)`;
    case 'not-ready':
      return `${where}: node is not Ready`;
  }
}

/** One sentence per reason, e.g. "cloud/gpu-node-1: needs nvidia.com/gpu 1, free 0". */
export function explain(reason: Reason): string {
  switch (reason.kind) {
    case 'fits':
      return `${reason.cluster}: room for ${reason.what}`;
    case 'no-fit': {
      const nodes = reason.nodes.map((n) => explainMiss(reason.cluster, n.node, n.miss)).join('; ');
      const more = reason.moreNodes > 0 ? `; and ${reason.moreNodes} more node(s)` : '';
      return `${reason.cluster}: no room for ${reason.what}${nodes ? ` (${nodes}${more})` : ' (no nodes)'}`;
    }
    case 'preferred':
      return `${reason.cluster} is preferred over ${reason.over} by ${reason.by === 'priority' ? 'fleet priority' : reason.by === 'leftover' ? 'least room left over' : 'name'}`;
    case 'home':
      return `${reason.cluster} is home: it takes the head and ${reason.workers} worker(s)`;
    case 'policy':
      return `relocate policy ${reason.relocate}: ${reason.detail}`;
    case 'nothing-to-place':
      return `${reason.cluster}: nothing new to place`;
  }
}

/**
 * Which Ray autoscaler a RayCluster gets, from its spec alone, as KubeRay v1.5 and Ray decide it:
 *
 * - the head container's RAY_enable_autoscaler_v2, when set, decides (KubeRay refuses a spec that
 *   sets it beside autoscalerOptions.version);
 * - autoscalerOptions.version v2 makes KubeRay set it to true; v1 is what the spec asks for (newer
 *   KubeRay enforces it; v1.5 passes nothing, so Ray's default applies there);
 * - otherwise Ray's own default under KubeRay: v2 from Ray 2.48 (`ray start --head` sets it when
 *   it sees KubeRay's variables), v1 before.
 *
 * It matters for spanning: v1 matches Ray nodes to pods by pod IP, and a remote worker's IP is never
 * its placeholder's, so v1 never sees a spanned worker idle and never scales it in (seen on the test
 * clusters: its LoadMetrics drop the remote node's IP as stale). v2 matches by pod name, which the
 * remote worker keeps.
 */
export interface AutoscalerChoice {
  version: 'v1' | 'v2';
  /** Why, in the spec's words. */
  because: string;
}

interface ClusterSpec {
  enableInTreeAutoscaling?: boolean;
  rayVersion?: string;
  autoscalerOptions?: {version?: string};
  headGroupSpec?: {template?: {spec?: {containers?: Array<{env?: Array<{name: string; value?: string}>}>}}};
}

const V2_DEFAULT_FROM: [number, number] = [2, 48];

/** Undefined when the cluster has no in-tree autoscaler. */
export function autoscalerVersion(rayClusterSpec: unknown): AutoscalerChoice | undefined {
  const spec = rayClusterSpec as ClusterSpec | undefined;
  if (spec?.enableInTreeAutoscaling !== true) return undefined;
  const env = spec.headGroupSpec?.template?.spec?.containers?.[0]?.env?.find((e) => e.name === 'RAY_enable_autoscaler_v2');
  if (env?.value !== undefined) {
    return {version: /^(1|true)$/i.test(env.value.trim()) ? 'v2' : 'v1', because: `the head sets RAY_enable_autoscaler_v2=${env.value}`};
  }
  const asked = spec.autoscalerOptions?.version;
  if (asked === 'v2' || asked === 'v1') return {version: asked, because: `autoscalerOptions.version is ${asked}`};
  const match = /^(\d+)\.(\d+)/.exec(spec.rayVersion ?? '');
  if (!match) return {version: 'v1', because: 'rayVersion is not set, and before Ray 2.48 the default is v1'};
  const [major, minor] = [Number(match[1]), Number(match[2])];
  const v2 = major > V2_DEFAULT_FROM[0] || (major === V2_DEFAULT_FROM[0] && minor >= V2_DEFAULT_FROM[1]);
  return v2
    ? {version: 'v2', because: `Ray ${spec.rayVersion} defaults to v2 under KubeRay`}
    : {version: 'v1', because: `Ray ${spec.rayVersion} defaults to v1; v2 is the default from Ray 2.48`};
}

/** What to change so that a group on v1 can be spanned. */
export const V1_SPAN_FIX = 'set autoscalerOptions.version: v2 (Ray 2.10 or newer) and no RAY_enable_autoscaler_v2 on the head, or turn off in-tree autoscaling';

/** The refusal to span a group whose autoscaler is v1, as a message and its fix; undefined otherwise. */
export function v1SpanRefusal(spec: unknown, what: string): {message: string; fix: string} | undefined {
  const choice = autoscalerVersion(spec);
  if (choice?.version !== 'v1') return undefined;
  return {
    message: `${what} runs the Ray autoscaler v1 (${choice.because}), which matches Ray nodes to pods by IP: it would never scale in a worker spanned to another cluster`,
    fix: V1_SPAN_FIX,
  };
}

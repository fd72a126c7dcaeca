import {describe, expect, it} from 'vitest';
import {autoscalerVersion, v1SpanRefusal} from '../../../src/kuberay/autoscaler.js';

const head = (env?: Array<{name: string; value?: string}>) => ({template: {spec: {containers: [{...(env ? {env} : {})}]}}});

describe('which Ray autoscaler a RayCluster gets', () => {
  it.each([
    ['no in-tree autoscaling', {rayVersion: '2.60.0'}, undefined],
    ['autoscaling off', {enableInTreeAutoscaling: false, rayVersion: '2.30.0'}, undefined],
    ['Ray 2.60, nothing asked', {enableInTreeAutoscaling: true, rayVersion: '2.60.0'}, {version: 'v2', because: 'Ray 2.60.0 defaults to v2 under KubeRay'}],
    ['Ray 2.48, nothing asked', {enableInTreeAutoscaling: true, rayVersion: '2.48.0'}, {version: 'v2', because: 'Ray 2.48.0 defaults to v2 under KubeRay'}],
    ['Ray 3.0, nothing asked', {enableInTreeAutoscaling: true, rayVersion: '3.0.0'}, {version: 'v2', because: 'Ray 3.0.0 defaults to v2 under KubeRay'}],
    ['Ray 2.47, nothing asked', {enableInTreeAutoscaling: true, rayVersion: '2.47.1'}, {version: 'v1', because: 'Ray 2.47.1 defaults to v1; v2 is the default from Ray 2.48'}],
    ['no rayVersion', {enableInTreeAutoscaling: true}, {version: 'v1', because: 'rayVersion is not set, and before Ray 2.48 the default is v1'}],
    ['version v2 on an old Ray', {enableInTreeAutoscaling: true, rayVersion: '2.30.0', autoscalerOptions: {version: 'v2'}}, {version: 'v2', because: 'autoscalerOptions.version is v2'}],
    ['version v1 on a new Ray', {enableInTreeAutoscaling: true, rayVersion: '2.60.0', autoscalerOptions: {version: 'v1'}}, {version: 'v1', because: 'autoscalerOptions.version is v1'}],
    ['the head env off', {enableInTreeAutoscaling: true, rayVersion: '2.60.0', headGroupSpec: head([{name: 'RAY_enable_autoscaler_v2', value: '0'}])}, {version: 'v1', because: 'the head sets RAY_enable_autoscaler_v2=0'}],
    ['the head env on', {enableInTreeAutoscaling: true, rayVersion: '2.40.0', headGroupSpec: head([{name: 'RAY_enable_autoscaler_v2', value: 'True'}])}, {version: 'v2', because: 'the head sets RAY_enable_autoscaler_v2=True'}],
    ['other head env only', {enableInTreeAutoscaling: true, rayVersion: '2.60.0', headGroupSpec: head([{name: 'X', value: '0'}])}, {version: 'v2', because: 'Ray 2.60.0 defaults to v2 under KubeRay'}],
  ])('%s', (_, spec, expected) => {
    expect(autoscalerVersion(spec)).toEqual(expected);
  });

  it('refuses to span a v1 group with one line naming the group, why it is v1, and the fix; never a v2 group', () => {
    const refusal = v1SpanRefusal({enableInTreeAutoscaling: true, rayVersion: '2.46.0'}, 'raycluster/auto in context "onprem"');
    expect(refusal?.message).toBe(
      'raycluster/auto in context "onprem" runs the Ray autoscaler v1 (Ray 2.46.0 defaults to v1; v2 is the default from Ray 2.48), which matches Ray nodes to pods by IP: it would never scale in a worker spanned to another cluster',
    );
    expect(refusal?.fix).toMatch(/autoscalerOptions\.version: v2/);
    expect(refusal?.message).not.toContain('\n');
    expect(v1SpanRefusal({enableInTreeAutoscaling: true, rayVersion: '2.60.0'}, 'x')).toBeUndefined();
    expect(v1SpanRefusal({rayVersion: '2.0.0'}, 'x')).toBeUndefined();
  });
});

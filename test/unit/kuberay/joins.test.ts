import {describe, expect, it} from 'vitest';
import type {KubeObject} from '../../../src/kube/types.js';
import {NOT_JOINED_ANNOTATION, notJoinedOf, notJoinedPatch, notJoinedThere, templateHash} from '../../../src/kuberay/joins.js';

const group = (image: string) => ({groupName: 'gpu', replicas: 3, template: {spec: {containers: [{name: 'ray-worker', image, resources: {requests: {cpu: '1'}}}]}}});
const entry = {template: 'abc', reason: 'container ray-worker is ImagePullBackOff', at: '2026-12-06T10:00:00Z'};
const withRecord = (value: string): KubeObject => ({metadata: {name: 'app', annotations: {[NOT_JOINED_ANNOTATION]: value}}});

describe('templateHash', () => {
  it("follows the pod template, whatever the order of its keys, and not the group's size", () => {
    const a = group('ray:2.9.0');
    const reordered = {template: {spec: {containers: [{resources: {requests: {cpu: '1'}}, image: 'ray:2.9.0', name: 'ray-worker'}]}}, replicas: 7, groupName: 'gpu'};
    expect(templateHash(a)).toBe(templateHash(reordered));
    expect(templateHash(a)).not.toBe(templateHash(group('ray:2.9.1')));
    expect(templateHash(a)).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe('the not-joined record on the Ray object', () => {
  it('adds a cluster to a worker group, keeping the others', () => {
    const before = withRecord(JSON.stringify({gpu: {edge: entry}, cpu: {cloud: entry}}));
    const patch = notJoinedPatch(before, 'gpu', 'cloud', {...entry, template: 'def'});
    expect(JSON.parse(patch.metadata.annotations[NOT_JOINED_ANNOTATION]!)).toEqual({gpu: {edge: entry, cloud: {...entry, template: 'def'}}, cpu: {cloud: entry}});
  });

  it.each([
    ['missing', {metadata: {name: 'app'}}],
    ['not JSON', withRecord('{oops')],
    ['not a map', withRecord('[1,2]')],
  ])('reads as empty when %s', (_, object) => {
    expect(notJoinedOf(object as KubeObject)).toEqual({});
  });

  it('bars a cluster only for the template the worker did not join under', () => {
    const record = {gpu: {cloud: entry}};
    expect(notJoinedThere(record, 'gpu', 'cloud', 'abc')).toEqual(entry);
    expect(notJoinedThere(record, 'gpu', 'cloud', 'changed')).toBeUndefined();
    expect(notJoinedThere(record, 'gpu', 'edge', 'abc')).toBeUndefined();
    expect(notJoinedThere(record, 'cpu', 'cloud', 'abc')).toBeUndefined();
  });
});

import {describe, expect, it} from 'vitest';
import {apiServiceIP, clientIP, dnsIP, fallbackPodCIDR, HUB_IP, inRange, isPodAddress, isServiceAddress, macOf, MAX_CLUSTER_INDEX, nodePodCIDR, POD_NETWORK, serviceCIDR, SERVICE_NETWORK} from '../../../test/env/network.js';

describe('the test pod network\'s address plan', () => {
  it('keeps every pod, hub and client address inside the pod network, and every Service address inside the Service range', () => {
    for (let cluster = 0; cluster <= MAX_CLUSTER_INDEX; cluster++) {
      for (const node of [0, 1, 99, 239, 240, 1775]) {
        const base = nodePodCIDR(cluster, node).split('/')[0]!;
        expect(isPodAddress(base.replace(/\d+$/, (last) => String(Number(last) + 7))), nodePodCIDR(cluster, node)).toBe(true);
      }
      expect(isPodAddress(fallbackPodCIDR(cluster).split('/')[0]!)).toBe(true);
      expect(isServiceAddress(apiServiceIP(cluster))).toBe(true);
      expect(inRange(serviceCIDR(cluster).split('/')[0]!, SERVICE_NETWORK)).toBe(true);
      expect(inRange(dnsIP(cluster), POD_NETWORK)).toBe(true);
      expect(isPodAddress(dnsIP(cluster)), 'the hub is no pod').toBe(false);
    }
    expect(inRange(HUB_IP, POD_NETWORK)).toBe(true);
    expect(isPodAddress(clientIP(3))).toBe(false);
  });

  it('gives clusters ranges that do not overlap', () => {
    expect(inRange(nodePodCIDR(1, 0).split('/')[0]!, `${nodePodCIDR(0, 0).split('.').slice(0, 2).join('.')}.0.0/16`)).toBe(false);
    expect(inRange(apiServiceIP(1), serviceCIDR(0))).toBe(false);
    expect(dnsIP(0)).not.toBe(dnsIP(1));
    // The /27s of nodes past the 240th (a benchmark's big clusters): each cluster's are its own.
    const overflow = (cluster: number) => Array.from({length: 1536}, (_, i) => nodePodCIDR(cluster, 240 + i));
    const all = [0, 1, 15].flatMap(overflow);
    expect(new Set(all).size).toBe(all.length);
    expect(() => nodePodCIDR(0, 240 + 1536)).toThrow(/at most 1776 nodes/);
  });

  it.each([
    ['10.96.0.1', POD_NETWORK, true],
    ['10.127.255.255', POD_NETWORK, true],
    ['10.128.0.0', POD_NETWORK, false],
    ['10.95.255.255', POD_NETWORK, false],
    ['10.64.0.1', SERVICE_NETWORK, true],
    ['10.80.0.1', SERVICE_NETWORK, false],
    ['192.168.1.1', '0.0.0.0/0', true],
  ])('%s in %s: %s', (ip, cidr, expected) => {
    expect(inRange(ip, cidr)).toBe(expected);
  });
});

describe('macOf', () => {
  it('gives each address on the bridge one MAC of its own, locally administered', () => {
    expect(macOf('10.100.0.3')).toBe('02:00:0a:64:00:03');
    expect(macOf('10.96.0.1')).toBe('02:00:0a:60:00:01');
    expect(macOf('10.101.2.255')).not.toBe(macOf('10.101.2.254'));
  });
});

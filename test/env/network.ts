/**
 * The test clusters' pod network: its address plan, and the network namespaces that test/env makes
 * for it. Everything in it lives in namespaces of its own: a hub namespace holding one bridge, and one
 * namespace per pod (or per client of the tests) with a veth on that bridge. The machine's own
 * namespace gets no address and no route in these ranges, and no namespace here gets a default
 * route: a packet to any other address has nowhere to go.
 */
import {execFile} from 'node:child_process';
import {createHash} from 'node:crypto';
import {nodePodCIDR} from '../../src/sandbox/addresses.js';

/** The one L2 network of every pod (all test clusters), on the hub's bridge. */
export const POD_NETWORK = '10.96.0.0/11';
/** The hub's address on the bridge: the way to every Service address. */
export const HUB_IP = '10.96.0.1';
/** Every test cluster's Service range, inside this one; routed to the hub, which serves them. */
export const SERVICE_NETWORK = '10.64.0.0/12';
/** Cluster indexes fit SERVICE_NETWORK's sixteen /16s. */
export const MAX_CLUSTER_INDEX = 15;

export {nodePodCIDR};

/** What KWOK gives a pod on a node without a podCIDR (the tests' nodes all have one). */
export function fallbackPodCIDR(cluster: number): string {
  return `10.${100 + cluster}.250.1/24`;
}

export function serviceCIDR(cluster: number): string {
  return `10.${64 + cluster}.0.0/16`;
}

/** The first Service address, which the API server gives its own `kubernetes` Service. */
export function apiServiceIP(cluster: number): string {
  return `10.${64 + cluster}.0.1`;
}

/** Where the cluster's CoreDNS answers, on the hub. */
export function dnsIP(cluster: number): string {
  return `10.96.0.${10 + cluster}`;
}

/** Namespaces for clients of the tests (a load generator, a probe of the Ray head): 10.96.1.x. */
export function clientIP(n: number): string {
  return `10.96.1.${n}`;
}

export function inRange(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const toInt = (a: string) => a.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const block = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / block) === Math.floor(toInt(base!) / block);
}

/** True for the addresses a pod may have here: the pod network, never the hub's or a client's own. */
export function isPodAddress(ip: string): boolean {
  return inRange(ip, POD_NETWORK) && !inRange(ip, '10.96.0.0/16');
}

export function isServiceAddress(ip: string): boolean {
  return inRange(ip, SERVICE_NETWORK);
}

/**
 * The namespaces' names carry a short hash of the state folder, so that two test environments on one
 * machine (a CI clone beside a working tree) never take each other's.
 */
export function netnsPrefix(stateDir: string): string {
  return `ssrt${createHash('sha256').update(stateDir).digest('hex').slice(0, 6)}`;
}

export function hubNetns(stateDir: string): string {
  return `${netnsPrefix(stateDir)}-hub`;
}

export function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, {timeout: 30_000}, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

const ip = (args: string[]) => run('ip', args);

export async function netnsList(): Promise<string[]> {
  const out = await ip(['netns', 'list']).catch(() => '');
  return out.split('\n').map((line) => line.split(' ')[0]!).filter(Boolean);
}

/** The MAC of an address on the bridge: locally administered, 02:00 and the address's four bytes. */
export function macOf(address: string): string {
  return ['02', '00', ...address.split('.').map((octet) => Number(octet).toString(16).padStart(2, '0'))].join(':');
}

/** The hub: a bridge with the hub's address, and nothing else routed. Idempotent. */
export async function ensureHub(stateDir: string): Promise<string> {
  const hub = hubNetns(stateDir);
  if ((await netnsList()).includes(hub)) return hub;
  await ip(['netns', 'add', hub]);
  await ip(['-n', hub, 'link', 'set', 'lo', 'up']);
  await ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
  // A bridge without an address of its own takes the lowest of its ports' and changes it as pods
  // come and go; every neighbour that cached the hub's old one (for CoreDNS, a Service address)
  // would then send into a pod's veth until its cache entry expired, up to half a minute.
  await ip(['-n', hub, 'link', 'set', 'br0', 'address', macOf(HUB_IP)]);
  await ip(['-n', hub, 'addr', 'add', `${HUB_IP}/11`, 'dev', 'br0']);
  await ip(['-n', hub, 'link', 'set', 'br0', 'up']);
  return hub;
}

/** An address the hub answers on (a Service address, or a CoreDNS): on its loopback, as a /32. */
export async function addHubAddress(stateDir: string, address: string): Promise<void> {
  await ip(['-n', hubNetns(stateDir), 'addr', 'replace', `${address}/32`, 'dev', 'lo']);
}

/**
 * A namespace on the bridge with `address`: its loopback, its eth0, the pod network on the link and
 * the Service range through the hub. No default route.
 */
export async function addEndpointNetns(stateDir: string, name: string, address: string): Promise<void> {
  const hub = hubNetns(stateDir);
  const peer = `v${createHash('sha256').update(name).digest('hex').slice(0, 12)}`;
  await ip(['netns', 'add', name]);
  try {
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
    await ip(['-n', name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peer, 'netns', hub]);
    await ip(['-n', hub, 'link', 'set', peer, 'master', 'br0', 'up']);
    // KWOK hands a freed address to the next pod at once, and neighbours keep the MAC they cached
    // for it for up to half a minute: an address always comes with the same MAC.
    await ip(['-n', name, 'link', 'set', 'eth0', 'address', macOf(address)]);
    await ip(['-n', name, 'addr', 'add', `${address}/11`, 'dev', 'eth0']);
    await ip(['-n', name, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', name, 'route', 'add', SERVICE_NETWORK, 'via', HUB_IP]);
  } catch (err) {
    await deleteNetns(name);
    throw err;
  }
}

/**
 * A namespace and its veth. The kernel tears a namespace down later, on a work queue, and its veth
 * stays on the bridge until then, answering for its address: deleting eth0 first takes its peer off
 * the bridge at once, before the next pod comes with the same address and MAC.
 */
export async function deleteNetns(name: string): Promise<void> {
  await unplugNetns(name);
  await ip(['netns', 'delete', name]).catch(() => undefined);
}

/** Takes a namespace off the bridge (its eth0, and with it the veth peer), leaving its processes be. */
export async function unplugNetns(name: string): Promise<void> {
  await ip(['-n', name, 'link', 'delete', 'eth0']).catch(() => undefined);
}

/** Every namespace of this test environment, the hub last. */
export async function deleteAllNetns(stateDir: string): Promise<void> {
  const prefix = `${netnsPrefix(stateDir)}-`;
  const hub = hubNetns(stateDir);
  for (const name of await netnsList()) if (name.startsWith(prefix) && name !== hub) await deleteNetns(name);
  await deleteNetns(hub);
}

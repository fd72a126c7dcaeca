/**
 * The test clusters' Service addresses, as kube-proxy's old userspace mode served them: a listener on
 * every ClusterIP and port, which passes each connection to one of the Service's ready endpoints. It
 * runs in the hub namespace (test/env/network.ts), where those addresses live, as a child of the data
 * plane (test/env/dataplane.ts), which tells it over IPC what to serve and ends it by closing the
 * channel. An API server's own Service is passed to a Unix socket that the data plane relays to the
 * server's loopback port.
 */
import {execFile} from 'node:child_process';
import * as net from 'node:net';

export type Backend = {host: string; port: number} | {socket: string};

export interface ServedPort {
  address: string;
  port: number;
  backends: Backend[];
}

interface Listener {
  server: net.Server;
  backends: Backend[];
  next: number;
}

const listeners = new Map<string, Listener>();
const addresses = new Set<string>();

const key = (p: {address: string; port: number}) => `${p.address}:${p.port}`;

function addAddress(address: string): Promise<void> {
  return new Promise((resolve) => {
    execFile('ip', ['addr', 'replace', `${address}/32`, 'dev', 'lo'], () => resolve());
  });
}

function removeAddress(address: string): void {
  execFile('ip', ['addr', 'del', `${address}/32`, 'dev', 'lo'], () => {});
}

/** One connection: the next backend that accepts it, in turn; none closes it, as a Service without endpoints does. */
function pass(client: net.Socket, listener: Listener): void {
  client.pause();
  const tried = new Set<number>();
  const attempt = () => {
    const candidates = listener.backends;
    if (candidates.length === 0 || tried.size >= candidates.length) {
      client.destroy();
      return;
    }
    const index = listener.next++ % candidates.length;
    if (tried.has(index)) return attempt();
    tried.add(index);
    const backend = candidates[index]!;
    const upstream = 'socket' in backend ? net.connect(backend.socket) : net.connect(backend.port, backend.host);
    upstream.setTimeout(5_000, () => upstream.destroy(new Error('connect timeout')));
    upstream.once('error', attempt);
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      upstream.removeListener('error', attempt);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.pipe(upstream).pipe(client);
      client.resume();
    });
  };
  attempt();
}

async function serve(wanted: ServedPort[]): Promise<void> {
  const wantedKeys = new Set(wanted.map(key));
  for (const [k, listener] of listeners) {
    if (!wantedKeys.has(k)) {
      listener.server.close();
      listeners.delete(k);
    }
  }
  const wantedAddresses = new Set(wanted.map((p) => p.address));
  for (const address of addresses) {
    if (!wantedAddresses.has(address)) {
      removeAddress(address);
      addresses.delete(address);
    }
  }
  for (const port of wanted) {
    if (!addresses.has(port.address)) {
      await addAddress(port.address);
      addresses.add(port.address);
    }
    const existing = listeners.get(key(port));
    if (existing) {
      existing.backends = port.backends;
      continue;
    }
    const listener: Listener = {server: net.createServer(), backends: port.backends, next: 0};
    listener.server.on('connection', (client) => pass(client, listener));
    listener.server.on('error', (err) => process.stderr.write(`service-proxy: ${key(port)}: ${err.message}\n`));
    listener.server.listen(port.port, port.address);
    listeners.set(key(port), listener);
  }
}

let queue = Promise.resolve();
process.on('message', (message: {ports: ServedPort[]}) => {
  queue = queue.then(() => serve(message.ports));
});
process.on('disconnect', () => process.exit(0));

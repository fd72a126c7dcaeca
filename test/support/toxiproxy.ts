/**
 * Toxiproxy (test/env/build.sh builds it) between the tool and one test API server: faults of the
 * connection itself, where test/support/fault-proxy.ts fails HTTP requests. Latency, a reset, a
 * connection that stays open and carries nothing, a partition. Test harness only: its API and every
 * proxy listen on 127.0.0.1, and a proxy forwards only to a server on the loopback address.
 *
 * Toxiproxy works on TCP, so TLS passes through it untouched: the API server's own certificate is
 * what the tool sees, and a kubeconfig needs only its server address changed.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import {binary, freePort} from '../env/testenv.js';
import {isLoopback} from './fault-proxy.js';
import {waitFor} from './poll.js';

/** Which way the toxic works: `upstream` is what the tool sends, `downstream` what the server answers. */
export type Stream = 'upstream' | 'downstream';

/** Toxiproxy v2.5.0's toxics, with their attributes as its API takes them (times in ms). */
export type ToxicKind =
  /** Delays every chunk by `latency`, plus or minus `jitter`. */
  | {type: 'latency'; attributes: {latency: number; jitter?: number}}
  /** Resets the connection (TCP RST) once data comes, after `timeout` (0: at once). */
  | {type: 'reset_peer'; attributes: {timeout: number}}
  /** Drops all data; closes the connection after `timeout`, or never with 0: a half-open stall. */
  | {type: 'timeout'; attributes: {timeout: number}}
  /** Closes the connection once `bytes` have passed. */
  | {type: 'limit_data'; attributes: {bytes: number}}
  /** At most `rate` KB/s. */
  | {type: 'bandwidth'; attributes: {rate: number}}
  /** Delays the close by `delay`. */
  | {type: 'slow_close'; attributes: {delay: number}}
  /** Cuts data into chunks of about `average_size` bytes, `delay` µs apart. */
  | {type: 'slicer'; attributes: {average_size: number; size_variation?: number; delay?: number}};

export type Toxic = ToxicKind & {
  /** Toxiproxy names it `<type>_<stream>` when left out. */
  name?: string;
  /** downstream when left out, as in Toxiproxy. */
  stream?: Stream;
  /** The share of connections it applies to, drawn per connection; 1 when left out. */
  toxicity?: number;
};

export interface Proxy {
  name: string;
  listen: string;
  upstream: string;
  enabled: boolean;
}

/**
 * A Toxiproxy server: one this process started (`start`), or any other by its API URL (the unit
 * tests give a stand-in). Its proxies listen only on 127.0.0.1 and forward only to loopback upstreams.
 */
export class Toxiproxy {
  private readonly log: string[] = [];

  constructor(
    readonly url: string,
    private readonly child?: ChildProcess,
  ) {
    if (!child) return;
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      this.log.push(...lines);
    });
    child.stderr!.on('data', (chunk: Buffer) => this.log.push(chunk.toString('utf8').trimEnd()));
  }

  /**
   * Starts toxiproxy-server on a free port of 127.0.0.1 and waits until its API answers. A port
   * taken between the check and the server's bind makes it exit: it is started again on another,
   * twice at most.
   */
  static async start(): Promise<Toxiproxy> {
    const file = binary('toxiproxy-server');
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      // A fixed seed: a toxic with a toxicity below 1 hits the same connections run after run, as far as they come in the same order.
      const child = spawn(file, ['-host', '127.0.0.1', '-port', String(port), '-seed', '1'], {stdio: ['ignore', 'pipe', 'pipe']});
      const server = new Toxiproxy(`http://127.0.0.1:${port}`, child);
      const exited = () => (child.exitCode !== null || child.signalCode !== null ? `toxiproxy-server exited (${child.exitCode ?? child.signalCode}): ${server.log.join('\n')}` : undefined);
      // Ended with the test process too, even when it does not get to call stop.
      const orphan = () => server.kill();
      process.once('exit', orphan);
      child.once('exit', () => process.removeListener('exit', orphan));
      try {
        await waitFor('the Toxiproxy API to answer', async () => ((await server.call('GET', '/version')) !== undefined ? true : undefined), {timeoutMs: 15_000, intervalMs: 50, giveUp: exited});
        return server;
      } catch (err) {
        const died = exited() !== undefined;
        await server.stop();
        if (attempt === 3 || !died) throw err;
      }
    }
  }

  /** Stops the server this process started, by its pid, and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  }

  private kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.child!.exitCode !== null || this.child!.signalCode !== null) return;
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }

  /**
   * A proxy named `name` on 127.0.0.1 (on `port`, or a free one) to `upstream` (host:port). Refused
   * unless the upstream is on the loopback address: the proxy is for test servers only.
   */
  async createProxy(name: string, upstream: string, options: {port?: number} = {}): Promise<Proxy> {
    const host = upstream.replace(/:\d+$/, '');
    if (!isLoopback(host) || !/:\d+$/.test(upstream)) throw new Error(`toxiproxy: upstream ${upstream} is not host:port on the loopback address; a proxy forwards only to test servers`);
    const listen = `127.0.0.1:${options.port ?? (await freePort())}`;
    return (await this.call('POST', '/proxies', {name, listen, upstream, enabled: true})) as Proxy;
  }

  async addToxic(proxy: string, toxic: Toxic): Promise<Toxic & {name: string}> {
    return (await this.call('POST', `/proxies/${encodeURIComponent(proxy)}/toxics`, toxic)) as Toxic & {name: string};
  }

  async removeToxic(proxy: string, toxic: string): Promise<void> {
    await this.call('DELETE', `/proxies/${encodeURIComponent(proxy)}/toxics/${encodeURIComponent(toxic)}`);
  }

  /**
   * Cuts the proxy off (false): it stops listening and closes every connection through it, so the
   * tool finds the port refusing, as for a cluster out of reach. true joins it again, on the same port.
   */
  async setEnabled(proxy: string, enabled: boolean): Promise<Proxy> {
    return (await this.call('POST', `/proxies/${encodeURIComponent(proxy)}`, {enabled})) as Proxy;
  }

  async deleteProxy(proxy: string): Promise<void> {
    await this.call('DELETE', `/proxies/${encodeURIComponent(proxy)}`);
  }

  /**
   * The connections the proxy has taken from clients so far, and of those the ones that have ended,
   * as its log says (it logs each link it removes); only for a server this process started.
   */
  connections(proxy: string): {accepted: number; ended: number} {
    let accepted = 0;
    let ended = 0;
    for (const line of this.log) {
      let entry: {message?: string; name?: string; link?: string};
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if (entry.name !== proxy) continue;
      if (entry.message === 'Accepted client') accepted++;
      // Each connection has two links, one each way: the one from the client stands for it.
      else if (entry.message?.startsWith('Remove link ') && entry.link?.endsWith('upstream')) ended++;
    }
    return {accepted, ended};
  }

  private async call(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<unknown> {
    // One connection per call: a kept-alive one would hold the test worker open at the end of the run.
    const res = await fetch(`${this.url}${route}`, {
      method,
      headers: {connection: 'close', ...(body === undefined ? {} : {'content-type': 'application/json'})},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`toxiproxy: ${method} ${route}: HTTP ${res.status}: ${text.trim()}`);
    if (text === '') return {};
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
}

type Config = {clusters: Array<{name: string; cluster: Record<string, string>}>; contexts: Array<{name: string; context: {cluster: string}}>};

/**
 * One context of a kubeconfig, routed through a new Toxiproxy proxy named after it: the proxy, and a
 * copy of the kubeconfig whose cluster for that context is the proxy's address. The API server's
 * certificate names 127.0.0.1, which the proxy listens on, so the kubeconfig's CA still holds.
 */
export async function throughToxiproxy(toxiproxy: Toxiproxy, kubeconfig: string, context: string, options: {dir: string}): Promise<{proxy: Proxy; kubeconfig: string}> {
  const config = yaml.load(fs.readFileSync(kubeconfig, 'utf8')) as Config;
  const clusterName = config.contexts.find((c) => c.name === context)?.context.cluster;
  const cluster = config.clusters.find((c) => c.name === clusterName)?.cluster;
  if (!cluster?.server) throw new Error(`toxiproxy: no context "${context}" with a server in ${kubeconfig}`);
  const server = new URL(cluster.server);
  const port = server.port || (server.protocol === 'https:' ? '443' : '80');
  const proxy = await toxiproxy.createProxy(context, `${server.hostname}:${port}`);
  server.host = proxy.listen;
  cluster.server = server.toString().replace(/\/$/, '');
  const caFile = cluster['certificate-authority'];
  if (caFile) cluster['certificate-authority'] = path.resolve(path.dirname(kubeconfig), caFile);
  const out = path.join(options.dir, `kubeconfig-toxiproxy-${context}`);
  fs.writeFileSync(out, yaml.dump(config), {mode: 0o600});
  return {proxy, kubeconfig: out};
}

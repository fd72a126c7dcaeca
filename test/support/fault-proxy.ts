/**
 * A reverse proxy in front of one test API server that fails chosen requests on purpose: 429 with
 * Retry-After, 500, 503 and 504, and 409 on writes, as production API servers do when they throttle,
 * fail or race another writer. Test harness only. It listens on 127.0.0.1 and forwards only to an API
 * server on the loopback address.
 *
 * Which requests fail is decided per rule, in the order requests arrive: the first `times` that match,
 * or a share `rate` of them drawn from a generator seeded with `seed`, so a run can be repeated. A
 * fault `after` the server lets the request through and replaces its answer: a write that happened,
 * whose answer was lost.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import yaml from 'js-yaml';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export type FaultStatus = 429 | 409 | 500 | 503 | 504;

export interface FaultRule {
  /** Verbs as the API server's audit log names them; any when left out. */
  verbs?: Verb[];
  /** Resources as `pods` or `pods/status`; any when left out. */
  resources?: string[];
  /** Only server-side dry runs (true), or only real requests (false); either when left out. */
  dryRun?: boolean;
  /** The status the request fails with; none for a rule that only holds answers back (`delayMs`). */
  status?: FaultStatus;
  /** Holds the server's answer back this long, a watch's every event too: a cache that lags. */
  delayMs?: number;
  /** Sent with a 429 or a 503. */
  retryAfterSeconds?: number;
  /** The first this many matching requests fail, the rest pass. */
  times?: number;
  /** Or: each matching request fails with this chance, drawn from the seeded generator. With neither, every one. */
  rate?: number;
  /** The request reaches the server, and its answer is replaced by the fault. */
  after?: boolean;
}

export interface Injected {
  at: string;
  verb: Verb;
  resource: string;
  uri: string;
  /** 0 for an answer held back. */
  status: FaultStatus | 0;
  after: boolean;
}

const REASONS: Record<FaultStatus, string> = {409: 'Conflict', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout'};

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The verb and resource of a request, as the API server's audit log would name them. */
export function requestKind(method: string, url: string): {verb: Verb; resource: string} {
  const {pathname, searchParams} = new URL(url, 'http://x');
  const parts = pathname.split('/').filter(Boolean);
  // /api/v1/... or /apis/GROUP/VERSION/...
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length >= 3) rest.splice(0, 2);
  const [type = '', name, subresource] = rest;
  const resource = subresource ? `${type}/${subresource}` : type;
  switch (method.toUpperCase()) {
    case 'GET':
      if (searchParams.get('watch') === 'true' || searchParams.get('watch') === '1') return {verb: 'watch', resource};
      return {verb: name ? 'get' : 'list', resource};
    case 'POST':
      return {verb: 'create', resource};
    case 'PUT':
      return {verb: 'update', resource};
    case 'PATCH':
      return {verb: 'patch', resource};
    case 'DELETE':
      return {verb: name ? 'delete' : 'deletecollection', resource};
    default:
      return {verb: 'get', resource};
  }
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (net.isIPv4(h) && h.startsWith('127.'));
}

export class FaultProxy {
  readonly injected: Injected[] = [];
  private rules: Array<FaultRule & {matched: number}> = [];
  private random: () => number;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    private readonly upstream: URL,
    private readonly ca: Buffer | undefined,
    seed: number,
  ) {
    this.random = seeded(seed);
  }

  static async start(options: {upstream: string; ca?: Buffer; tls?: {cert: Buffer; key: Buffer}; seed?: number; rules?: FaultRule[]}): Promise<FaultProxy> {
    const upstream = new URL(options.upstream);
    if (!isLoopback(upstream.hostname)) throw new Error(`fault proxy: ${options.upstream} is not on the loopback address; the proxy forwards only to test servers`);
    let proxy: FaultProxy | undefined;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => proxy!.handle(req, res);
    const server = options.tls ? https.createServer({cert: options.tls.cert, key: options.tls.key}, handler) : http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    proxy = new FaultProxy(server, `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`, upstream, options.ca, options.seed ?? 1);
    proxy.setRules(options.rules ?? []);
    return proxy;
  }

  /** Replaces the rules; the counts of `times` start again. */
  setRules(rules: FaultRule[]): void {
    this.rules = rules.map((r) => ({...r, matched: 0}));
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pick(verb: Verb, resource: string, dryRun: boolean): FaultRule | undefined {
    for (const rule of this.rules) {
      if (rule.verbs && !rule.verbs.includes(verb)) continue;
      if (rule.resources && !rule.resources.includes(resource)) continue;
      if (rule.dryRun !== undefined && rule.dryRun !== dryRun) continue;
      if (rule.after && verb === 'watch') continue;
      rule.matched++;
      const hit = rule.times !== undefined ? rule.matched <= rule.times : rule.rate !== undefined ? this.random() < rule.rate : true;
      if (hit) return rule;
    }
    return undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const uri = req.url ?? '/';
    const {verb, resource} = requestKind(req.method ?? 'GET', uri);
    const picked = this.pick(verb, resource, /[?&]dryRun=All\b/.test(uri));
    const delayMs = picked?.delayMs;
    const rule = picked?.status !== undefined ? (picked as FaultRule & {status: FaultStatus}) : undefined;
    if (delayMs !== undefined) this.injected.push({at: new Date().toISOString(), verb, resource, uri, status: 0, after: false});
    const fail = () => {
      this.injected.push({at: new Date().toISOString(), verb, resource, uri, status: rule!.status, after: rule!.after === true});
      const headers: Record<string, string> = {'content-type': 'application/json'};
      if (rule!.retryAfterSeconds !== undefined) headers['retry-after'] = String(rule!.retryAfterSeconds);
      res.writeHead(rule!.status, headers);
      res.end(JSON.stringify({kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: REASONS[rule!.status], code: rule!.status, message: `injected by the test's fault proxy: ${REASONS[rule!.status]}`}));
    };
    if (rule && !rule.after) {
      req.resume();
      fail();
      return;
    }
    const send = this.upstream.protocol === 'https:' ? https.request : http.request;
    const upstream = send(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: uri,
        headers: {...req.headers, host: this.upstream.host},
        ...(this.ca ? {ca: this.ca} : {}),
      },
      (answer) => {
        if (rule) {
          answer.resume();
          answer.on('end', fail);
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // Node sends headers with the first chunk of the body; a watch with nothing to say has none
        // yet, and its client waits for the headers within its request timeout.
        res.flushHeaders();
        if (delayMs === undefined) {
          // An answer whose upstream dies midway (Toxiproxy cutting the cluster off) is not ended
          // here: the tool's connection stays open and silent, as a half-open connection after a
          // partition does. That is on purpose: a watch stream then carries nothing more, and says
          // nothing of it (test/e2e/conn-faults.test.ts, the soak's cut-offs).
          answer.pipe(res);
          return;
        }
        // Each chunk as late as the rule says, in the order they came.
        answer.on('data', (chunk: Buffer) => setTimeout(() => res.write(chunk), delayMs).unref());
        answer.on('end', () => setTimeout(() => res.end(), delayMs).unref());
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }
}

/**
 * One context of a kubeconfig, routed through a new fault proxy: the proxy, and a copy of the
 * kubeconfig whose cluster for that context points at it. For test/env's API servers the proxy
 * serves the API server's own certificate, so the kubeconfig's CA still holds.
 */
export async function throughFaultProxy(kubeconfig: string, context: string, options: {seed?: number; rules?: FaultRule[]; dir: string}): Promise<{proxy: FaultProxy; kubeconfig: string}> {
  type Config = {clusters: Array<{name: string; cluster: Record<string, string>}>; contexts: Array<{name: string; context: {cluster: string}}>};
  const config = yaml.load(fs.readFileSync(kubeconfig, 'utf8')) as Config;
  const clusterName = config.contexts.find((c) => c.name === context)?.context.cluster;
  const cluster = config.clusters.find((c) => c.name === clusterName)?.cluster;
  if (!cluster) throw new Error(`fault proxy: no context "${context}" in ${kubeconfig}`);
  const caFile = cluster['certificate-authority'];
  const ca = caFile ? fs.readFileSync(path.resolve(path.dirname(kubeconfig), caFile)) : cluster['certificate-authority-data'] ? Buffer.from(cluster['certificate-authority-data'], 'base64') : undefined;
  let tls: {cert: Buffer; key: Buffer} | undefined;
  if (cluster.server!.startsWith('https:')) {
    // kube-apiserver writes its self-signed certificate and key side by side in its --cert-dir.
    const keyFile = caFile && path.resolve(path.dirname(kubeconfig), caFile).replace(/\.crt$/, '.key');
    if (!keyFile || !fs.existsSync(keyFile)) throw new Error(`fault proxy: cannot serve TLS for context "${context}": no key beside its certificate-authority`);
    tls = {cert: ca!, key: fs.readFileSync(keyFile)};
  }
  const proxy = await FaultProxy.start({upstream: cluster.server!, ca, tls, seed: options.seed, rules: options.rules});
  cluster.server = proxy.url;
  if (caFile) cluster['certificate-authority'] = path.resolve(path.dirname(kubeconfig), caFile);
  const out = path.join(options.dir, `kubeconfig-faults-${context}`);
  fs.writeFileSync(out, yaml.dump(config), {mode: 0o600});
  return {proxy, kubeconfig: out};
}

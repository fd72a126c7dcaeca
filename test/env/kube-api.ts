/**
 * The data plane's own small client of a test cluster's API server: JSON over HTTPS on loopback, as
 * its own user (testenv-dataplane), so that the API servers' audit logs tell its requests from the
 * tool's and the tests'.
 */
import * as https from 'node:https';

export interface ApiTarget {
  apiPort: number;
  token: string;
  ca: Buffer;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const agent = new https.Agent({keepAlive: true, maxSockets: 8});

export function api<T = any>(target: ApiTarget, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      {
        host: '127.0.0.1',
        port: target.apiPort,
        path,
        method,
        ca: target.ca,
        agent,
        timeout: 10_000,
        headers: {
          authorization: `Bearer ${target.token}`,
          accept: 'application/json',
          'user-agent': 'testenv-dataplane',
          ...(payload !== undefined ? {'content-type': contentType, 'content-length': Buffer.byteLength(payload)} : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve((text ? JSON.parse(text) : {}) as T);
          else reject(new ApiError(`${method} ${path}: ${status} ${text.slice(0, 300)}`, status));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

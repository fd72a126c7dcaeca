/**
 * One error type for everything that can go wrong talking to a cluster: an API Status, a transport
 * failure, a timeout. Callers branch on `reason` and `code`, never on message text.
 */

/** Reasons beyond the API's own StatusReason values, for failures that never reached the API. */
export type TransportReason =
  | 'ConnectionRefused'
  | 'ConnectionReset'
  | 'HostNotFound'
  | 'TLSError'
  | 'Timeout'
  | 'Aborted'
  | 'BadResponse'
  | 'Unknown';

export interface KubeErrorInit {
  /** HTTP status code, absent when the request never got an answer. */
  code?: number;
  /** The API's StatusReason (NotFound, Conflict, TooManyRequests, ...) or a TransportReason. */
  reason: string;
  message: string;
  /** The kubeconfig context the request went to. */
  context: string;
  /** What the request was about, e.g. `pods "ray-worker-x" in namespace "ml"`. */
  object?: string;
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class KubeError extends Error {
  override readonly name = 'KubeError';
  readonly code: number | undefined;
  readonly reason: string;
  readonly context: string;
  readonly object: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  /** The server's (or transport's) own words, without the context prefix. */
  readonly detail: string;

  constructor(init: KubeErrorInit) {
    const subject = init.object ? `${init.object}: ` : '';
    super(`context "${init.context}": ${subject}${init.message}`, {cause: init.cause});
    this.code = init.code;
    this.reason = init.reason;
    this.context = init.context;
    this.object = init.object;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.detail = init.message;
  }

  /** True when the request never reached the API server, or got no answer from it. */
  get unreachable(): boolean {
    return this.code === undefined && this.reason !== 'Aborted';
  }

  /** One sentence telling the user what to do about it. */
  get fix(): string | undefined {
    switch (this.reason) {
      case 'ConnectionRefused':
      case 'HostNotFound':
      case 'ConnectionReset':
      case 'Timeout':
        return `check that the cluster of context "${this.context}" is up and reachable from here`;
      case 'TLSError':
        return `check the certificate authority of context "${this.context}" in your kubeconfig`;
      case 'Unauthorized':
        return `refresh the credentials of context "${this.context}" in your kubeconfig`;
      case 'Forbidden':
        return `ask for RBAC access in context "${this.context}", or run "kubectl superskyray doctor"`;
      default:
        return undefined;
    }
  }
}

interface ApiStatus {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
}

const NODE_ERROR_REASONS: Record<string, TransportReason> = {
  ECONNREFUSED: 'ConnectionRefused',
  ECONNRESET: 'ConnectionReset',
  EPIPE: 'ConnectionReset',
  ECONNABORTED: 'ConnectionReset',
  UND_ERR_SOCKET: 'ConnectionReset',
  ENOTFOUND: 'HostNotFound',
  EAI_AGAIN: 'HostNotFound',
  ETIMEDOUT: 'Timeout',
  ESOCKETTIMEDOUT: 'Timeout',
  EHOSTUNREACH: 'ConnectionRefused',
  ENETUNREACH: 'ConnectionRefused',
};

/** HTTP codes the API uses without a Status body, mapped the way client-go names them. */
const REASON_BY_CODE: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function parseStatus(body: unknown): ApiStatus | undefined {
  let value = body;
  if (Buffer.isBuffer(value)) value = value.toString('utf8');
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (value && typeof value === 'object' && (value as ApiStatus).kind === 'Status') return value as ApiStatus;
  return undefined;
}

function bodyText(body: unknown): string {
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  if (typeof body === 'string') return body;
  return '';
}

/** Parses a Retry-After header: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim());
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (!headers || typeof headers !== 'object') return undefined;
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? String(value[0]) : String(value);
  }
  return undefined;
}

/** Builds the KubeError for an HTTP answer that was not a success. */
export function errorFromResponse(
  code: number,
  body: unknown,
  headers: unknown,
  where: {context: string; object?: string},
): KubeError {
  const status = parseStatus(body);
  const text = bodyText(body).trim();
  const firstLine = text.split('\n', 1)[0] ?? '';
  const message = status?.message || firstLine || `the server answered HTTP ${code}`;
  return new KubeError({
    code,
    reason: status?.reason || REASON_BY_CODE[code] || (code >= 500 ? 'InternalError' : 'Unknown'),
    message,
    context: where.context,
    object: where.object,
    retryAfterSeconds: parseRetryAfter(headerValue(headers, 'retry-after')),
  });
}

function isApiException(err: unknown): err is {code: number; body: unknown; headers?: unknown} {
  return (
    err instanceof Error &&
    typeof (err as {code?: unknown}).code === 'number' &&
    'body' in err
  );
}

/**
 * Turns whatever a request threw into a KubeError. Handles our own transport's errors, Node's
 * socket errors, aborts and timeouts, and client-node's ApiException (whose body is a JSON string).
 */
export function normaliseError(err: unknown, where: {context: string; object?: string}): KubeError {
  if (err instanceof KubeError) {
    if (err.object || !where.object) return err;
    return new KubeError({
      code: err.code,
      reason: err.reason,
      message: err.detail,
      context: err.context,
      object: where.object,
      retryAfterSeconds: err.retryAfterSeconds,
      cause: err.cause,
    });
  }
  if (isApiException(err)) return errorFromResponse(err.code, err.body, err.headers, where);

  const e = err as {name?: string; code?: string; message?: string; cause?: unknown} | undefined;
  if (e?.name === 'TimeoutError') {
    const ms = (err as {timeoutMs?: number}).timeoutMs;
    const message = ms ? `no answer within ${ms / 1000}s (--request-timeout)` : 'the request timed out';
    return new KubeError({reason: 'Timeout', message, ...where, cause: err});
  }
  if (e?.name === 'AbortError') {
    return new KubeError({reason: 'Aborted', message: 'the request was cancelled', ...where, cause: err});
  }
  const sysCode = typeof e?.code === 'string' ? e.code : undefined;
  if (sysCode && NODE_ERROR_REASONS[sysCode]) {
    const reason = NODE_ERROR_REASONS[sysCode];
    return new KubeError({reason, message: describeSocketError(reason, e?.message), ...where, cause: err});
  }
  if (sysCode && /^(ERR_TLS|ERR_SSL|UNABLE_TO_)|CERT|SELF_SIGNED/.test(sysCode)) {
    return new KubeError({reason: 'TLSError', message: e?.message ?? sysCode, ...where, cause: err});
  }
  if (e?.message === 'socket hang up') {
    return new KubeError({reason: 'ConnectionReset', message: 'the connection was closed', ...where, cause: err});
  }
  return new KubeError({reason: 'Unknown', message: e?.message ?? String(err), ...where, cause: err});
}

function describeSocketError(reason: TransportReason, raw: string | undefined): string {
  const address = raw?.match(/\s(\S+:\d+)$/)?.[1];
  const at = address ? ` (${address})` : '';
  switch (reason) {
    case 'ConnectionRefused':
      return `connection refused${at}`;
    case 'HostNotFound':
      return `host not found${raw ? ` (${raw.replace(/^getaddrinfo \S+ /, '')})` : ''}`;
    case 'Timeout':
      return `connection timed out${at}`;
    default:
      return `connection reset${at}`;
  }
}

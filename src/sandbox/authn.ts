/**
 * Who a request is. A request without credentials is the sandbox's administrator: kubectl and the
 * tool send none to the sandbox's own kubeconfig, and the servers listen on 127.0.0.1 only, as
 * `kubectl proxy` does. A request with a bearer token is the ServiceAccount the token was issued for
 * through the TokenRequest API, as with bound tokens on a real cluster: signed, expiring, and void
 * once the ServiceAccount is gone.
 */
import {createHmac, randomBytes, randomUUID, timingSafeEqual} from 'node:crypto';
import {isMap, rfc3339, strings, type JsonMap} from './json.js';
import {ApiError, type Store, type StoredObject} from './store.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

/** The administrator: in system:masters, which the API server lets do anything, as a real one does. */
export const SANDBOX_ADMIN: UserInfo = {username: 'sandbox-admin', groups: ['system:masters', 'system:authenticated']};

const AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
const MIN_EXPIRATION_SECONDS = 600;
const DEFAULT_EXPIRATION_SECONDS = 3600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

interface Claims {
  aud: string[];
  sub: string;
  exp: number;
  'kubernetes.io': {namespace: string; serviceaccount: {name: string; uid: string}};
}

export function serviceAccountUser(namespace: string, name: string, uid?: string): UserInfo {
  return {username: `system:serviceaccount:${namespace}:${name}`, ...(uid ? {uid} : {}), groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated']};
}

/** Issues and checks one cluster's ServiceAccount tokens; the signing key lives as long as the cluster. */
export class ServiceAccountTokens {
  private readonly key = randomBytes(32);

  constructor(private readonly store: Store) {}

  private sign(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }

  /** Answers POST .../serviceaccounts/<name>/token for a live ServiceAccount. */
  issue(serviceAccount: StoredObject, request: JsonMap): JsonMap {
    const spec = isMap(request.spec) ? request.spec : {};
    const seconds = spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
    const {name, namespace = '', uid} = serviceAccount.metadata;
    if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < MIN_EXPIRATION_SECONDS || seconds > MAX_EXPIRATION_SECONDS) {
      const why = typeof seconds === 'number' && seconds < MIN_EXPIRATION_SECONDS ? 'may not specify a duration less than 10 minutes' : 'may not specify a duration larger than 2^32 seconds';
      throw new ApiError(422, 'Invalid', `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${JSON.stringify(seconds)}: ${why}`, {
        name,
        group: 'authentication.k8s.io',
        kind: 'TokenRequest',
        causes: [{reason: 'FieldValueInvalid', message: why, field: 'spec.expirationSeconds'}],
      });
    }
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + seconds;
    const audiences = strings(spec.audiences).length > 0 ? strings(spec.audiences) : [AUDIENCE];
    const claims = {aud: audiences, exp, iat, nbf: iat, iss: AUDIENCE, jti: randomUUID(), sub: serviceAccountUser(namespace, name).username, 'kubernetes.io': {namespace, serviceaccount: {name, uid}}};
    const unsigned = `${b64({alg: 'HS256', typ: 'JWT'})}.${b64(claims)}`;
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: {name, namespace, creationTimestamp: null},
      spec: {audiences, expirationSeconds: seconds, boundObjectRef: null},
      status: {token: `${unsigned}.${this.sign(unsigned)}`, expirationTimestamp: rfc3339(exp * 1000)},
    };
  }

  /** The user an Authorization header proves, or a 401. No header at all is the administrator. */
  authenticate(authorization: string | undefined): UserInfo {
    if (authorization === undefined) return SANDBOX_ADMIN;
    const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
    const parts = token?.split('.') ?? [];
    if (parts.length !== 3) throw unauthorized();
    const [header, payload, signature] = parts as [string, string, string];
    // The signature's text is compared, not what a lenient base64 reading makes of it.
    const expected = Buffer.from(this.sign(`${header}.${payload}`));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized();
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Claims;
    // A token for another audience (a vault, say) is not a credential for this API server.
    if (claims.exp * 1000 <= Date.now() || !claims.aud.includes(AUDIENCE)) throw unauthorized();
    const {namespace, serviceaccount} = claims['kubernetes.io'];
    const live = this.store.get({resource: 'serviceaccounts', namespace, name: serviceaccount.name});
    if (!live || live.metadata.uid !== serviceaccount.uid || live.metadata.deletionTimestamp !== undefined) throw unauthorized();
    return serviceAccountUser(namespace, serviceaccount.name, serviceaccount.uid);
  }
}

/** A user as the API writes one (in reviews and the audit log). */
export const userInfoJson = (u: UserInfo): JsonMap => ({username: u.username, ...(u.uid ? {uid: u.uid} : {}), groups: u.groups});

/** Answers a SelfSubjectReview (kubectl auth whoami): who the request is. */
export function selfSubjectReview(user: UserInfo): JsonMap {
  return {kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: {creationTimestamp: null}, status: {userInfo: userInfoJson(user)}};
}

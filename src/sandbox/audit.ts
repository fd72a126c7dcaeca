/**
 * The API server's audit log at level Metadata, as the real test clusters write it: one
 * audit.k8s.io/v1 Event per request, and (as their controllers' requests would be) one per write a
 * component of the sandbox makes, so that a test reads both backends' logs the same way.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {userInfoJson, type UserInfo} from './authn.js';
import type {Attributes} from './rbac.js';
import type {StoreEvent, StoredObject} from './store.js';
import type {JsonMap} from './json.js';


const time = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');

export interface AuditedRequest {
  method: string;
  url: URL;
  /** What it asked, if its path could be read. */
  attributes?: Attributes;
  userAgent?: string;
  /** Who made it; a request that failed authentication has no user. */
  user?: UserInfo;
  /** Whom it acted as, when it impersonated someone. */
  impersonatedUser?: UserInfo;
  code: number;
  startedAt: number;
}


export class AuditLog {
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), {recursive: true});
  }

  private write(entry: JsonMap): void {
    fs.appendFileSync(this.file, `${JSON.stringify({kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', stage: 'ResponseComplete', user: {username: 'sandbox'}, ...entry})}\n`);
  }

  request(r: AuditedRequest): void {
    const a = r.attributes;
    this.write({
      requestURI: `${r.url.pathname}${r.url.search}`,
      verb: a?.verb ?? r.method.toLowerCase(),
      user: r.user ? userInfoJson(r.user) : {username: 'system:anonymous', groups: ['system:unauthenticated']},
      ...(r.impersonatedUser ? {impersonatedUser: userInfoJson(r.impersonatedUser)} : {}),
      userAgent: r.userAgent ?? '',
      ...(a?.resourceRequest
        ? {
            objectRef: {
              resource: a.resource,
              ...(a.namespace ? {namespace: a.namespace} : {}),
              ...(a.name ? {name: a.name} : {}),
              apiGroup: a.apiGroup,
              apiVersion: a.version,
              ...(a.subresource ? {subresource: a.subresource} : {}),
            },
          }
        : {}),
      responseStatus: {code: r.code},
      requestReceivedTimestamp: time(r.startedAt),
      stageTimestamp: time(Date.now()),
    });
  }

  /** A write by a component of the sandbox (the scheduler, the kubelet, KubeRay), as its request. */
  component(actor: string, event: StoreEvent, before: StoredObject | undefined): void {
    const [resource = '', ...group] = event.resource.split('.');
    const o = event.object;
    const statusOnly = event.type === 'MODIFIED' && before !== undefined && JSON.stringify({...before, status: null, metadata: null}) === JSON.stringify({...o, status: null, metadata: null});
    const at = Date.now();
    this.write({
      requestURI: `/${group.length > 0 ? `apis/${group.join('.')}/v1` : 'api/v1'}${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ''}/${resource}${event.type === 'ADDED' ? '' : `/${o.metadata.name}`}${statusOnly ? '/status' : ''}`,
      verb: event.type === 'ADDED' ? 'create' : event.type === 'DELETED' ? 'delete' : 'update',
      userAgent: actor,
      objectRef: {resource, ...(o.metadata.namespace ? {namespace: o.metadata.namespace} : {}), name: o.metadata.name, apiGroup: group.join('.'), apiVersion: 'v1', ...(statusOnly ? {subresource: 'status'} : {})},
      responseStatus: {code: event.type === 'ADDED' ? 201 : 200},
      requestReceivedTimestamp: time(at),
      stageTimestamp: time(at),
    });
  }
}

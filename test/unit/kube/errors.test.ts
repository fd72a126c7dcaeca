import {ApiException} from '@kubernetes/client-node';
import {describe, expect, it} from 'vitest';
import {errorFromResponse, KubeError, normaliseError, parseRetryAfter} from '../../../src/kube/errors.js';

const where = {context: 'onprem', object: 'pods "w-1" in namespace "ml"'};

describe('normaliseError', () => {
  it('reads an API Status body', () => {
    const body = JSON.stringify({kind: 'Status', code: 409, reason: 'AlreadyExists', message: 'pods "w-1" already exists'});
    const err = errorFromResponse(409, Buffer.from(body), {}, where);
    expect(err).toBeInstanceOf(KubeError);
    expect([err.code, err.reason, err.context, err.object, err.detail]).toEqual([
      409,
      'AlreadyExists',
      'onprem',
      'pods "w-1" in namespace "ml"',
      'pods "w-1" already exists',
    ]);
    expect(err.message).toBe('context "onprem": pods "w-1" in namespace "ml": pods "w-1" already exists');
  });

  it("reads client-node's ApiException, whose body is a JSON string", () => {
    const body = JSON.stringify({kind: 'Status', code: 403, reason: 'Forbidden', message: 'pods is forbidden: User "bob" cannot list'});
    const err = normaliseError(new ApiException(403, 'Forbidden', body, {'retry-after': '3'}), where);
    expect([err.code, err.reason, err.detail, err.retryAfterSeconds]).toEqual([403, 'Forbidden', 'pods is forbidden: User "bob" cannot list', 3]);
    expect(err.fix).toMatch(/RBAC access in context "onprem"/);
  });

  it.each([
    {name: 'a body that is not a Status', code: 502, body: '<html>Bad gateway</html>\nmore', reason: 'InternalError', detail: '<html>Bad gateway</html>'},
    {name: 'an empty 429', code: 429, body: '', reason: 'TooManyRequests', detail: 'the server answered HTTP 429'},
    {name: 'an empty 404', code: 404, body: '', reason: 'NotFound', detail: 'the server answered HTTP 404'},
    {name: 'an empty 500', code: 500, body: '', reason: 'InternalError', detail: 'the server answered HTTP 500'},
  ])('maps $name', ({code, body, reason, detail}) => {
    const err = errorFromResponse(code, body, {}, where);
    expect([err.code, err.reason, err.detail]).toEqual([code, reason, detail]);
  });

  it.each([
    {name: 'connection refused', thrown: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), {code: 'ECONNREFUSED'}), reason: 'ConnectionRefused', detail: 'connection refused (127.0.0.1:6443)'},
    {name: 'a reset', thrown: Object.assign(new Error('read ECONNRESET'), {code: 'ECONNRESET'}), reason: 'ConnectionReset', detail: 'connection reset'},
    {name: 'an unknown host', thrown: Object.assign(new Error('getaddrinfo ENOTFOUND api.example'), {code: 'ENOTFOUND'}), reason: 'HostNotFound', detail: 'host not found (api.example)'},
    {name: 'a bad certificate', thrown: Object.assign(new Error('unable to verify the first certificate'), {code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'}), reason: 'TLSError', detail: 'unable to verify the first certificate'},
    {name: 'a timeout', thrown: new DOMException('The operation was aborted due to timeout', 'TimeoutError'), reason: 'Timeout', detail: 'the request timed out'},
    {name: 'an abort', thrown: new DOMException('This operation was aborted', 'AbortError'), reason: 'Aborted', detail: 'the request was cancelled'},
  ])('maps $name, with no HTTP code', ({thrown, reason, detail}) => {
    const err = normaliseError(thrown, where);
    expect([err.code, err.reason, err.detail]).toEqual([undefined, reason, detail]);
    expect(err.unreachable).toBe(reason !== 'Aborted');
  });

  it('adds the object to an error that lacks one, and keeps one that has it', () => {
    const bare = new KubeError({reason: 'NotFound', code: 404, message: 'not found', context: 'cloud'});
    expect(normaliseError(bare, where).object).toBe(where.object);
    const named = new KubeError({reason: 'NotFound', code: 404, message: 'not found', context: 'cloud', object: 'x'});
    expect(normaliseError(named, where)).toBe(named);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-28T10:00:00Z');
  it.each([
    {value: '7', seconds: 7},
    {value: ' 0 ', seconds: 0},
    {value: 'Sat, 28 Nov 2026 10:00:05 GMT', seconds: 5},
    {value: 'Sat, 28 Nov 2026 09:00:00 GMT', seconds: 0},
    {value: 'soon', seconds: undefined},
    {value: undefined, seconds: undefined},
  ])('$value -> $seconds', ({value, seconds}) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });
});

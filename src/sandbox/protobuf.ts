/**
 * Kubernetes' protobuf encoding, read only, for the kinds kubectl's typed subcommands send: `create
 * namespace|serviceaccount|configmap|secret|service|role|clusterrole|rolebinding|clusterrolebinding|
 * priorityclass|quota`,
 * `create token`, `auth can-i [--list]` and `auth whoami`. They send nothing but protobuf and never
 * fall back to JSON, so these bodies are read into the JSON form the rest of the sandbox speaks. The
 * field numbers are those of the Kubernetes API's generated.proto files.
 */
import {rfc3339, type Json, type JsonMap} from './json.js';
import {ApiError} from './store.js';

/** "k8s" and a zero byte: the start of every protobuf body the API server accepts. */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Scalar = 'string' | 'bytes' | 'int' | 'bool';
interface Field {
  name: string;
  type: Scalar | Schema | 'time' | 'intOrString' | 'quantity';
  repeated?: true;
  /** A map<string, X>: entries are messages of key 1 and value 2. */
  map?: true;
}
type Schema = Record<number, Field>;

const s = (name: string): Field => ({name, type: 'string'});
const strings = (name: string): Field => ({name, type: 'string', repeated: true});
const stringMap = (name: string): Field => ({name, type: 'string', map: true});
const message = (name: string, type: Schema, repeated?: true): Field => ({name, type, ...(repeated ? {repeated} : {})});

const OWNER_REFERENCE: Schema = {1: s('kind'), 3: s('name'), 4: s('uid'), 5: s('apiVersion'), 6: {name: 'controller', type: 'bool'}, 7: {name: 'blockOwnerDeletion', type: 'bool'}};
const OBJECT_META: Schema = {
  1: s('name'),
  2: s('generateName'),
  3: s('namespace'),
  5: s('uid'),
  6: s('resourceVersion'),
  7: {name: 'generation', type: 'int'},
  8: {name: 'creationTimestamp', type: 'time'},
  9: {name: 'deletionTimestamp', type: 'time'},
  10: {name: 'deletionGracePeriodSeconds', type: 'int'},
  11: stringMap('labels'),
  12: stringMap('annotations'),
  13: message('ownerReferences', OWNER_REFERENCE, true),
  14: strings('finalizers'),
};
const META = {1: message('metadata', OBJECT_META)};
const POLICY_RULE: Schema = {1: strings('verbs'), 2: strings('apiGroups'), 3: strings('resources'), 4: strings('resourceNames'), 5: strings('nonResourceURLs')};
const LABEL_SELECTOR: Schema = {
  1: stringMap('matchLabels'),
  2: message('matchExpressions', {1: s('key'), 2: s('operator'), 3: strings('values')}, true),
};
const BINDING: Schema = {...META, 2: message('subjects', {1: s('kind'), 2: s('apiGroup'), 3: s('name'), 4: s('namespace')}, true), 3: message('roleRef', {1: s('apiGroup'), 2: s('kind'), 3: s('name')})};
const NAME_REF: Schema = {1: s('name')};
/** map<string, Quantity>, as resource lists are sent. */
const quantities = (name: string): Field => ({name, type: 'quantity', map: true});

const SERVICE_PORT: Schema = {1: s('name'), 2: s('protocol'), 3: {name: 'port', type: 'int'}, 4: {name: 'targetPort', type: 'intOrString'}, 5: {name: 'nodePort', type: 'int'}, 6: s('appProtocol')};
const SERVICE_SPEC: Schema = {
  1: message('ports', SERVICE_PORT, true),
  2: stringMap('selector'),
  3: s('clusterIP'),
  4: s('type'),
  5: strings('externalIPs'),
  7: s('sessionAffinity'),
  10: s('externalName'),
  11: s('externalTrafficPolicy'),
  13: {name: 'publishNotReadyAddresses', type: 'bool'},
  17: s('ipFamilyPolicy'),
  18: strings('clusterIPs'),
  19: strings('ipFamilies'),
  22: s('internalTrafficPolicy'),
};

/** By kind: the bodies kubectl's typed subcommands send to what the sandbox serves. */
const KINDS: Record<string, Schema> = {
  Service: {...META, 2: message('spec', SERVICE_SPEC)},
  Namespace: {...META, 2: message('spec', {1: strings('finalizers')})},
  ServiceAccount: {...META, 2: message('secrets', {1: s('kind'), 2: s('namespace'), 3: s('name'), 4: s('uid'), 5: s('apiVersion')}, true), 3: message('imagePullSecrets', NAME_REF, true), 4: {name: 'automountServiceAccountToken', type: 'bool'}},
  ConfigMap: {...META, 2: stringMap('data'), 3: {name: 'binaryData', type: 'bytes', map: true}, 4: {name: 'immutable', type: 'bool'}},
  Secret: {...META, 2: {name: 'data', type: 'bytes', map: true}, 3: s('type'), 4: stringMap('stringData'), 5: {name: 'immutable', type: 'bool'}},
  Role: {...META, 2: message('rules', POLICY_RULE, true)},
  ClusterRole: {...META, 2: message('rules', POLICY_RULE, true), 3: message('aggregationRule', {1: message('clusterRoleSelectors', LABEL_SELECTOR, true)})},
  RoleBinding: BINDING,
  ClusterRoleBinding: BINDING,
  PriorityClass: {...META, 2: {name: 'value', type: 'int'}, 3: {name: 'globalDefault', type: 'bool'}, 4: s('description'), 5: s('preemptionPolicy')},
  ResourceQuota: {
    ...META,
    2: message('spec', {1: quantities('hard'), 2: strings('scopes'), 3: message('scopeSelector', {1: message('matchExpressions', {1: s('scopeName'), 2: s('operator'), 3: strings('values')}, true)})}),
  },
  TokenRequest: {...META, 2: message('spec', {1: strings('audiences'), 3: message('boundObjectRef', {1: s('kind'), 2: s('apiVersion'), 3: s('name'), 4: s('uid')}), 4: {name: 'expirationSeconds', type: 'int'}})},
  SelfSubjectReview: META,
  SelfSubjectRulesReview: {...META, 2: message('spec', {1: s('namespace')})},
  SelfSubjectAccessReview: {
    ...META,
    2: message('spec', {
      1: message('resourceAttributes', {1: s('namespace'), 2: s('verb'), 3: s('group'), 4: s('version'), 5: s('resource'), 6: s('subresource'), 7: s('name')}),
      2: message('nonResourceAttributes', {1: s('path'), 2: s('verb')}),
    }),
  },
};

const UNKNOWN: Schema = {1: message('typeMeta', {1: s('apiVersion'), 2: s('kind')}), 2: {name: 'raw', type: 'bytes'}};

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.at >= this.buf.length;
  }

  varint(): bigint {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.at >= this.buf.length) throw malformed();
      const byte = this.buf[this.at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
    throw malformed();
  }

  bytes(length: number): Buffer {
    if (this.at + length > this.buf.length) throw malformed();
    const out = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  /** The next field: its number, and its raw value (a varint, or the bytes of any other wire type). */
  field(): {number: number; value: bigint | Buffer} {
    const key = Number(this.varint());
    const [number, wire] = [key >>> 3, key & 7];
    if (wire === 0) return {number, value: this.varint()};
    if (wire === 1) return {number, value: this.bytes(8)};
    if (wire === 2) return {number, value: this.bytes(Number(this.varint()))};
    if (wire === 5) return {number, value: this.bytes(4)};
    throw malformed();
  }
}

function malformed(): ApiError {
  return new ApiError(400, 'BadRequest', 'the protobuf body of the request is malformed');
}

function scalar(type: Field['type'], value: bigint | Buffer): Json {
  if (typeof type === 'object') {
    if (!Buffer.isBuffer(value)) throw malformed();
    return decode(value, type);
  }
  if (type === 'int' || type === 'bool') {
    if (typeof value !== 'bigint') throw malformed();
    return type === 'bool' ? value !== 0n : Number(BigInt.asIntN(64, value));
  }
  if (!Buffer.isBuffer(value)) throw malformed();
  if (type === 'string') return value.toString('utf8');
  if (type === 'bytes') return value.toString('base64');
  // A Quantity is a message of its text alone.
  if (type === 'quantity') return String(decode(value, {1: s('string')}).string ?? '');
  if (type === 'intOrString') {
    const v = decode(value, {1: {name: 'type', type: 'int'}, 2: {name: 'intVal', type: 'int'}, 3: s('strVal')});
    return v.type === 1 ? (v.strVal ?? '') : (v.intVal ?? 0);
  }
  const time = decode(value, {1: {name: 'seconds', type: 'int'}, 2: {name: 'nanos', type: 'int'}});
  // Go's zero time is sent as an empty message: absent, as JSON would leave it.
  return time.seconds === undefined ? '' : rfc3339(Number(time.seconds) * 1000);
}

function decode(buf: Buffer, schema: Schema): JsonMap {
  const out: JsonMap = {};
  const reader = new Reader(buf);
  while (!reader.done) {
    const {number, value} = reader.field();
    const field = schema[number];
    if (!field) continue;
    if (field.map) {
      const entry = decode(value as Buffer, {1: s('key'), 2: {name: 'value', type: field.type}});
      const into = (out[field.name] ??= {}) as JsonMap;
      into[String(entry.key ?? '')] = entry.value ?? '';
    } else if (field.repeated) {
      ((out[field.name] ??= []) as Json[]).push(scalar(field.type, value));
    } else {
      // Go sends its zero values ("" and 0) where JSON would leave a field out; they mean "unset".
      const one = scalar(field.type, value);
      if (one !== '' && one !== 0) out[field.name] = one;
    }
  }
  return out;
}

/** The media type of Kubernetes' protobuf. */
export const PROTOBUF = 'application/vnd.kubernetes.protobuf';

/** A protobuf request body as JSON; a 415 for a kind the sandbox cannot read. */
export function fromProtobuf(body: Buffer): JsonMap {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw malformed();
  const envelope = decode(body.subarray(MAGIC.length), UNKNOWN);
  const typeMeta = (envelope.typeMeta ?? {}) as JsonMap;
  const kind = String(typeMeta.kind ?? '');
  const schema = KINDS[kind];
  if (!schema) {
    throw new ApiError(415, 'UnsupportedMediaType', `the sandbox reads protobuf only for ${Object.keys(KINDS).join(', ')}; send ${kind || 'this object'} as application/json`);
  }
  return {apiVersion: String(typeMeta.apiVersion ?? ''), kind, ...decode(Buffer.from(String(envelope.raw ?? ''), 'base64'), schema)};
}

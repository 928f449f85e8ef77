/**
 * The Envoy API protos shipped by @grpc/grpc-js-xds (envoy-api, xds, googleapis,
 * protoc-gen-validate), loaded once into a protobufjs root, and the one way every resource is
 * encoded: as a `google.protobuf.Any` whose value is the resource's protobuf bytes.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The folders that hold the Envoy API protos and their imports. */
export const PROTO_DIRS: readonly string[] = (() => {
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(deps, d));
})();

/** Proto files whose messages cellsim builds or reads. */
const FILES = [
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/route/v3/scoped_route.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/lua/v3/lua.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/service/discovery/v3/discovery.proto',
];

let root: protobuf.Root | undefined;

/** The loaded protobufjs root (loaded on first use, then shared). */
export function protoRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  const pbDir = dirname(require.resolve('protobufjs/package.json'));
  r.resolvePath = (_origin, target) => {
    for (const d of [...PROTO_DIRS, pbDir]) {
      const p = join(d, target);
      if (existsSync(p)) return p;
    }
    return target;
  };
  r.loadSync(FILES, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/** A `google.protobuf.Any` as grpc-js and protobufjs pass it. */
export interface AnyMessage {
  type_url: string;
  value: Buffer;
}

/** The `type.googleapis.com/...` URL of a fully qualified message name. */
export function typeUrlOf(messageName: string): string {
  return `type.googleapis.com/${messageName}`;
}

/**
 * Encodes a plain object (proto field names, enums as strings, nested `Any` written as
 * `{ '@type': url, ...fields }`) as an Any of `messageName`. Throws when a field is unknown
 * or of the wrong type, so a builder bug never reaches Envoy.
 */
export function encodeAny(messageName: string, object: Record<string, unknown>): AnyMessage {
  const type = protoRoot().lookupType(messageName);
  const problem = type.verify(type.fromObject(object));
  if (problem) throw new Error(`${messageName}: ${problem}`);
  const value = Buffer.from(type.encode(type.fromObject(object)).finish());
  return { type_url: typeUrlOf(messageName), value };
}

/** Decodes an Any back to a plain object (enums as strings, longs as numbers); for tests and status. */
export function decodeAny(any: AnyMessage): Record<string, unknown> {
  const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  const type = protoRoot().lookupType(name);
  return type.toObject(type.decode(any.value), { enums: String, longs: Number, defaults: false });
}

/**
 * A JSON value as a `google.protobuf.Value` object (for Struct fields such as json_format).
 * protobufjs defines the well-known Struct types with camelCase field names.
 */
export function toValue(v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Record<string, unknown>) };
}

/** A JSON object as a `google.protobuf.Struct` object. */
export function toStruct(o: Record<string, unknown>): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) };
}

/** A `google.protobuf.Duration` object from milliseconds. */
export function duration(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/**
 * The discovery messages as @grpc/proto-loader hands them over (keepCase, longs as strings,
 * enums as strings), and the node identity read from a request.
 */
import type { AnyMessage } from '../resources/proto.js';

/** A google.rpc.Status (the `error_detail` of a NACK). */
export interface RpcStatus {
  code?: number;
  message?: string;
}

/** A google.protobuf.Struct as proto-loader decodes it. */
export interface StructMessage {
  fields?: Record<string, ValueMessage>;
}

/** A google.protobuf.Value as proto-loader decodes it (protobufjs names these fields in camelCase). */
export interface ValueMessage {
  kind?: string;
  nullValue?: unknown;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: StructMessage;
  listValue?: { values?: ValueMessage[] };
}

/** The envoy.config.core.v3.Node fields cellsim reads. */
export interface NodeMessage {
  id?: string;
  cluster?: string;
  metadata?: StructMessage;
}

/** SotW request. */
export interface DiscoveryRequest {
  version_info?: string;
  node?: NodeMessage;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: RpcStatus | null;
}

/** SotW response. */
export interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
  control_plane?: { identifier: string };
}

/** Delta request. */
export interface DeltaDiscoveryRequest {
  node?: NodeMessage;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: RpcStatus | null;
}

/** One resource of a delta response. */
export interface DeltaResource {
  name: string;
  version: string;
  resource: AnyMessage;
}

/** Delta response. */
export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: DeltaResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
  control_plane?: { identifier: string };
}

/** A node as the control plane knows it. */
export interface NodeInfo {
  id: string;
  cluster: string | undefined;
  metadata: Record<string, unknown>;
}

/** Converts a Struct message to plain JSON. */
export function structToJson(s: StructMessage | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: ValueMessage): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.numberValue !== undefined) return v.numberValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.structValue !== undefined) return structToJson(v.structValue);
  if (v.listValue !== undefined) return (v.listValue.values ?? []).map(valueToJson);
  return null;
}

/** The node of a request, or undefined when it carries none (or no id). */
export function nodeOf(msg: NodeMessage | undefined): NodeInfo | undefined {
  if (!msg?.id) return undefined;
  return { id: msg.id, cluster: msg.cluster || undefined, metadata: structToJson(msg.metadata) };
}

/** A NACK's error text, or undefined for an ACK / first request. */
export function nackError(e: RpcStatus | null | undefined): string | undefined {
  if (e === null || e === undefined) return undefined;
  if ((e.code ?? 0) === 0 && !e.message) return undefined;
  return `${e.message ?? ''}${e.code ? ` (code ${e.code})` : ''}`.trim();
}

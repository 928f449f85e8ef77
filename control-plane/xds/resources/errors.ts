/**
 * The error answers (docs/contracts.md §Error answers) Envoy gives by itself, built from shared/errors.ts so the two
 * data planes cannot drift: JSON bodies for direct responses and local-reply mappers.
 */
import { ERROR_CODES, errorBody, type ErrorCode } from '../../../shared/errors.js';
import { toStruct } from './proto.js';

/** Seconds a client should wait before retrying a 503 of the edge. */
export const RETRY_AFTER_S = 1;

/** The contract JSON body of `code`, as text (for direct responses). */
export function errorText(code: ErrorCode, message: string): string {
  return JSON.stringify(errorBody(code, message));
}

/** A header-value option that sets (or overwrites) one response header. */
export function setHeader(key: string, value: string): Record<string, unknown> {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}

/** A route's direct response with the contract body, JSON content type, and Retry-After on 503. */
export function directError(code: ErrorCode, message: string): { direct_response: unknown; response_headers_to_add: unknown[] } {
  const status = ERROR_CODES[code].status;
  const headers = [setHeader('content-type', 'application/json')];
  if (status === 503) headers.push(setHeader('retry-after', String(RETRY_AFTER_S)));
  return { direct_response: { status, body: { inline_string: errorText(code, message) } }, response_headers_to_add: headers };
}

/** A local-reply mapper: when `filter` matches, answer `code`'s status with its contract body. */
export function errorMapper(filter: Record<string, unknown>, code: ErrorCode, message: string): Record<string, unknown> {
  const status = ERROR_CODES[code].status;
  return {
    filter,
    status_code: { value: status },
    body_format_override: {
      json_format: toStruct(errorBody(code, message) as unknown as Record<string, unknown>),
      content_type: 'application/json',
    },
    headers_to_add: status === 503 ? [setHeader('retry-after', String(RETRY_AFTER_S))] : [],
  };
}

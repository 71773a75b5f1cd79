/** Keys that could reach a prototype when the params are copied or merged later. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * A parsed query or body: any non-array object. Parsers differ (Fastify's form parser builds
 * objects on a prototype-less prototype), so only own enumerable keys are read.
 */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function copyInto(target: Record<string, unknown>, source: unknown): void {
  if (!isRecord(source)) return;
  for (const key of Object.keys(source)) {
    if (FORBIDDEN_KEYS.has(key)) continue;
    target[key] = source[key];
  }
}

/** The parts of a request that Nova's `params` are made of, on both platforms. */
export interface ParamSources {
  params?: unknown;
  query?: unknown;
  body?: unknown;
}

/**
 * Nova's `params`: query, body and path parameters merged (path wins, then body), as an object
 * without a prototype. Only objects contribute, so a JSON array or string body adds nothing,
 * and prototype keys are dropped. Internal.
 */
export function collectSecurityParams(request: ParamSources): Readonly<Record<string, unknown>> {
  const params: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  copyInto(params, request.query);
  copyInto(params, request.body);
  copyInto(params, request.params);
  return Object.freeze(params);
}

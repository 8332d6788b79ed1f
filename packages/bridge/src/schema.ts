import { ToolSchemaError } from './errors.js';
import type { JsonObject } from './types.js';

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An MCP tool's input schema as function parameters providers accept: always
 * an object schema with `properties`. A missing or empty schema takes no
 * arguments. A schema for something other than an object cannot be the
 * arguments of a function call (MCP requires `type: "object"` too), so it is
 * rejected with a `ToolSchemaError` rather than silently wrapped, which would
 * change the arguments the tool receives. `$schema` is dropped: some
 * providers reject it and none need it.
 */
export function toParameters(toolName: string, schema: unknown): JsonObject {
  if (schema === undefined || schema === null) return { type: 'object', properties: {} };
  if (!isObject(schema)) throw new ToolSchemaError(toolName, `expected a JSON Schema object, got ${Array.isArray(schema) ? 'an array' : typeof schema}`);
  const { $schema: _ignored, ...rest } = schema;
  const type = rest.type;
  if (type !== undefined) {
    const types = Array.isArray(type) ? type : [type];
    if (!types.includes('object')) throw new ToolSchemaError(toolName, `type is ${JSON.stringify(type)}, not "object"`);
  }
  const out: JsonObject = { ...rest, type: 'object' };
  if (!isObject(out.properties)) out.properties = {};
  return out;
}

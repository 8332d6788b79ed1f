// Bounds on everything a client controls before it reaches the pipeline:
// JSON depth (a 10,000-deep `arguments` must be a clear 400 with the
// request's id, not a stack overflow later), bodies on DELETE/GET, batch size.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode, type JsonRpcError, type JsonRpcId } from '@mcpgw/common/jsonrpc';
import { idOfBody } from '../jsonrpc.js';

export interface InputBounds {
  /** Deepest nesting of arrays and objects in a body (MCPGW_MAX_JSON_DEPTH). */
  maxJsonDepth: number;
  /** Items in one JSON-RPC batch (MCPGW_MAX_BATCH_ITEMS). */
  maxBatchItems: number;
}

/** A body refused after parsing: answered with the spec's status and, when it had one, the request's id. */
export class BoundError extends Error {
  readonly statusCode = 400;
  constructor(readonly error: JsonRpcError, readonly id: JsonRpcId | null) {
    super(error.message);
  }
}

/**
 * The deepest nesting in a JSON text, counted outside strings; stops early
 * once past `limit`. Linear in the text and allocation-free.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return false;
}

/**
 * The JSON body parser of every route: JSON.parse, then a depth check when
 * the text is long enough to be too deep (short bodies skip the scan). An
 * empty body is accepted on DELETE and GET (some clients send the header).
 */
export function registerJsonParser(app: FastifyInstance, bounds: InputBounds): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req: FastifyRequest, text: string | Buffer, done) => {
    const s = text as string;
    if (s.length === 0) {
      if (req.method === 'DELETE' || req.method === 'GET') return done(null, undefined);
      return done(Object.assign(new SyntaxError('Body cannot be empty when content-type is set to \'application/json\''), { statusCode: 400 }), undefined);
    }
    let body: unknown;
    try {
      body = JSON.parse(s);
    } catch (err) {
      return done(Object.assign(err as SyntaxError, { statusCode: 400 }), undefined);
    }
    if (s.length > bounds.maxJsonDepth * 2 && jsonDepthExceeds(s, bounds.maxJsonDepth)) {
      return done(new BoundError({ code: ErrorCode.LimitExceeded, message: `Invalid Request: JSON nested deeper than ${bounds.maxJsonDepth} levels (MCPGW_MAX_JSON_DEPTH)` }, idOfBody(body)), undefined);
    }
    done(null, body);
  });
}

/** Counts held slots per key against a maximum: SSE streams per principal, calls per session. */
export class SlotCounter {
  private readonly held = new Map<string, number>();
  private total = 0;

  constructor(private readonly perKey: number, private readonly overall = Infinity) {}

  /** A release function, or undefined when `key` (or the whole edge) is at its maximum. */
  acquire(key: string): (() => void) | undefined {
    const n = this.held.get(key) ?? 0;
    if (n >= this.perKey || this.total >= this.overall) return undefined;
    this.held.set(key, n + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.held.get(key) ?? 1) - 1;
      if (left <= 0) this.held.delete(key);
      else this.held.set(key, left);
    };
  }

  get size(): number {
    return this.total;
  }
}

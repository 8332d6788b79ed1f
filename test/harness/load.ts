// A bounded load generator for fault tests: N workers calling tools through
// the REST endpoint, alternating edges, each call carrying a unique message
// so a lost, duplicated or crossed response is seen, not guessed.
import { randomUUID } from 'node:crypto';

export interface CallOutcome {
  edge: string;
  ok: boolean;
  status: number;
  text?: string;
  error?: string;
  startedMs: number;
  endedMs: number;
}

/** One REST tools/call; never throws (a transport failure is an outcome with status 0). */
export async function restCall(edgeUrl: string, name: string, args: Record<string, unknown>, timeoutMs = 30_000, headers: Record<string, string> = {}): Promise<CallOutcome> {
  const startedMs = Date.now();
  try {
    const res = await fetch(`${edgeUrl}/mcp/tools/call`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name, arguments: args }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as { content?: { text?: string }[]; isError?: boolean; error?: { message: string } };
    const text = body.content?.[0]?.text;
    return { edge: edgeUrl, ok: res.ok && !body.isError, status: res.status, text, error: body.error?.message, startedMs, endedMs: Date.now() };
  } catch (err) {
    return { edge: edgeUrl, ok: false, status: 0, error: (err as Error).message, startedMs, endedMs: Date.now() };
  }
}

export interface LoadStats {
  calls: number;
  failed: number;
  /** Answers that were not the one asked for (another call's text) or came twice. */
  crossed: number;
  failures: CallOutcome[];
  outcomes: CallOutcome[];
}

export interface LoadOptions {
  /** Edge base URLs; worker i's call k goes to edges[(i + k) % n]. */
  edges: () => string[];
  workers?: number;
  /** The echo tool's aggregate name. */
  echoTool: string;
  /** Extra calls mixed in (e.g. a slow tool), every `slowEvery`-th call of a worker. */
  slow?: { tool: string; args: Record<string, unknown>; every: number; expect: string };
  /** Stops after this many calls per worker, or when `stop()` is called. */
  maxCallsPerWorker?: number;
  pauseMs?: number;
  /** Request headers of worker i (e.g. its virtual key). */
  headers?: (worker: number) => Record<string, string>;
}

/** Starts the load; `stop()` ends it and resolves with what was seen. */
export function startLoad(opts: LoadOptions): { stop(): Promise<LoadStats>; done(): Promise<LoadStats>; stats: LoadStats } {
  const stats: LoadStats = { calls: 0, failed: 0, crossed: 0, failures: [], outcomes: [] };
  let stopping = false;
  const workers = opts.workers ?? 9;
  const maxCalls = opts.maxCallsPerWorker ?? 10_000;
  const seen = new Set<string>();
  const worker = async (w: number) => {
    for (let k = 0; k < maxCalls && !stopping; k++) {
      const edges = opts.edges();
      const edge = edges[(w + k) % edges.length]!;
      const slow = opts.slow && k % opts.slow.every === opts.slow.every - 1;
      const message = `w${w}-k${k}-${randomUUID()}`;
      const headers = opts.headers?.(w) ?? {};
      const outcome = slow
        ? await restCall(edge, opts.slow!.tool, opts.slow!.args, 30_000, headers)
        : await restCall(edge, opts.echoTool, { message }, 30_000, headers);
      stats.calls++;
      stats.outcomes.push(outcome);
      if (!outcome.ok) {
        stats.failed++;
        stats.failures.push(outcome);
      } else {
        const expected = slow ? opts.slow!.expect : message;
        if (outcome.text !== expected || (!slow && seen.has(outcome.text))) stats.crossed++;
        if (!slow) seen.add(message);
      }
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  };
  const running = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    stats,
    async stop() {
      stopping = true;
      await running;
      return stats;
    },
    /** Waits until every worker made its `maxCallsPerWorker` calls. */
    async done() {
      await running;
      return stats;
    },
  };
}

/** Polls `fn` until it is true; resolves with the milliseconds it took (rejects after `timeoutMs`). */
export async function timeUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000, intervalMs = 50): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await fn().catch(() => false)) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The edge's tool names (REST list); [] when the list is empty or the edge does not answer. */
export async function listToolNames(edgeUrl: string, headers: Record<string, string> = {}): Promise<string[]> {
  try {
    const res = await fetch(`${edgeUrl}/mcp/tools/list`, { headers, signal: AbortSignal.timeout(5_000) });
    const { tools } = (await res.json()) as { tools?: { name: string }[] };
    return (tools ?? []).map((t) => t.name);
  } catch {
    return [];
  }
}

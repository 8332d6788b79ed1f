// Tasks in a load (fault suite, issue 22): workers that each start a 2026-07-28
// task-augmented tools/call and poll it to its end through whichever edges are
// in rotation, as a client that keeps its task id across edge failures does.
// Each task carries its own duration, so a crossed or lost result is seen.
export interface TaskLoadStats {
  started: number;
  completed: number;
  /** Tasks that ended otherwise (failed, cancelled, or a wrong result). */
  wrong: string[];
  /** Task creations that got no answer (the edge died under them): the client never learnt the id. */
  unstarted: { edge: string; atMs: number; error: string }[];
  /** Polls that failed at the HTTP level and were retried on the next edge. */
  pollRetries: number;
}

const V = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } };

async function post(edge: string, method: string, params: Record<string, unknown>, name: string, auth: Record<string, string>): Promise<Record<string, any>> {
  const res = await fetch(`${edge}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': method, 'mcp-name': name, ...auth },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: META } }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await res.json()) as { result?: Record<string, any>; error?: { message: string } };
  if (!body.result) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
  return body.result;
}

/** `tool` sleeps `ms` (the basic fixture's `slow`) and answers "slept <ms> ms". */
/** `auth`: the credential headers of the calls (the gateway under test requires one). */
export function startTaskLoad(opts: { edges: () => string[]; tool: string; workers: number; ms: () => number; auth?: Record<string, string> }): { stop(): Promise<TaskLoadStats> } {
  const stats: TaskLoadStats = { started: 0, completed: 0, wrong: [], unstarted: [], pollRetries: 0 };
  let stopping = false;
  let turn = 0;
  const pick = () => {
    const e = opts.edges();
    return e[turn++ % e.length]!;
  };
  const worker = async () => {
    while (!stopping) {
      const ms = opts.ms();
      const edge = pick();
      let taskId: string;
      try {
        const created = await post(edge, 'tools/call', { name: opts.tool, arguments: { ms } }, opts.tool, opts.auth ?? {});
        if (created.resultType !== 'task') {
          // The window's shortcut: a call that ended in time is answered at once.
          if (created.content?.[0]?.text === `slept ${ms} ms`) stats.completed++;
          else stats.wrong.push(`sync answer ${JSON.stringify(created).slice(0, 120)}`);
          continue;
        }
        taskId = created.taskId as string;
        stats.started++;
      } catch (err) {
        stats.unstarted.push({ edge, atMs: Date.now(), error: (err as Error).message });
        continue;
      }
      for (;;) {
        await new Promise((r) => setTimeout(r, 200));
        let t: Record<string, any>;
        try {
          t = await post(pick(), 'tasks/get', { taskId }, taskId, opts.auth ?? {});
        } catch (err) {
          if (/unknown task/.test((err as Error).message)) { stats.wrong.push(`${taskId} unknown`); break; }
          stats.pollRetries++;
          continue;
        }
        if (t.status === 'working') continue;
        if (t.status === 'completed' && t.result?.content?.[0]?.text === `slept ${ms} ms`) stats.completed++;
        else stats.wrong.push(`${taskId} ${t.status} ${JSON.stringify(t.result ?? t.error).slice(0, 120)}`);
        break;
      }
    }
  };
  const running = Array.from({ length: opts.workers }, worker);
  return {
    async stop() {
      stopping = true;
      await Promise.all(running);
      return stats;
    },
  };
}

// The admin API as the console sees it: one fetch wrapper that carries the
// credential (held by the caller, in memory only) and turns the API's error
// shape into an ApiError with the HTTP status and the server's message.

export interface Server {
  name: string; transport: string; state: 'ready' | 'connecting' | 'degraded' | 'down'; tools: number;
  lastError?: string; lastLatencyMs?: number; era?: string; session?: string; pinChanges?: number;
}
export interface FieldDiff { old: unknown; new: unknown }
export interface Tool {
  name: string; server: string; tool: string; description?: string; fingerprint: string;
  pin: 'trusted' | 'changed' | 'held' | 'new';
  pending?: { fingerprint: string; seenAt?: string; diff: Record<string, FieldDiff | undefined> };
}
export interface Key {
  id: string; name: string; team: string; servers?: string[]; tools?: string[]; rpm?: number | null;
  max_concurrency?: number | null; expires_at?: string | null; created_at?: string; revoked?: boolean; admin?: boolean;
}
export interface CreatedKey extends Key { key: string }
export interface Team { name: string; servers?: string[]; tools?: string[]; rpm?: number; max_concurrency?: number }
export interface Call { at: string; server: string; tool: string; principal: string; outcome: string; ms: number }
export interface Stat { name: string; callsPerSec: number; errorRatio: number; p50Ms?: number; p99Ms?: number }

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class Api {
  constructor(private readonly key: string) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`/admin/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
    } catch {
      throw new ApiError(0, 'The gateway did not answer (network error)');
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = (json as { error?: { message?: string } } | undefined)?.error;
      throw new ApiError(res.status, `HTTP ${res.status}: ${err?.message ?? (text.slice(0, 200) || res.statusText)}`);
    }
    return json as T;
  }

  servers() { return this.request<{ servers: Server[] }>('GET', '/servers'); }
  tools() { return this.request<{ tools: Tool[] }>('GET', '/tools'); }
  keys() { return this.request<{ keys: Key[] }>('GET', '/keys'); }
  teams() { return this.request<{ teams: Team[] }>('GET', '/teams'); }
  calls(limit = 100) { return this.request<{ calls: Call[] }>('GET', `/calls?limit=${limit}`); }
  config() { return this.request<unknown>('GET', '/config'); }
  stats() { return this.request<{ servers: Stat[] }>('GET', '/stats'); }
  createKey(body: Record<string, unknown>) { return this.request<CreatedKey>('POST', '/keys', body); }
  revokeKey(id: string) { return this.request<{ id: string; revoked: boolean }>('DELETE', `/keys/${encodeURIComponent(id)}`); }
  approve(name: string, fingerprint?: string) {
    return this.request<{ name: string; fingerprint: string; pin: string }>('POST', `/tools/${encodeURIComponent(name)}/approve`, fingerprint ? { fingerprint } : {});
  }
  reject(name: string) { return this.request<unknown>('POST', `/tools/${encodeURIComponent(name)}/reject`, {}); }
}

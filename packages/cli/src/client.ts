// The admin API over fetch: one request function that sends the credential
// and turns `{ "error": { "code", "message" } }` into an ApiError carrying the
// HTTP status and the server's own message.

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export interface ClientOptions {
  url: string;
  key?: string;
  timeoutMs?: number;
}

export class AdminClient {
  private readonly base: string;

  constructor(private readonly opts: ClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.key) headers.authorization = `Bearer ${this.opts.key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const url = `${this.base}/admin/api${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = (err as Error).name === 'TimeoutError' ? 'no answer in time' : cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiError(0, `cannot reach ${this.base} (${why}); set MCPGW_URL or --url`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const apiMessage = (json as { error?: { message?: unknown } } | undefined)?.error?.message;
      let message = `HTTP ${res.status}: ${typeof apiMessage === 'string' ? apiMessage : (text.trim().slice(0, 300) || res.statusText)}`;
      if (res.status === 401 && !this.opts.key) message += ' (no key given: set MCPGW_MASTER_KEY or pass --key)';
      throw new ApiError(res.status, message);
    }
    return json as T;
  }
}

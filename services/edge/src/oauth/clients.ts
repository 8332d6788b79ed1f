// Who may ask the gateway for tokens: clients registered dynamically (RFC
// 7591) and clients whose id is the URL of their metadata (OAuth Client ID
// Metadata Documents, draft-ietf-oauth-client-id-metadata-document, as MCP
// 2025-11-25 prefers). Both are bounded: a few redirect URIs, short names,
// small documents fetched with a timeout and no redirects.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { digestId, type OAuthState } from './state.js';

export interface OAuthClient {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  /** `none`: a public client (PKCE only); else a secret is checked at the token endpoint. */
  authMethod: 'none' | 'client_secret_basic' | 'client_secret_post';
  /** sha256 of the secret (confidential DCR clients). */
  secretDigest?: string;
  /** Where the client came from (shown on the consent page). */
  kind: 'registered' | 'metadata_document';
}

export class ClientError extends Error {
  constructor(readonly error: 'invalid_client_metadata' | 'invalid_redirect_uri' | 'invalid_client', message: string) {
    super(message);
  }
}

const MAX_REDIRECTS = 10;
const MAX_NAME = 200;
const MAX_DOCUMENT_BYTES = 16 * 1024;
const CLIENT_TTL_S = 90 * 24 * 3600;
const DOCUMENT_CACHE_MS = 5 * 60_000;

/**
 * A redirect URI a client may register: https, http on a loopback host
 * (native apps, RFC 8252 section 7.3), or a private-use scheme (RFC 8252
 * section 7.1); never with a fragment.
 */
function validRedirect(u: unknown): u is string {
  if (typeof u !== 'string' || u.length > 2000) return false;
  try {
    const url = new URL(u);
    if (url.hash) return false;
    if (url.protocol === 'https:') return true;
    if (url.protocol === 'http:') return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol);
  } catch {
    return false;
  }
}

export class Clients {
  private readonly documents = new Map<string, { client: OAuthClient; until: number }>();

  /** `allowHttpDocuments`: development only, client metadata documents on plain-http loopback URLs. */
  constructor(private readonly state: OAuthState, private readonly allowHttpDocuments = false) {}

  /** RFC 7591 section 3: registers a client from its metadata; returns the registration response. */
  async register(body: unknown): Promise<Record<string, unknown>> {
    const m = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const uris = m.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0 || uris.length > MAX_REDIRECTS) throw new ClientError('invalid_redirect_uri', `redirect_uris must list 1 to ${MAX_REDIRECTS} URIs`);
    if (!uris.every(validRedirect)) throw new ClientError('invalid_redirect_uri', 'each redirect URI must be https, http on a loopback host, or a private-use scheme, without a fragment');
    const method = m.token_endpoint_auth_method ?? 'client_secret_basic';
    if (method !== 'none' && method !== 'client_secret_basic' && method !== 'client_secret_post') throw new ClientError('invalid_client_metadata', 'token_endpoint_auth_method must be none, client_secret_basic or client_secret_post');
    const grants = m.grant_types ?? ['authorization_code'];
    if (!Array.isArray(grants) || grants.some((g) => g !== 'authorization_code' && g !== 'refresh_token')) throw new ClientError('invalid_client_metadata', 'grant_types may be authorization_code and refresh_token only');
    const name = typeof m.client_name === 'string' ? m.client_name.slice(0, MAX_NAME) : 'unnamed client';
    const clientId = `mcpgw-${randomBytes(16).toString('base64url')}`;
    const secret = method === 'none' ? undefined : randomBytes(32).toString('base64url');
    const client: OAuthClient = { clientId, clientName: name, redirectUris: uris, authMethod: method, secretDigest: secret && digestId(secret), kind: 'registered' };
    await this.state.put('client', clientId, client, CLIENT_TTL_S);
    const now = Math.floor(Date.now() / 1000);
    return {
      client_id: clientId, client_id_issued_at: now, ...(secret ? { client_secret: secret, client_secret_expires_at: now + CLIENT_TTL_S } : {}),
      client_name: name, redirect_uris: uris, token_endpoint_auth_method: method, grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    };
  }

  /** The client named by `clientId`: registered, or fetched from its metadata document URL. */
  async find(clientId: string): Promise<OAuthClient | undefined> {
    if (/^https?:\/\//.test(clientId)) return this.fromDocument(clientId);
    if (clientId.length > 100) return undefined;
    return this.state.get<OAuthClient>('client', clientId);
  }

  /** Token endpoint client authentication (RFC 6749 section 2.3.1); public clients present no secret. */
  authenticate(client: OAuthClient, secret: string | undefined): boolean {
    if (client.authMethod === 'none') return secret === undefined;
    if (!secret || !client.secretDigest) return false;
    const a = Buffer.from(digestId(secret));
    const b = Buffer.from(client.secretDigest);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async fromDocument(url: string): Promise<OAuthClient | undefined> {
    const cached = this.documents.get(url);
    if (cached && cached.until > Date.now()) return cached.client;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    // The draft: an https URL with a path; plain http only for loopback in development.
    const insecureOk = this.allowHttpDocuments && u.protocol === 'http:' && ['127.0.0.1', 'localhost'].includes(u.hostname);
    if ((u.protocol !== 'https:' && !insecureOk) || u.pathname === '/' || u.hash || u.username || u.password) {
      throw new ClientError('invalid_client', 'a URL client_id must be an https URL with a path (a client ID metadata document)');
    }
    const res = await fetch(u, { redirect: 'error', signal: AbortSignal.timeout(5_000), headers: { accept: 'application/json' } })
      .catch(() => { throw new ClientError('invalid_client', 'the client ID metadata document could not be fetched'); });
    const text = await readBounded(res, MAX_DOCUMENT_BYTES);
    if (!res.ok || text === undefined) throw new ClientError('invalid_client', `the client ID metadata document answered HTTP ${res.status}${text === undefined ? ' or is larger than 16 KiB' : ''}`);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new ClientError('invalid_client', 'the client ID metadata document is not JSON');
    }
    if (doc.client_id !== url) throw new ClientError('invalid_client', 'the client ID metadata document names another client_id');
    const uris = doc.redirect_uris;
    if (!Array.isArray(uris) || uris.length === 0 || uris.length > MAX_REDIRECTS || !uris.every(validRedirect)) throw new ClientError('invalid_client', 'the client ID metadata document\'s redirect_uris are missing or invalid');
    const method = doc.token_endpoint_auth_method ?? 'none';
    // Shared secrets cannot be part of a public document: such clients are public (PKCE).
    if (method !== 'none') throw new ClientError('invalid_client', 'a client ID metadata document client must use token_endpoint_auth_method none');
    const client: OAuthClient = {
      clientId: url, clientName: typeof doc.client_name === 'string' ? doc.client_name.slice(0, MAX_NAME) : u.host, redirectUris: uris, authMethod: 'none', kind: 'metadata_document',
    };
    this.documents.set(url, { client, until: Date.now() + DOCUMENT_CACHE_MS });
    if (this.documents.size > 1000) this.documents.delete(this.documents.keys().next().value!);
    return client;
  }
}

async function readBounded(res: Response, max: number): Promise<string | undefined> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// Per-user upstream tokens at rest: AES-256-GCM (node:crypto), keys from
// MCPGW_TOKEN_KEYS ("id:base64key,id2:base64key2"): the first key seals, every
// key opens, so keys rotate without losing tokens (add a new key first,
// re-seal happens on the next refresh, drop the old key later). The key id
// travels inside the blob; the principal and server are bound as associated
// data, so a blob copied to another user's row does not open.
//   blob = 0x01 | idLength (1 byte) | keyId | iv (12) | tag (16) | ciphertext
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 1;

export interface TokenKey {
  id: string;
  key: Buffer;
}

export class SealError extends Error {}

export class TokenSealer {
  private readonly byId: Map<string, Buffer>;

  constructor(private readonly keys: TokenKey[]) {
    if (keys.length === 0) throw new SealError('no token keys');
    for (const k of keys) {
      if (k.key.length !== 32) throw new SealError(`token key '${k.id}' must be 32 bytes (base64 of 32 random bytes)`);
      if (!/^[A-Za-z0-9_.-]{1,32}$/.test(k.id)) throw new SealError(`token key id '${k.id}' must be 1-32 of [A-Za-z0-9_.-]`);
    }
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** `MCPGW_TOKEN_KEYS`: comma-separated `id:base64` pairs, the first one seals. */
  static fromEnv(value: string): TokenSealer {
    return new TokenSealer(value.split(',').map((s) => s.trim()).filter(Boolean).map((pair) => {
      const colon = pair.indexOf(':');
      if (colon <= 0) throw new SealError('MCPGW_TOKEN_KEYS entries are id:base64key');
      return { id: pair.slice(0, colon), key: Buffer.from(pair.slice(colon + 1), 'base64') };
    }));
  }

  /** The id of the key that seals now. */
  get currentKeyId(): string {
    return this.keys[0]!.id;
  }

  seal(plaintext: string, boundTo: string): Buffer {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(boundTo));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const idBytes = Buffer.from(id);
    return Buffer.concat([Buffer.from([VERSION, idBytes.length]), idBytes, iv, cipher.getAuthTag(), ct]);
  }

  /** The plaintext, and the id of the key that sealed it (a blob under an older key is re-sealed by the caller). */
  open(blob: Buffer, boundTo: string): { plaintext: string; keyId: string } {
    if (blob.length < 2 || blob[0] !== VERSION) throw new SealError('unknown sealed token format');
    const idLen = blob[1]!;
    const keyId = blob.subarray(2, 2 + idLen).toString();
    const key = this.byId.get(keyId);
    if (!key) throw new SealError(`sealed with key '${keyId}', which MCPGW_TOKEN_KEYS no longer has`);
    const at = 2 + idLen;
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(at, at + 12));
    decipher.setAAD(Buffer.from(boundTo));
    decipher.setAuthTag(blob.subarray(at + 12, at + 28));
    try {
      return { plaintext: Buffer.concat([decipher.update(blob.subarray(at + 28)), decipher.final()]).toString('utf8'), keyId };
    } catch {
      throw new SealError('the sealed token does not open (tampered, or bound to another user or server)');
    }
  }
}

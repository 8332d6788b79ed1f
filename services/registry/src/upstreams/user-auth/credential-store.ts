// Where per-user upstream tokens live. The system of record (issue 19's Store)
// implements exactly this interface; until it is wired, Redis (shared by
// registry replicas) or memory hold the same records. Ciphertext only: the
// registry seals and opens (sealing.ts).
import type { Redis } from 'ioredis';

export interface UserCredentialRecord {
  principal: string;
  server: string;
  ciphertext: Buffer;
  expiresAtMs: number | null;
  updatedAtMs: number;
}

export interface UserCredentialStore {
  getUserCredential(principal: string, server: string): Promise<UserCredentialRecord | undefined>;
  putUserCredential(rec: UserCredentialRecord): Promise<void>;
  deleteUserCredential(principal: string, server: string): Promise<boolean>;
  deleteUserCredentials(principal: string): Promise<number>;
  listUserCredentials(principal: string): Promise<Array<Omit<UserCredentialRecord, 'ciphertext'>>>;
}

export class MemoryUserCredentialStore implements UserCredentialStore {
  private readonly rows = new Map<string, UserCredentialRecord>();

  async getUserCredential(principal: string, server: string): Promise<UserCredentialRecord | undefined> {
    return this.rows.get(`${principal}\0${server}`);
  }

  async putUserCredential(rec: UserCredentialRecord): Promise<void> {
    this.rows.set(`${rec.principal}\0${rec.server}`, rec);
  }

  async deleteUserCredential(principal: string, server: string): Promise<boolean> {
    return this.rows.delete(`${principal}\0${server}`);
  }

  async deleteUserCredentials(principal: string): Promise<number> {
    let n = 0;
    for (const k of [...this.rows.keys()]) if (k.startsWith(`${principal}\0`)) n += this.rows.delete(k) ? 1 : 0;
    return n;
  }

  async listUserCredentials(principal: string): Promise<Array<Omit<UserCredentialRecord, 'ciphertext'>>> {
    return [...this.rows.values()].filter((r) => r.principal === principal).map(({ ciphertext: _c, ...rest }) => rest);
  }
}

/** Interim shared home (one hash per principal) until the system of record lands. */
export class RedisUserCredentialStore implements UserCredentialStore {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  private key(principal: string): string {
    return `${this.prefix}usercred:{${principal}}`;
  }

  async getUserCredential(principal: string, server: string): Promise<UserCredentialRecord | undefined> {
    const v = await this.redis.hget(this.key(principal), server);
    if (!v) return undefined;
    const o = JSON.parse(v) as { c: string; e: number | null; u: number };
    return { principal, server, ciphertext: Buffer.from(o.c, 'base64'), expiresAtMs: o.e, updatedAtMs: o.u };
  }

  async putUserCredential(rec: UserCredentialRecord): Promise<void> {
    await this.redis.hset(this.key(rec.principal), rec.server, JSON.stringify({ c: rec.ciphertext.toString('base64'), e: rec.expiresAtMs, u: rec.updatedAtMs }));
  }

  async deleteUserCredential(principal: string, server: string): Promise<boolean> {
    return (await this.redis.hdel(this.key(principal), server)) > 0;
  }

  async deleteUserCredentials(principal: string): Promise<number> {
    const n = await this.redis.hlen(this.key(principal));
    await this.redis.del(this.key(principal));
    return n;
  }

  async listUserCredentials(principal: string): Promise<Array<Omit<UserCredentialRecord, 'ciphertext'>>> {
    const all = await this.redis.hgetall(this.key(principal));
    return Object.entries(all).map(([server, v]) => {
      const o = JSON.parse(v) as { e: number | null; u: number };
      return { principal, server, expiresAtMs: o.e, updatedAtMs: o.u };
    });
  }
}

// Where per-user upstream tokens live: the system of record's Store implements
// exactly this interface (its `user_credentials` table); the memory one serves
// unit tests. Ciphertext only: the registry seals and opens (sealing.ts).

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

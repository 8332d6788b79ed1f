// The catalog shared by every registry replica through Redis. Writes are a
// compare-and-set on the content hash (a Lua script), so replicas that run the
// same upstreams never make the version flip-flop; the version moves only when
// contents change. Each replica mirrors Redis in memory, following the
// `catalog` channel and resyncing whenever it sees a gap or reconnects.
import type { Redis } from 'ioredis';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogContents } from '../upstreams/upstream.js';
import { CatalogMirror, toEntry, type CatalogEntry, type CatalogStore } from './catalog.js';

const PUT_SCRIPT = `
if redis.call('HGET', KEYS[1], 'hash') == ARGV[1] then return 0 end
local v = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'version', v, unpack(ARGV, 4))
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2] .. ' ' .. v)
return v`;

const REMOVE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local v = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[1] .. ' ' .. v)
return v`;

/** Raises the version to at least ARGV[1] (after Redis lost it), so versions never go backwards. */
const RAISE_SCRIPT = `
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return tonumber(ARGV[1]) end
return v`;

const RESYNC_INTERVAL_MS = 15_000;

export class RedisCatalog extends CatalogMirror implements CatalogStore {
  private readonly keys;
  private queue: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly republished: Array<() => void> = [];

  private constructor(private readonly redis: Redis, private readonly sub: Redis, prefix: string, private readonly log: Logger) {
    super();
    // One hash tag for every catalog key: the scripts touch several of them, which Redis Cluster allows within one slot.
    this.keys = {
      server: (name: string) => `${prefix}{catalog}:server:${name}`,
      version: `${prefix}{catalog}:version`,
      servers: `${prefix}{catalog}:servers`,
      channel: `${prefix}catalog`,
    };
    this.timer = setInterval(() => this.enqueue(() => this.resyncIfBehind()), RESYNC_INTERVAL_MS);
    this.timer.unref();
  }

  /** Loads what Redis holds (marked stale: served before this replica's upstreams answer). */
  static async open(redis: Redis, sub: Redis, prefix: string, log: Logger): Promise<RedisCatalog> {
    const store = new RedisCatalog(redis, sub, prefix, log);
    sub.on('message', (channel: string, message: string) => {
      if (channel === store.keys.channel) store.onMessage(message);
    });
    // Pub/sub is at-most-once: after any reconnect, reload everything.
    sub.on('ready', () => store.enqueue(() => store.resync()));
    await sub.subscribe(store.keys.channel).catch((err: Error) => log.warn({ err: err.message }, 'catalog subscribe failed; will retry on reconnect'));
    await store.resync().catch((err: Error) => log.warn({ err: err.message }, 'catalog load from Redis failed; starting empty'));
    return store;
  }

  async put(contents: CatalogContents): Promise<void> {
    const entry = toEntry(contents);
    const fields = [
      'tools', entry.toolsJson, 'resources', entry.resourcesJson, 'templates', entry.resourceTemplatesJson,
      'prompts', entry.promptsJson, 'description', entry.description, 'info', entry.serverInfoJson, 'perClient', entry.perClient ? '1' : '0', 'credHeader', entry.credentialHeader, 'tokenExchange', entry.tokenExchange,
    ];
    const v = Number(await this.redis.eval(PUT_SCRIPT, 3, this.keys.server(entry.name), this.keys.version, this.keys.servers,
      entry.hash, entry.name, this.keys.channel, ...fields));
    if (v > 0 && v <= this.version) {
      // Redis counted from scratch: it lost the catalog. Put back everything this replica holds.
      this.enqueue(() => this.resync());
      return;
    }
    if (v === 0) {
      // Unchanged in Redis: our upstream confirms what the mirror holds.
      const held = this.byName.get(entry.name);
      if (held?.hash === entry.hash) held.stale = false;
      else this.enqueue(() => this.resync());
      return;
    }
    this.enqueue(async () => this.applyVersion(entry.name, v, entry));
  }

  async remove(name: string): Promise<void> {
    const v = Number(await this.redis.eval(REMOVE_SCRIPT, 3, this.keys.server(name), this.keys.version, this.keys.servers, name, this.keys.channel));
    if (v > 0) this.enqueue(async () => this.applyVersion(name, v, null));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  onRepublish(listener: () => void): void {
    this.republished.push(listener);
  }

  private onMessage(message: string): void {
    const space = message.lastIndexOf(' ');
    const name = message.slice(0, space);
    const v = Number(message.slice(space + 1));
    this.enqueue(async () => {
      if (v <= this.version) return; // already applied (our own write) or old
      if (v !== this.version + 1) return this.resync();
      const entry = await this.readEntry(name);
      this.applyVersion(name, v, entry);
    });
  }

  private applyVersion(name: string, v: number, entry: CatalogEntry | null): void {
    if (v <= this.version) return;
    if (v !== this.version + 1) {
      this.enqueue(() => this.resync());
      return;
    }
    this.apply({ version: v, snapshot: false, servers: entry ? [entry] : [], removed: entry ? [] : [name] });
  }

  /** Serialises mirror updates so versions apply in order. */
  private enqueue(task: () => Promise<void> | void): void {
    this.queue = this.queue.then(task).catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'catalog sync failed'));
  }

  private async resyncIfBehind(): Promise<void> {
    const v = Number(await this.redis.get(this.keys.version) ?? 0);
    if (v !== this.version) await this.resync();
  }

  /**
   * Reloads the mirror from Redis, unless Redis lost the catalog (no version
   * key, or a version below the one this replica already applied: a restart
   * without persistence, a failover to an empty replica, a flush). Then the
   * live mirror stays, and what it holds is written back.
   */
  private async resync(): Promise<void> {
    let [version, names] = await Promise.all([this.redis.get(this.keys.version), this.redis.smembers(this.keys.servers)]);
    if (this.version > 0 && Number(version ?? 0) < this.version) {
      await this.republish();
      for (const listener of this.republished) listener();
      [version, names] = await Promise.all([this.redis.get(this.keys.version), this.redis.smembers(this.keys.servers)]);
      if (Number(version ?? 0) < this.version) return; // still behind: keep the mirror, retry on the next resync
    }
    const entries = (await Promise.all(names.map((n) => this.readEntry(n)))).filter((e): e is CatalogEntry => e !== null);
    // Keep the "confirmed by our upstream" mark for contents that did not change.
    for (const e of entries) e.stale = this.byName.get(e.name)?.hash === e.hash ? this.byName.get(e.name)!.stale : true;
    this.apply({ version: Number(version ?? 0), snapshot: true, servers: entries, removed: [] });
  }

  /** Writes the mirror back into a Redis that lost it; versions continue above the mirror's. */
  private async republish(): Promise<void> {
    const held = this.entries();
    this.log.warn({ servers: held.length, version: this.version }, 'Redis lost the catalog; re-publishing what this replica holds');
    await this.redis.eval(RAISE_SCRIPT, 1, this.keys.version, this.version);
    for (const entry of held) {
      const fields = [
        'tools', entry.toolsJson, 'resources', entry.resourcesJson, 'templates', entry.resourceTemplatesJson,
        'prompts', entry.promptsJson, 'description', entry.description, 'info', entry.serverInfoJson, 'perClient', entry.perClient ? '1' : '0', 'credHeader', entry.credentialHeader, 'tokenExchange', entry.tokenExchange,
      ];
      await this.redis.eval(PUT_SCRIPT, 3, this.keys.server(entry.name), this.keys.version, this.keys.servers,
        entry.hash, entry.name, this.keys.channel, ...fields);
    }
  }

  private async readEntry(name: string): Promise<CatalogEntry | null> {
    const h = await this.redis.hgetallBuffer(this.keys.server(name));
    if (!h.hash) return null;
    const toolsJson = h.tools ?? Buffer.from('[]');
    return {
      name,
      hash: h.hash.toString(),
      toolsJson,
      resourcesJson: h.resources ?? Buffer.from('[]'),
      resourceTemplatesJson: h.templates ?? Buffer.from('[]'),
      promptsJson: h.prompts ?? Buffer.from('[]'),
      description: h.description?.toString() ?? '',
      serverInfoJson: h.info ?? Buffer.from('{}'),
      stale: true,
      toolCount: (JSON.parse(toolsJson.toString()) as unknown[]).length,
      perClient: h.perClient?.toString() === '1',
      credentialHeader: h.credHeader?.toString() ?? '',
      tokenExchange: h.tokenExchange?.toString() ?? '',
    };
  }
}

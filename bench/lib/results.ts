// The shape of bench/results/<date>.json.

export interface Figures {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Completed calls per second (median over rounds). */
  rps: number;
  /** Calls measured, summed over rounds. */
  calls: number;
  errors: number;
  firstError?: string;
  /** CPU microseconds per call, by process (edge, registry, upstream, client); median over rounds. */
  cpuUsPerCall: Record<string, number>;
  /** CPU use in % of one core, by process, over the measured window. */
  cpuPct: Record<string, number>;
  /** [percentile, ms] over all rounds' samples, for the chart. */
  dist: [number, number][];
}

export interface CallRow extends Figures {
  workload: string;
  upstream: 'fast' | 'everything';
  client: 'sdk' | 'raw';
  target: 'direct' | 'gateway';
  /** streamable-http (POST /mcp), legacy-sse (GET /sse + POST message), rest (POST /mcp/tools/call). */
  transport: 'streamable-http' | 'legacy-sse' | 'rest';
  /** How the answer travelled to the client: json or sse. */
  response: 'json' | 'sse';
  concurrency: number;
  rounds: number;
}

export interface Comparison {
  workload: string;
  client: 'sdk' | 'raw';
  transport: CallRow['transport'];
  concurrency: number;
  gateway: Pick<Figures, 'p50' | 'p90' | 'p99' | 'max' | 'rps' | 'errors'>;
  direct: Pick<Figures, 'p50' | 'p90' | 'p99' | 'max' | 'rps' | 'errors'>;
  /** gateway p50 - direct p50, ms. */
  addedP50: number;
  p50Ratio: number;
  /** gateway rps / direct rps. */
  rpsRatio: number;
  /** Edge + registry CPU per gateway call, µs. */
  gatewayCpuUsPerCall?: number;
}

export interface ListRow extends Figures {
  path: string;
  client: 'sdk' | 'raw';
  target: 'direct' | 'gateway';
  concurrency: number;
  tools: number;
  bytes: number;
}

export interface SetupRow {
  client: 'sdk' | 'raw';
  target: 'direct' | 'gateway';
  path: string;
  iterations: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface MemPoint {
  sessions: number;
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  redisUsedMemoryBytes: number;
  redisKeys: number;
}

export interface SessionCost {
  transport: 'streamable-http' | 'legacy-sse';
  /** Before the measured sessions (after a warm-up batch that stays open). */
  baseline: MemPoint;
  points: MemPoint[];
  /** Per session, from the baseline to the largest count. */
  perSession: {
    edgeRssBytes: number;
    edgeHeapBytes: number;
    /** MEMORY USAGE of sampled session keys (median). */
    redisKeyBytes: number;
    /** Redis used_memory growth per session. */
    redisUsedBytes: number;
    /** The session record as stored (median of sampled keys, bytes of the value). */
    recordBytes: number;
  };
}

/** One gateway of the peers section: direct, mcpgw, or a peer gateway. */
export interface PeerInfo {
  /** 'direct', 'mcpgw', 'litellm', 'contextforge', 'agentgateway'. */
  id: string;
  label: string;
  /** 'ok', or why it was not measured ("not installed: …", "failed to start: …"). */
  status: string;
  version?: string;
  /** How it checks each request. */
  auth?: string;
  /** The tool name called through it. */
  tool?: string;
}

export interface PeerRow extends Figures {
  gateway: string;
  client: 'sdk' | 'raw';
  concurrency: number;
  rounds: number;
}

export interface PeerComparison {
  gateway: string;
  client: 'sdk' | 'raw';
  /** p50 at c=1 minus direct's, ms. */
  addedP50?: number;
  p50?: number;
  /** calls/s by concurrency (> 1). */
  rps: Record<string, number>;
  /** CPU µs per call of the gateway's own processes, at the highest concurrency. */
  cpuUsPerCall?: number;
  errors: number;
}

export interface PeersSection {
  workload: string;
  concurrency: number[];
  /** Everything the section measured, in order: direct, mcpgw, then the peers. */
  gateways: PeerInfo[];
  rows: PeerRow[];
  comparisons: PeerComparison[];
  notes: string[];
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  value: number;
  pass: boolean;
}

export interface BenchResults {
  schema: 1;
  date: string;
  mode: 'full' | 'quick' | 'smoke';
  durationSeconds: number;
  machine: {
    cpus: number;
    cpuModel: string;
    node: string;
    platform: string;
    release: string;
    totalMemoryMB: number;
    loadAverage: number[];
    openFileLimit: number;
    commit: string;
    dirty: boolean;
  };
  settings: {
    rounds: number;
    warmupMs: number;
    durationMs: number;
    concurrency: number[];
    sessionCounts: number[];
    notes: string[];
  };
  calls: CallRow[];
  comparisons: Comparison[];
  list: { servers: number; toolsPerServer: number; rows: ListRow[] };
  setup: SetupRow[];
  sessions: SessionCost[];
  targets: Target[];
  /** `--peers`: mcpgw beside peer gateways in front of the same upstream. */
  peers?: PeersSection;
}

// One upstream's status as operators see it (GET /servers and the admin API).
import { ServerStatus_State, type ServerStatus } from '@mcpgw/proto/registry';

const SERVER_STATE: Record<number, string> = {
  [ServerStatus_State.STATE_CONNECTING]: 'connecting', [ServerStatus_State.STATE_UP]: 'ready',
  [ServerStatus_State.STATE_DOWN]: 'down', [ServerStatus_State.STATE_DEGRADED]: 'degraded',
};

export function serverStatusView(s: ServerStatus) {
  return {
    name: s.name, transport: s.transport, state: SERVER_STATE[s.state] ?? 'unknown', tools: s.toolCount,
    lastError: s.lastError || undefined, lastLatencyMs: Math.round(s.lastLatencyMs * 10) / 10,
    lastSeen: s.lastSeenMs ? new Date(Number(s.lastSeenMs)).toISOString() : undefined,
    // The negotiated revision where the transport reports it; otherwise a 2025-era session.
    era: s.protocolVersion || '2025-era', session: s.sessionMode || 'shared', pinChanges: s.pinChanges,
  };
}

import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON line per event; LOG_LEVEL decides (per-call lines are `debug`). */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service },
    // Never log credentials even if a caller passes a whole config object.
    redact: { paths: ['*.auth_value', '*.headers', '*.authorization', '*.master_key', 'req.headers.authorization'], censor: '[redacted]' },
  });
}

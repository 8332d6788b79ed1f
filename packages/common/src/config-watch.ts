// Hot reload: re-reads the config file when it changes and applies only the
// difference. Polling stat() follows symlinks, so a Kubernetes ConfigMap
// update (an atomic swap of the `..data` symlink) is seen like any edit.
import { statSync, unwatchFile, watchFile } from 'node:fs';
import { ConfigError, loadConfigFile, type Config } from './config.js';
import type { Logger } from './logger.js';

const POLL_MS = Number(process.env.MCPGW_CONFIG_POLL_MS ?? 1_000);

/** `load`: how the file is read (the edge reads only its gateway part). */
export function watchConfig(path: string, log: Logger, onChange: (config: Config) => Promise<void>, load: (path: string) => Config = loadConfigFile): () => void {
  let last = fingerprint(path);
  let busy = Promise.resolve();
  const check = () => {
    const now = fingerprint(path);
    if (now === last) return;
    last = now;
    busy = busy.then(async () => {
      let config: Config;
      try {
        config = load(path);
      } catch (err) {
        // A broken edit must not take down what runs: keep the old config.
        log.error({ err: err instanceof ConfigError ? err.message : String(err) }, 'config reload rejected; keeping the running config');
        return;
      }
      for (const w of config.warnings) log.warn(w);
      await onChange(config);
    }).catch((err: unknown) => log.error({ err: (err as Error).message }, 'config reload failed'));
  };
  watchFile(path, { interval: POLL_MS, persistent: false }, check);
  return () => unwatchFile(path, check);
}

function fingerprint(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

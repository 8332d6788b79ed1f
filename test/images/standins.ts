// Local stand-ins for third-party images the compose file and the chart's
// tests need, used when no registry can give the real ones.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podman, podmanOk } from './podman.js';

export const REDIS_IMAGE = 'docker.io/library/redis:7.4-alpine';
const REDIS_STANDIN_REV = '2';
const STANDIN_DEBIAN = 'localhost/mcpgw-standin/debian:bookworm-slim';

/** redis:7.4-alpine: present, pulled, or built from Debian's redis-server on images:build's Debian stand-in. */
export async function ensureRedisImage(): Promise<string> {
  if ((await podman(['image', 'exists', REDIS_IMAGE])).code === 0) {
    const labels = (await podmanOk(['image', 'inspect', '--format', '{{index .Labels "org.mcpgw.standin"}} {{index .Labels "org.mcpgw.standin.rev"}}', REDIS_IMAGE])).trim();
    if (!labels.startsWith('true')) return 'present';
    if (labels === `true ${REDIS_STANDIN_REV}`) return 'stand-in present';
    await podmanOk(['rmi', REDIS_IMAGE]);
  }
  if (process.env.MCPGW_IMAGES_PULL !== '0' && (await podman(['pull', '-q', REDIS_IMAGE], 30_000)).code === 0) return 'pulled';
  if ((await podman(['image', 'exists', STANDIN_DEBIAN])).code !== 0) {
    throw new Error(`${REDIS_IMAGE} cannot be pulled and ${STANDIN_DEBIAN} is missing: run npm run images:build first`);
  }
  const ctx = mkdtempSync(join(tmpdir(), 'mcpgw-redis-standin-'));
  try {
    // Debian's redis-server (7.0) and redis-cli under the name compose uses;
    // `redis-server --save "" --appendonly no` and `redis-cli ping` work alike.
    // Like the official image's entrypoint: without a config file, redis-server
    // runs with --protected-mode no, else it refuses every other container.
    writeFileSync(join(ctx, 'entrypoint.sh'), `#!/bin/sh
if [ "\${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then shift; set -- redis-server --protected-mode no "$@"; fi
exec "$@"
`, { mode: 0o755 });
    writeFileSync(join(ctx, 'Containerfile'), `FROM ${STANDIN_DEBIAN}
LABEL org.mcpgw.standin=true org.mcpgw.standin.rev=${REDIS_STANDIN_REV}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER redis
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
`);
    await podmanOk(['build', '-q', '--format', 'docker', '--pull=never', '--network', 'host', '-t', REDIS_IMAGE, ctx], 300_000);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  return 'stand-in built (Debian redis-server)';
}

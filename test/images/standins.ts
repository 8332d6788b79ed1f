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

export const POSTGRES_IMAGE = 'docker.io/library/postgres:17-alpine';
const POSTGRES_STANDIN_REV = '1';

/**
 * postgres:17-alpine: present, pulled, or built from Debian's PostgreSQL on
 * images:build's Debian stand-in. Returns what was done and, for the
 * stand-in, how it differs from the official image (for a NOTE line).
 */
export async function ensurePostgresImage(): Promise<{ how: string; standin?: string }> {
  const standin = async () => (await podmanOk(['image', 'inspect', '--format', '{{index .Labels "org.mcpgw.standin.what"}}', POSTGRES_IMAGE])).trim();
  if ((await podman(['image', 'exists', POSTGRES_IMAGE])).code === 0) {
    const labels = (await podmanOk(['image', 'inspect', '--format', '{{index .Labels "org.mcpgw.standin"}} {{index .Labels "org.mcpgw.standin.rev"}}', POSTGRES_IMAGE])).trim();
    if (!labels.startsWith('true')) return { how: 'present' };
    if (labels === `true ${POSTGRES_STANDIN_REV}`) return { how: 'stand-in present', standin: await standin() };
    await podmanOk(['rmi', POSTGRES_IMAGE]);
  }
  if (process.env.MCPGW_IMAGES_PULL !== '0' && (await podman(['pull', '-q', POSTGRES_IMAGE], 30_000)).code === 0) return { how: 'pulled' };
  if ((await podman(['image', 'exists', STANDIN_DEBIAN])).code !== 0) {
    throw new Error(`${POSTGRES_IMAGE} cannot be pulled and ${STANDIN_DEBIAN} is missing: run npm run images:build first`);
  }
  const ctx = mkdtempSync(join(tmpdir(), 'mcpgw-postgres-standin-'));
  try {
    // What the official image's entrypoint does and compose relies on: on an
    // empty PGDATA, initdb with POSTGRES_USER / POSTGRES_PASSWORD, create
    // POSTGRES_DB, accept password (scram) logins over TCP from any address,
    // listen on all addresses; pg_isready on PATH for the healthcheck. The
    // data directory is owned by the postgres user in the image, so a new
    // named volume mounted there is too (podman and Docker copy it up).
    writeFileSync(join(ctx, 'entrypoint.sh'), `#!/bin/sh
set -eu
PGDATA="\${PGDATA:-/var/lib/postgresql/data}"
if [ "\${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "\${POSTGRES_PASSWORD:?the postgres stand-in, like the official image, needs POSTGRES_PASSWORD}"
  user="\${POSTGRES_USER:-postgres}"; db="\${POSTGRES_DB:-$user}"
  pw="$(mktemp)"; printf '%s\\n' "$POSTGRES_PASSWORD" > "$pw"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pw" -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then echo "CREATE DATABASE \\"$db\\" OWNER \\"$user\\"" | postgres --single -D "$PGDATA" postgres >/dev/null; fi
  echo "postgres stand-in: initialized $PGDATA (user $user, database $db)"
fi
if [ "$1" = postgres ]; then shift; set -- postgres -D "$PGDATA" -c listen_addresses='*' "$@"; fi
exec "$@"
`, { mode: 0o755 });
    writeFileSync(join(ctx, 'Containerfile'), `FROM ${STANDIN_DEBIAN}
LABEL org.mcpgw.standin=true org.mcpgw.standin.rev=${POSTGRES_STANDIN_REV} org.mcpgw.standin.what="Debian bookworm's PostgreSQL 15 (not 17 on Alpine)"
# No cluster from the package's postinst: the entrypoint makes one in PGDATA, as the official image does.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-common \\
 && sed -ri 's/#?(create_main_cluster) .*$/\\1 = false/' /etc/postgresql-common/createcluster.conf \\
 && apt-get install -y --no-install-recommends postgresql-15 \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \\
 && chown postgres:postgres /var/lib/postgresql/data /var/run/postgresql && chmod 0700 /var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
`);
    await podmanOk(['build', '-q', '--format', 'docker', '--pull=never', '--network', 'host', '-t', POSTGRES_IMAGE, ctx], 600_000);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  return { how: 'stand-in built', standin: await standin() };
}

# PgBouncer from Debian (1.18) on the local base image (deploy/local-images.sh), configured from
# the environment like edoburu/pgbouncer (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME,
# POOL_MODE, AUTH_TYPE, LISTEN_PORT, MAX_CLIENT_CONN, DEFAULT_POOL_SIZE); see pgbouncer-entrypoint.sh.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y pgbouncer \
    && rm -rf /var/lib/apt/lists/* \
    && (id -u pgbouncer >/dev/null 2>&1 || useradd --system --home-dir /var/lib/pgbouncer --shell /usr/sbin/nologin pgbouncer) \
    && mkdir -p /etc/pgbouncer /var/run/pgbouncer \
    && chown -R pgbouncer /etc/pgbouncer /var/run/pgbouncer
COPY pgbouncer-entrypoint.sh /usr/local/bin/pgbouncer-entrypoint.sh
USER pgbouncer
EXPOSE 6432
HEALTHCHECK --interval=5s --timeout=3s --retries=10 CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/${LISTEN_PORT:-6432}'
ENTRYPOINT ["pgbouncer-entrypoint.sh"]
CMD ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]

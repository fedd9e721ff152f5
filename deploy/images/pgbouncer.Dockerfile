# PgBouncer on the local base image (deploy/local-images.sh), configured from the environment like
# edoburu/pgbouncer (DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME, POOL_MODE, AUTH_TYPE,
# LISTEN_PORT, MAX_CLIENT_CONN, DEFAULT_POOL_SIZE, MAX_PREPARED_STATEMENTS); see
# pgbouncer-entrypoint.sh.
#
# From Debian 13 (trixie), not the base's Debian 12: bookworm's PgBouncer 1.18 cannot carry a
# prepared statement from one transaction to the next, and sqlx prepares every statement in a
# round trip of its own before it binds it, so in transaction mode the bind may reach another
# server connection. PgBouncer 1.21+ tracks protocol-level prepared statements
# (`max_prepared_statements`) and prepares them again wherever a bind lands. Only pgbouncer and
# the libraries it needs come from trixie (apt pinning); this image runs nothing else.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN echo 'deb http://deb.debian.org/debian trixie main' >/etc/apt/sources.list.d/trixie.list \
    && printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >/etc/apt/preferences.d/trixie \
    && apt-get update \
    && apt-get install -y -t trixie pgbouncer \
    && rm -rf /var/lib/apt/lists/* \
    && pgbouncer --version \
    && (id -u pgbouncer >/dev/null 2>&1 || useradd --system --home-dir /var/lib/pgbouncer --shell /usr/sbin/nologin pgbouncer) \
    && mkdir -p /etc/pgbouncer /var/run/pgbouncer \
    && chown -R pgbouncer /etc/pgbouncer /var/run/pgbouncer
COPY pgbouncer-entrypoint.sh /usr/local/bin/pgbouncer-entrypoint.sh
USER pgbouncer
EXPOSE 6432
HEALTHCHECK --interval=5s --timeout=3s --retries=10 CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/${LISTEN_PORT:-6432}'
ENTRYPOINT ["pgbouncer-entrypoint.sh"]
CMD ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]

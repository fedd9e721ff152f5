# PostgreSQL 15 from Debian on the local base image (deploy/local-images.sh), a stand-in for the
# official postgres:15 image where no registry answers: the same PGDATA, port, CMD and
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB / POSTGRES_HOST_AUTH_METHOD variables, plus
# pg_stat_statements preloaded as scripts/pg-up does (for `emrlab db report`).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# No cluster from the package's postinst: the entrypoint makes one in PGDATA on first start.
RUN mkdir -p /etc/postgresql-common \
    && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && apt-get install -y postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && test -f /usr/lib/postgresql/15/lib/pg_stat_statements.so \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER postgres
EXPOSE 5432
# SIGINT is PostgreSQL's fast shutdown; the default SIGTERM waits for every client to leave.
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]

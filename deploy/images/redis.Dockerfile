# Redis 7 from Debian on the local base image (deploy/local-images.sh), a stand-in for the
# official redis:7 image: port 6379, data in /data, `redis-server` and `redis-cli` on the PATH.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
# No config file: bind every interface; protected mode off as in the official image (the
# compose network is the boundary).
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no"]

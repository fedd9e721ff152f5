# Prometheus from Debian (2.42) on the local base image (deploy/local-images.sh), a stand-in for
# prom/prometheus: the same entrypoint, config path, data path and port. wget is there for the
# health check, which prom/prometheus (busybox) also runs with wget.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y prometheus wget \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus \
    && chown prometheus:prometheus /prometheus
WORKDIR /prometheus
USER prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]

# emrlab: one image for every component; the command picks it (`serve gateway`, `serve task`,
# `serve emr`, `serve sync`, `serve handover`, `serve epic`, `serve cerner`, `migrate`, `seed`,
# `load …`). docker-compose.yml runs the whole platform from it.
#
#   docker build -t emrlab .                                        # builds with cargo
#   docker build --target prebuilt -t emrlab .                      # copies target/release/emrlab
#   docker build --target prebuilt --build-arg EMRLAB_BINARY=path/in/context -t emrlab .
#
# The prebuilt path is for CI and machines without a registry: it needs only RUNTIME_IMAGE
# (deploy/local-images.sh passes a local Debian base). The stages are ordered so that the
# legacy builder, which builds every stage up to the target, never reaches the cargo stage
# when --target prebuilt is given.

ARG RUST_IMAGE=rust:1.94-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- runtime: what every variant runs on -------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime-base
# A fixed uid so that a bind-mounted data or results directory can be chowned to it.
RUN groupadd --system --gid 10001 emrlab \
    && useradd --system --uid 10001 --gid emrlab --home-dir /var/lib/emrlab --create-home --shell /usr/sbin/nologin emrlab
COPY deploy/images/emrlab-healthcheck /usr/local/bin/emrlab-healthcheck
WORKDIR /var/lib/emrlab
# `up` in a container listens on every interface; `serve` components get their addresses from
# the environment (docker-compose.yml). RUST_LOG is the log filter (default info). NO_COLOR: the
# log lines carry no ANSI colour codes, which `docker logs` and log shippers would keep verbatim
# (tracing-subscriber colours by default, terminal or not).
ENV EMRLAB_GATEWAY__ADDR=0.0.0.0:8080 \
    NO_COLOR=1
USER emrlab
ENTRYPOINT ["/usr/local/bin/emrlab"]
CMD ["--help"]

# ---- prebuilt: a binary built outside (CI, deploy/local-images.sh) -------------------------
FROM runtime-base AS prebuilt
ARG EMRLAB_BINARY=target/release/emrlab
COPY ${EMRLAB_BINARY} /usr/local/bin/emrlab
RUN ["/usr/local/bin/emrlab", "--version"]

# ---- build: cargo on the official Rust image ----------------------------------------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# --locked: the committed Cargo.lock, as CI builds it.
RUN cargo build --release --locked --bin emrlab \
    && cp target/release/emrlab /emrlab \
    && rm -rf target

# ---- default: the cargo-built binary on the runtime --------------------------------------
FROM runtime-base AS runtime
COPY --from=build /emrlab /usr/local/bin/emrlab
RUN ["/usr/local/bin/emrlab", "--version"]

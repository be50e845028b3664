# syntax=docker/dockerfile:1
#
# zenko-signing-proxy container image.
#
# By default the proxy listens on 127.0.0.1 only. That is the intended use as a
# sidecar: containers in the same Kubernetes pod share one network namespace,
# so the application reaches the proxy on its loopback and nothing outside the
# pod can ask it to sign. To serve other hosts instead, override the listener
# explicitly, e.g.
#     docker run IMAGE serve --config /etc/zenko-signing-proxy/config.toml \
#         --listen 0.0.0.0:7070 --allow-remote
# (and put the proxy behind a network policy: whoever reaches it acts with its
# credentials).
#
# The config file is not baked in: mount it (e.g. from a Secret) at
# /etc/zenko-signing-proxy/config.toml, or pass credentials through
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.

############################ build ############################
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The whole tree (minus .dockerignore) so that every target in Cargo.toml exists.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin zenko-signing-proxy \
    && install -D -m 0755 target/release/zenko-signing-proxy /out/zenko-signing-proxy

############################ runtime ##########################
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 nonroot \
    && useradd --system --uid 65532 --gid 65532 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin nonroot \
    && install -d -m 0755 /etc/zenko-signing-proxy
COPY --from=build /out/zenko-signing-proxy /usr/local/bin/zenko-signing-proxy
# Large request bodies may be spooled to the temporary directory; with a
# read-only root filesystem, mount a writable volume (emptyDir) at /tmp.
ENV TMPDIR=/tmp
USER 65532:65532
ENTRYPOINT ["zenko-signing-proxy"]
CMD ["serve", "--config", "/etc/zenko-signing-proxy/config.toml"]

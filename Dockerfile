# syntax=docker/dockerfile:1
# One image for every Agora role: the role is the command (`agora service cart`, `agora edge`, ...).
# compose.yaml runs it once per role.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
# /docs runs Scalar's script built into the binary (no CDN): npm fetches the pinned package the
# way scripts/demo and scripts/test do (scripts/docs-assets.sh), and the build fails without it
# rather than shipping an image whose /docs only explains how to build the reference in.
RUN apt-get update \
    && apt-get install -y --no-install-recommends npm \
    && rm -rf /var/lib/apt/lists/*
# The cache mounts keep the crate registry and compiled dependencies between builds; the binary is
# copied out of the cached target directory in the same step. AGORA_SCALAR_JS, exported by
# fetch_docs_assets, must reach cargo in the same shell.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    . scripts/docs-assets.sh && fetch_docs_assets \
    && test -n "${AGORA_SCALAR_JS:-}" \
    && cargo build --release --locked --bin agora --bin agora-audit-verify \
    && cp target/release/agora target/release/agora-audit-verify /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin agora \
    && mkdir -p /var/lib/agora/audit/key /var/lib/agora/audit/checkpoints \
    && chown -R agora /var/lib/agora
COPY --from=builder /usr/local/bin/agora /usr/local/bin/agora-audit-verify /usr/local/bin/
USER agora
# Inside a container the edge must listen on every interface; logs are JSON lines.
ENV AGORA_HTTP_ADDR=0.0.0.0:8080 \
    AGORA_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["agora"]
CMD ["--help"]

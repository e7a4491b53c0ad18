# The nines binary in a small image: `docker build -t nines .`
# (the server, the operator and the agent are one binary: `nines serve`,
# `nines operator run`, `nines agent`). Runs as an unprivileged user with a
# read-only root filesystem; the data directory is /data.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates crates
RUN cargo build --release --locked -p nines \
 && install -D -m 0755 target/release/nines /out/nines \
 && strip /out/nines

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o 65532 -g 65532 /data
COPY --from=build /out/nines /usr/local/bin/nines
USER 65532:65532
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nines"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]

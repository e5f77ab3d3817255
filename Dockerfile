# wabridge: multi-stage build of the daemon.
#
#   docker build -t wabridge .
#   docker run --rm -v "$PWD/data:/data" wabridge        # first run: writes
#                                                         # /data/config.yaml
#   (edit data/config.yaml: homeserver, domain, permissions)
#   docker run --rm -v "$PWD/data:/data" wabridge        # writes tokens and
#                                                         # /data/registration.yaml
#   (give data/registration.yaml to the homeserver)
#   docker run -d -v "$PWD/data:/data" -p 29318:29318 wabridge
#
# Config, registration and the SQLite database live under /data; the bridge
# runs as an unprivileged user that owns only /data.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p wabridge \
 && strip target/release/wabridge

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 1337 --user-group --home-dir /data \
      --shell /usr/sbin/nologin wabridge \
 && mkdir -p /data \
 && chown wabridge:wabridge /data
COPY --from=build /src/target/release/wabridge /usr/local/bin/wabridge
COPY config.example.yaml /opt/wabridge/config.example.yaml
COPY docker/run.sh /usr/local/bin/wabridge-run
USER wabridge
WORKDIR /data
VOLUME /data
# The appservice port of config.example.yaml.
EXPOSE 29318
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/wabridge-run"]

# sebridge container image: the lean build (no simulator, no demo), run as a non-root user.
#
#   docker build -t sebridge .
#   docker run -d --name sebridge -p 8686:8686 -v sebridge-state:/var/lib/sebridge \
#       -e ACME_CLIENT_ID=... -e ACME_API_KEY=... sebridge
#
# Mount your own config over /etc/sebridge/sebridge.toml (read-only is fine): everything
# sebridge writes (journal, master key, file-sink output) goes to /var/lib/sebridge.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The production build: the simulator and `sebridge demo` are left out.
RUN cargo build --release --locked --no-default-features --bin sebridge \
    && strip target/release/sebridge

# glibc and CA certificates (the API clients verify TLS against the system roots), no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/sebridge /usr/bin/sebridge
COPY packaging/docker/sebridge.toml /etc/sebridge/sebridge.toml
# distroless' "nonroot" user (65532): never root, and owner of the state volume.
COPY --from=build --chown=65532:65532 /src/packaging/docker/state/ /var/lib/sebridge/
USER 65532:65532
WORKDIR /var/lib/sebridge
VOLUME ["/var/lib/sebridge"]
ENV SEBRIDGE_LOG_FORMAT=json
EXPOSE 8686
# /healthz and /readyz are served on 8686 for the orchestrator's probes.
ENTRYPOINT ["/usr/bin/sebridge"]
CMD ["run", "-c", "/etc/sebridge/sebridge.toml"]

# seftbot in a container: Debian slim, chromium-headless-shell and a static
# seftbot, run as the non-root user seftbot (uid 10001), state on the volume
# /var/lib/seftbot. README "Container" shows how to run it:
#   docker build -t seftbot .
#   docker run --rm --shm-size 1g -v seftbot-state:/var/lib/seftbot \
#     -v /etc/seftbot:/etc/seftbot:ro seftbot fetch
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/isaric/seftbot/internal/cli.version=${VERSION} -X github.com/isaric/seftbot/internal/cli.commit=${COMMIT}" \
      -o /out/seftbot ./cmd/seftbot

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium-headless-shell ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/seftbot --shell /usr/sbin/nologin seftbot \
 && install -d -m 0700 -o seftbot -g seftbot /var/lib/seftbot \
 && install -d -m 0750 -o root -g seftbot /etc/seftbot
COPY --from=build /out/seftbot /usr/bin/seftbot
USER seftbot
# The env file (0600, owned by uid 10001) and its key files are mounted at
# /etc/seftbot; state outlives the container on the volume.
ENV SEFTBOT_STATE_DIR=/var/lib/seftbot
VOLUME /var/lib/seftbot
ENTRYPOINT ["/usr/bin/seftbot", "--env-file", "/etc/seftbot/seftbot.env"]
CMD ["fetch"]

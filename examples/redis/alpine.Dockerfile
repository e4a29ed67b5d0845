# syntax=docker/dockerfile:1
# The mission's example, plus features slipway's parser handles.
ARG ALPINE_VERSION=3.20
FROM alpine:${ALPINE_VERSION} AS base
RUN --mount=type=cache,target=/var/cache/apk \
    apk add --update redis
COPY --chmod=644 <<EOF /etc/redis/local.conf
bind 127.0.0.1
protected-mode yes
EOF
EXPOSE 6379/tcp
HEALTHCHECK --interval=30s --timeout=3s CMD ["redis-cli", "ping"]
CMD ["redis-server", "/etc/redis/local.conf"]

# syntax=docker/dockerfile:1
# check=skip=StageNameCasing,FromAsCasing;error=true
FROM alpine:3.20 AS build
ARG VERSION=1.0
RUN --mount=type=cache,target=/var/cache/apk apk add --no-cache curl
COPY --chmod=755 <<EOF /usr/local/bin/hello
#!/bin/sh
echo "hello ${VERSION}"
EOF
RUN <<-'SCRIPT' bash
	set -e
	echo $HOME
	SCRIPT
# check=skip=all
ENV PATH="/opt/bin:${PATH}" \
    MODE=prod
CMD ["/usr/local/bin/hello", "--verbose"]

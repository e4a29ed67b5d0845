# syntax=docker/dockerfile:1
FROM alpine:3.20 as build
ENV HOME=/h
RUN apk add --no-cache curl
COPY --form=build /src /app

FROM build AS test
RUN echo "testing in $HOME"

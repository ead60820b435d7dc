# target: app
# Stages the target does not need are not lowered at all.
FROM busybox AS unused
RUN echo never lowered

FROM busybox AS builder
RUN echo build > /artifact

FROM busybox AS app
COPY --from=builder /artifact /app/artifact
COPY --from=1 /artifact /app/by-index
COPY --from=docker.io/library/alpine:3.20 /etc/alpine-release /app/
CMD ["/app/artifact"]

FROM app AS after-target
RUN echo also never lowered

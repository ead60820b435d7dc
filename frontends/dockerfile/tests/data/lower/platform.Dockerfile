# platform: linux/arm64
# FROM --platform, the automatic platform ARGs.
ARG TARGETPLATFORM
FROM --platform=$BUILDPLATFORM busybox AS build
ARG TARGETOS TARGETARCH BUILDARCH
RUN echo building on $BUILDARCH for $TARGETOS/$TARGETARCH

FROM busybox
COPY --from=build /bin/busybox /bin/cross

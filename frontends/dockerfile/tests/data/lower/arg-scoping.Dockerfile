# args: VERSION=2.0 STAGE_ONLY=from-cli
# Global ARGs are usable in FROM but visible in a stage only when redeclared.
ARG VERSION=1.0
ARG BASE=busybox
FROM ${BASE}:${VERSION} AS first
RUN echo "no version here: $VERSION"
ARG VERSION
RUN echo "redeclared: $VERSION"
ARG STAGE_ONLY=default
ARG TARGETARCH
ENV VERSION=env-wins
RUN echo "$VERSION $STAGE_ONLY $TARGETARCH"

# A child stage keeps its parent's ARGs and their values, as BuildKit's dispatchState.init.
FROM first
RUN echo "args carry over to child stages: $STAGE_ONLY"

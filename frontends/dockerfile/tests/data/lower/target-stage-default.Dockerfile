# Without --target, TARGETSTAGE is the last stage's name, `default` when it has none, and FROM
# and global ARGs read it without an ARG: BuildKit's testTargetStageNameArg without a target
# (dockerfile_args_test.go; Dockerfile2LLB in dockerfile2llb/convert.go, defaultArgs).
ARG FROM_GLOBAL=global-$TARGETSTAGE
FROM busybox:${TARGETSTAGE} AS base
ARG FROM_GLOBAL
ARG TARGETSTAGE
RUN echo "$TARGETSTAGE $FROM_GLOBAL" > /out

FROM base

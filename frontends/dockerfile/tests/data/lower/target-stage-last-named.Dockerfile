# Without --target, TARGETSTAGE is the last stage's name: the third build of BuildKit's
# testTargetStageNameArg (dockerfile_args_test.go), where a named stage is appended.
FROM busybox AS base
ARG TARGETSTAGE
RUN echo -n "value:$TARGETSTAGE" > /second

FROM scratch AS final
COPY --from=base /second /

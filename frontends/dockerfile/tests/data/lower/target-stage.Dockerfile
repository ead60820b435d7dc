# target: foo
# TARGETSTAGE is the name of the stage built, seen in a stage only after ARG TARGETSTAGE:
# BuildKit's testTargetStageNameArg with --target foo (dockerfile_args_test.go; defaultArgs in
# dockerfile2llb/platform.go).
FROM busybox AS base
WORKDIR /out
RUN echo -n "value:$TARGETSTAGE" > /out/first
ARG TARGETSTAGE
RUN echo -n "value:$TARGETSTAGE" > /out/second

FROM scratch AS foo
COPY --from=base /out/ /

FROM scratch
COPY --from=base /out/ /

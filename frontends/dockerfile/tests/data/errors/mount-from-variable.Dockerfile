# A variable in RUN --mount's from is refused while parsing, as BuildKit's testMountFromError
# (dockerfile_mount_test.go; parseMount in instructions/commands_runmount.go).
FROM busybox AS test
RUN touch /tmp/test

FROM busybox
ENV ttt=test
RUN --mount=from=$ttt,type=cache,target=/tmp ls

# A variable in COPY --from is refused for every stage, built or not, as BuildKit's
# testDockerfileCopyFromArgs (dockerfile_copy_test.go; toCommand in dockerfile2llb/convert.go).
FROM scratch AS unused
ARG FOO=base
COPY --from=$FOO . .

FROM scratch
